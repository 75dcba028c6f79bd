"""Who is writing: an admin (by Telegram user id), a linked end user, or anyone else.

Admins are named in the settings; end users are whoever redeemed an invite for an agent (the
link is stored on the agent). Anyone else gets one polite line and nothing more. Authorization
reads the store once per update, and the handlers act on that same read of the caller's agents:
a new link or a deleted agent counts from the next update on, and the role and the agents an
end user may act on can never disagree. This module never changes anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from storage import Store
from storage.models import Actor, Agent


class Role(StrEnum):
    ADMIN = "admin"
    USER = "user"
    STRANGER = "stranger"


def actor(role: Role, telegram_user_id: int) -> Actor:
    """The `actor` the fleet service expects: an admin, or else an end user, by Telegram id."""
    if role is Role.ADMIN:
        return Actor.admin(telegram_user_id)
    return Actor.user(telegram_user_id)


@dataclass(frozen=True)
class Caller:
    """The sender's role and, for an end user, the live agents linked to them (never empty).

    Admins act on agents by id and strangers on none, so their `agents` is empty.
    """

    role: Role
    agents: tuple[Agent, ...] = ()


class Authorizer:
    def __init__(self, admin_ids: Iterable[int], store: Store) -> None:
        self._admins = frozenset(admin_ids)
        self._store = store

    @property
    def admin_ids(self) -> frozenset[int]:
        return self._admins

    def is_admin(self, telegram_user_id: int) -> bool:
        return telegram_user_id in self._admins

    async def identify(self, telegram_user_id: int) -> Caller:
        """One store read at most: admins need none, everyone else one of their agents."""
        if self.is_admin(telegram_user_id):
            return Caller(Role.ADMIN)
        agents = await self._store.agents.for_telegram_user(telegram_user_id)
        if agents:
            return Caller(Role.USER, tuple(agents))
        return Caller(Role.STRANGER)
