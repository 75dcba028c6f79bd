"""What one emulated bot knows: its profile, chats, messages, update queue and settings.

Plain data plus the bookkeeping Telegram does for a bot (message ids per chat, update ids,
confirmation by offset, the single long poll). It never validates client input and never
speaks HTTP: the method handlers do the former, the server the latter.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

# Updates a bot receives when it never chose (or reset) `allowed_updates`.
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
UPDATE_RETENTION_SECONDS = 24 * 3600


@dataclass
class User:
    id: int
    first_name: str
    is_bot: bool = False
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None

    def to_json(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "id": self.id,
            "is_bot": self.is_bot,
            "first_name": self.first_name,
        }
        if self.last_name:
            answer["last_name"] = self.last_name
        if self.username:
            answer["username"] = self.username
        if self.language_code:
            answer["language_code"] = self.language_code
        return answer


@dataclass
class Chat:
    id: int
    type: str
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None

    @property
    def is_private(self) -> bool:
        return self.type == "private"

    def to_json(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"id": self.id, "type": self.type}
        for name in ("title", "username", "first_name", "last_name"):
            value = getattr(self, name)
            if value:
                answer[name] = value
        return answer

    def full_info(self) -> dict[str, Any]:
        answer = self.to_json()
        answer["accent_color_id"] = abs(self.id) % 7
        answer["max_reaction_count"] = 11
        answer["accepted_gift_types"] = {
            "unlimited_gifts": True,
            "limited_gifts": True,
            "unique_gifts": True,
            "premium_subscription": True,
            "gifts_from_channels": True,
        }
        if self.type in ("group", "supergroup"):
            answer["permissions"] = {
                "can_send_messages": True,
                "can_send_audios": True,
                "can_send_documents": True,
                "can_send_photos": True,
                "can_send_videos": True,
                "can_send_video_notes": True,
                "can_send_voice_notes": True,
                "can_send_polls": True,
                "can_send_other_messages": True,
                "can_add_web_page_previews": True,
                "can_change_info": True,
                "can_invite_users": True,
                "can_pin_messages": True,
                "can_manage_topics": False,
            }
        return answer


@dataclass
class StoredMessage:
    """A message in a chat's history: a text, or a service message (`service` set, no text)."""

    message_id: int
    chat: Chat
    sender: User
    date: int
    text: str
    entities: list[dict[str, Any]]
    reply_markup: dict[str, Any] | None = None
    # A reply keyboard, its removal or a force-reply sent with the message (not part of it).
    keyboard: dict[str, Any] | None = None
    reply_to: StoredMessage | None = None
    forward_origin: dict[str, Any] | None = None
    protected: bool = False
    link_preview_options: dict[str, Any] | None = None
    edit_date: int | None = None
    deleted: bool = False
    deleted_date: int | None = None
    # The chat a message was sent on behalf of (an anonymous group admin's is the group).
    sender_chat: Chat | None = None
    # A service message's fields (e.g. `migrate_to_chat_id`); such a message has no text.
    service: dict[str, Any] | None = None

    def to_json(self, *, with_reply: bool = True) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "message_id": self.message_id,
            "from": self.sender.to_json(),
        }
        if self.sender_chat is not None:
            answer["sender_chat"] = self.sender_chat.to_json()
        answer["chat"] = self.chat.to_json()
        answer["date"] = self.date
        if self.service is not None:
            answer.update(self.service)
            return answer
        if self.forward_origin is not None:
            answer["forward_origin"] = self.forward_origin
        if with_reply and self.reply_to is not None:
            answer["reply_to_message"] = self.reply_to.to_json(with_reply=False)
        if self.edit_date is not None:
            answer["edit_date"] = self.edit_date
        if self.protected:
            answer["has_protected_content"] = True
        answer["text"] = self.text
        if self.entities:
            answer["entities"] = [dict(entity) for entity in self.entities]
        if self.link_preview_options is not None:
            answer["link_preview_options"] = self.link_preview_options
        if self.reply_markup is not None:
            answer["reply_markup"] = self.reply_markup
        return answer

    def history_json(self) -> dict[str, Any]:
        answer = self.to_json()
        answer["edited"] = self.edit_date is not None
        answer["deleted"] = self.deleted
        if self.deleted_date is not None:
            answer["deleted_date"] = self.deleted_date
        if self.keyboard is not None:
            answer["reply_keyboard"] = self.keyboard
        return answer


