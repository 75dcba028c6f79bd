"""Display names of the Telegram users the bot has heard from, for cards and outcomes.

The fleet service records actors (`storage.models.Actor`) as `user:<id>` / `admin:<id>`; an
ops card reads better with "Ann (@ann)". Names are remembered in memory from updates as they
arrive; an unknown id is shown as the bare id. Names are display text only, never used to
authorize anything.
"""

from __future__ import annotations

from telegram import User

from storage.models import Actor, ActorKind

MAX_NAME_CHARS = 64


class People:
    def __init__(self) -> None:
        self._names: dict[int, str] = {}

    def remember(self, user: User) -> None:
        name = user.full_name[:MAX_NAME_CHARS]
        if user.username:
            name = f"{name} (@{user.username[:MAX_NAME_CHARS]})"
        self._names[user.id] = name

    def name(self, telegram_user_id: int) -> str:
        known = self._names.get(telegram_user_id)
        return f"{known}, id {telegram_user_id}" if known else f"id {telegram_user_id}"

    def name_of_actor(self, actor: str) -> str:
        """A stored actor: `user:1001` → "Ann (@ann), id 1001"; other actors as they are."""
        parsed = Actor.parse(actor)
        if parsed is not None and parsed.telegram_user_id is not None:
            return self.name(parsed.telegram_user_id)
        return actor


def telegram_id_of(actor: str) -> int | None:
    """The Telegram user id in a stored `user:<id>` actor; None for any other actor."""
    parsed = Actor.parse(actor)
    return parsed.telegram_user_id if parsed is not None and parsed.kind is ActorKind.USER else None
