"""Guided mode: when a command lacks values, the bot asks for them one at a time.

A flow remembers, per (chat, user), the command, the values given so far and the state it is
in (which `Ask` it is waiting for). Values offered as buttons are kept here so the buttons carry
only an index. Flows are in memory and expire; a new command replaces the pending flow. A flow
never holds a secret: the secret is the last answer and is used (and deleted) at once.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from bot.telegram.commands import Ask


@dataclass
class Flow:
    token: str
    command: str
    chat_id: int
    user_id: int
    values: dict[str, str]
    asking: Ask
    expires_at: float
    choices: tuple[str, ...] = field(default=())


class FlowStore:
    def __init__(self, ttl_s: float) -> None:
        self._ttl_s = ttl_s
        self._by_key: dict[tuple[int, int], Flow] = {}

    def start(
        self,
        *,
        command: str,
        chat_id: int,
        user_id: int,
        values: dict[str, str],
        asking: Ask,
        choices: tuple[str, ...] = (),
    ) -> Flow:
        flow = Flow(
            token=secrets.token_urlsafe(6),
            command=command,
            chat_id=chat_id,
            user_id=user_id,
            values=dict(values),
            asking=asking,
            expires_at=time.monotonic() + self._ttl_s,
            choices=choices,
        )
        self._by_key[(chat_id, user_id)] = flow
        return flow

    def current(self, chat_id: int, user_id: int) -> Flow | None:
        flow = self._by_key.get((chat_id, user_id))
        if flow is None or flow.expires_at < time.monotonic():
            self._by_key.pop((chat_id, user_id), None)
            return None
        return flow

    def by_token(self, token: str, chat_id: int, user_id: int) -> Flow | None:
        flow = self.current(chat_id, user_id)
        return flow if flow is not None and flow.token == token else None

    def finish(self, flow: Flow) -> bool:
        """Ends the flow; False when it had already ended (a double tap)."""
        key = (flow.chat_id, flow.user_id)
        if self._by_key.get(key) is flow:
            del self._by_key[key]
            return True
        return False

    def prune(self) -> None:
        now = time.monotonic()
        for key in [k for k, flow in self._by_key.items() if flow.expires_at < now]:
            del self._by_key[key]
