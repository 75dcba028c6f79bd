"""Pending confirmations of destructive commands (`/deprovision`, `/recreate`, `/tenant remove`…).

The buttons carry a short random token; taking it removes it, so a double tap or two admins
pressing at once run the command once. Only the admin who asked may confirm. In memory and
short-lived: after a restart of the bot the admin simply asks again. This module never runs the
command it holds; the admin handlers do, once the token is taken.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from enum import StrEnum


class TakeRefusal(StrEnum):
    GONE = "gone"
    NOT_YOURS = "not_yours"


@dataclass(frozen=True)
class PendingConfirmation:
    token: str
    command: str
    # What the command acts on: an agent id, or a tenant id for `/tenant remove`.
    target_id: str
    target_label: str
    admin_id: int
    chat_id: int
    expires_at: float


class ConfirmationStore:
    def __init__(self, ttl_s: float) -> None:
        self._ttl_s = ttl_s
        self._by_token: dict[str, PendingConfirmation] = {}

    def create(
        self, *, command: str, target_id: str, target_label: str, admin_id: int, chat_id: int
    ) -> PendingConfirmation:
        pending = PendingConfirmation(
            token=secrets.token_urlsafe(6),
            command=command,
            target_id=target_id,
            target_label=target_label,
            admin_id=admin_id,
            chat_id=chat_id,
            expires_at=time.monotonic() + self._ttl_s,
        )
        self._by_token[pending.token] = pending
        return pending

    def take(self, token: str, admin_id: int) -> PendingConfirmation | TakeRefusal:
        pending = self._by_token.get(token)
        if pending is None or pending.expires_at < time.monotonic():
            self._by_token.pop(token, None)
            return TakeRefusal.GONE
        if pending.admin_id != admin_id:
            return TakeRefusal.NOT_YOURS
        del self._by_token[token]
        return pending

    def prune(self) -> None:
        now = time.monotonic()
        for token in [t for t, p in self._by_token.items() if p.expires_at < now]:
            del self._by_token[token]