@dataclass
class ChatState:
    chat: Chat
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    next_message_id: int = 1
    actions: list[dict[str, Any]] = field(default_factory=list)
    # Set on a group upgraded to a supergroup: the supergroup's id. The group's history stays,
    # but nobody writes there any more.
    migrated_to: int | None = None
    # Set on that supergroup: the group it was upgraded from.
    migrated_from: int | None = None

    def add(
        self, sender: User, date: int, text: str, entities: list[dict[str, Any]]
    ) -> StoredMessage:
        message = StoredMessage(self.next_message_id, self.chat, sender, date, text, entities)
        self.messages[message.message_id] = message
        self.next_message_id += 1
        return message

    def add_service(
        self,
        sender: User,
        date: int,
        service: dict[str, Any],
        *,
        sender_chat: Chat | None = None,
    ) -> StoredMessage:
        message = self.add(sender, date, "", [])
        message.service = dict(service)
        message.sender_chat = sender_chat
        return message

    def live(self, message_id: int) -> StoredMessage | None:
        message = self.messages.get(message_id)
        return None if message is None or message.deleted else message


@dataclass
class PendingUpdate:
    update_id: int
    kind: str
    payload: dict[str, Any]
    created_at: float

    def to_json(self) -> dict[str, Any]:
        return {"update_id": self.update_id, self.kind: self.payload}


@dataclass
class Webhook:
    url: str
    max_connections: int = 40
    secret_token: str | None = None
    ip_address: str | None = None
    has_custom_certificate: bool = False
    # The last failed delivery (Telegram's clock, its words), as getWebhookInfo reports it.
    last_error_date: int | None = None
    last_error_message: str | None = None


class LongPoll:
    """A getUpdates call waiting for updates; settled with None or a conflict reason."""

    def __init__(self) -> None:
        self.settled: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()

    def settle(self, reason: str | None) -> None:
        if not self.settled.done():
            self.settled.set_result(reason)


@dataclass
class BotState:
    id: int
    secret: str
    first_name: str
    username: str
    names: dict[str, str] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    short_descriptions: dict[str, str] = field(default_factory=dict)
    commands: dict[tuple[tuple[Any, ...], str], list[dict[str, Any]]] = field(default_factory=dict)
    chats: dict[int, ChatState] = field(default_factory=dict)
    users: dict[int, User] = field(default_factory=dict)
    updates: list[PendingUpdate] = field(default_factory=list)
    next_update_id: int = 1
    allowed_updates: frozenset[str] | None = None
    webhook: Webhook | None = None
    poll: LongPoll | None = None
    has_called: bool = False
    # Telegram's default: in groups the bot sees commands, mentions of it and replies to it.
    privacy_mode: bool = True
    # Set when an update is queued (or the webhook changes): wakes the webhook delivery.
    updates_arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def user(self) -> User:
        return User(self.id, self.first_name, is_bot=True, username=self.username)

    def accepts(self, kind: str) -> bool:
        if self.allowed_updates is None:
            return kind not in DEFAULT_EXCLUDED_UPDATES
        return kind in self.allowed_updates

    def enqueue(self, kind: str, payload: dict[str, Any], now: float) -> int | None:
        """Queue an update unless the bot's `allowed_updates` excludes it (then it never exists)."""
        if not self.accepts(kind):
            return None
        update = PendingUpdate(self.next_update_id, kind, payload, now)
        self.next_update_id += 1
        self.updates.append(update)
        self.updates_arrived.set()
        if self.poll is not None:
            self.poll.settle(None)
        return update.update_id

    def forget_expired(self, now: float) -> None:
        self.updates = [u for u in self.updates if now - u.created_at < UPDATE_RETENTION_SECONDS]

    def confirm(self, offset: int) -> None:
        """Apply getUpdates' `offset`: confirm earlier updates, or keep only the last -offset."""
        if offset > 0:
            self.updates = [u for u in self.updates if u.update_id >= offset]
        elif offset < 0:
            self.updates = self.updates[offset:]

    def pending(self, limit: int) -> list[PendingUpdate]:
        return self.updates[:limit]

    def drop_pending(self) -> None:
        self.updates.clear()

    def kick_poll(self, reason: str) -> None:
        if self.poll is not None:
            self.poll.settle(reason)
            self.poll = None

    def chat_by_username(self, username: str) -> ChatState | None:
        wanted = username.lstrip("@").lower()
        for state in self.chats.values():
            if not state.chat.is_private and (state.chat.username or "").lower() == wanted:
                return state
        return None
