"""One incoming request as the handlers see it: who, in which chat, in which role.

Built from a PTB `Update` once authorization has run, so handlers never re-derive identity.
It carries ids and the role only; never the message text (which may hold a secret).
"""

from __future__ import annotations

from dataclasses import dataclass

from telegram import Update

from bot.telegram.auth import Role, actor
from storage.models import Actor


@dataclass(frozen=True)
class Call:
    chat_id: int
    chat_type: str
    user_id: int
    role: Role
    message_id: int | None = None

    @property
    def private(self) -> bool:
        return self.chat_type == "private"

    @property
    def actor(self) -> Actor:
        return actor(self.role, self.user_id)

    @classmethod
    def of(cls, update: Update, role: Role) -> Call | None:
        chat = update.effective_chat
        user = update.effective_user
        if chat is None or user is None:
            return None
        message = update.effective_message
        return cls(
            chat_id=chat.id,
            chat_type=chat.type,
            user_id=user.id,
            role=role,
            message_id=message.message_id if message is not None else None,
        )
