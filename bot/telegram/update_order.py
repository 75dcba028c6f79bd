"""In what order, and how many at once, the bot handles Telegram updates.

PTB hands every update to an update processor; this one (`OrderedUpdateProcessor`) keeps each
person's updates in the order Telegram gave them and lets everything else run side by side:

- The order key is (chat, sender). A message waits until every earlier update of its key has
  been handled, so `/tenant add X` then `/tenant set X …` always see each other's effect, and
  a button press waits for the key's earlier messages (a press then a command, or a command
  then a press, run in that order). Presses do not wait for each other: approving twenty
  cards in a row must not turn into twenty approvals one after another, and a double tap is
  met, as before, by the handlers' own guards (the pairing hold and ledger, one-time
  confirmations), which answer "already being handled".
  Different people, even in one group, never wait for each other, so one admin's long
  `/provision` in the ops chat does not hold the other admins' commands and presses.
- Updates run at most `general` at once, and admins' updates (admin ids are static, from the
  settings) in a lane of their own with `admin` slots: a flood by strangers can fill the
  general lane but never delays an admin. An update takes a slot only when its turn in its
  key has come, so a flood queued in one chat holds at most one slot.
- While a handler waits for something that is not work (the per-chat send pacer), it lends its
  slot to the others (`lend_slot`).

Updates without a sender (channel posts; the bot asks for none) run unordered in the general
lane. This module knows nothing of commands or of the store.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

# PTB's own bound sits in front of `do_process_update`; it must never block, since updates
# waiting for their turn would hold it. Our bounds are the lanes below.
_UNBOUNDED = 1 << 30


class _Slot:
    """One lane slot as held by one update, lendable while its handler only waits."""

    def __init__(self, lane: asyncio.Semaphore) -> None:
        self._lane = lane
        self.held = False

    async def take(self) -> None:
        await self._lane.acquire()
        self.held = True

    def give_back(self) -> None:
        if self.held:
            self.held = False
            self._lane.release()


_CURRENT_SLOT: ContextVar[_Slot | None] = ContextVar("update_slot", default=None)


@contextlib.asynccontextmanager
async def lend_slot() -> AsyncIterator[None]:
    """Around a wait that is not work (pacing a send): other updates may use the slot meanwhile.

    Outside an update (the alert worker, jobs) it does nothing.
    """
    slot = _CURRENT_SLOT.get()
    if slot is None or not slot.held:
        yield
        return
    slot.give_back()
    try:
        yield
    finally:
        await slot.take()


@dataclass
class _KeyState:
    """What a new update of one key must wait for, in O(1) for messages however long the
    queue: the key's latest message (which itself ran only after everything before it) and
    the presses that came after that message."""

    last_message: asyncio.Future[None] | None = None
    presses_since: list[asyncio.Future[None]] = field(default_factory=list)
    unfinished: int = 0

    def join(self, press: bool, done: asyncio.Future[None]) -> list[asyncio.Future[None]]:
        """Queue `done`'s update; returns the turns it waits for."""
        self.unfinished += 1
        before = [] if self.last_message is None else [self.last_message]
        if press:
            self.presses_since = [p for p in self.presses_since if not p.done()]
            self.presses_since.append(done)
        else:
            before += self.presses_since
            self.last_message, self.presses_since = done, []
        return [f for f in before if not f.done()]


@dataclass(frozen=True)
class _Route:
    key: tuple[int, int] | None
    admin: bool
    press: bool


def route(update: object, admin_ids: frozenset[int]) -> _Route:
    """The order key (chat, sender), the lane, and whether it is a button press."""
    if not isinstance(update, Update):
        return _Route(None, False, False)
    user = update.effective_user
    if user is None:
        return _Route(None, False, False)
    # A press's chat is its message's chat; a press on a message too old for Telegram to
    # send along (no chat) is ordered with the sender's private chat.
    chat = update.effective_chat
    chat_id = chat.id if chat is not None else user.id
    press = update.callback_query is not None
    return _Route((chat_id, user.id), user.id in admin_ids, press)


class OrderedUpdateProcessor(BaseUpdateProcessor):
    """Per-(chat, sender) order, a bounded general lane and a reserved admin lane."""

    def __init__(self, *, general: int, admin: int, admin_ids: Iterable[int]) -> None:
        if general < 1 or admin < 1:
            raise ValueError("each lane needs at least one slot")
        self._general_slots = general
        self._admin_slots = admin
        self._admin_ids = frozenset(admin_ids)
        super().__init__(_UNBOUNDED)
        self._general = asyncio.Semaphore(general)
        self._admin = asyncio.Semaphore(admin)
        # Keys with updates not yet handled.
        self._keys: dict[tuple[int, int], _KeyState] = {}
        self._unfinished = 0

    @property
    def slots(self) -> int:
        """Updates that may run at once, both lanes together. (PTB's `max_concurrent_updates`
        stays unbounded: its bound would count updates still waiting for their turn.)"""
        return self._general_slots + self._admin_slots

    @property
    def current_concurrent_updates(self) -> int:
        """Updates received and not yet handled: waiting for their turn, or running."""
        return self._unfinished

    async def initialize(self) -> None:
        """Nothing to set up: the lanes exist from the start."""

    async def shutdown(self) -> None:
        """Nothing to free: PTB awaits every update's task before it shuts down."""

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        # Runs without a pause up to the first await, in the order PTB took the updates from
        # its queue (Telegram's order): that is where an update joins its key.
        where = route(update, self._admin_ids)
        self._unfinished += 1
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        try:
            if where.key is not None:
                before = self._keys.setdefault(where.key, _KeyState()).join(where.press, done)
                if before:
                    await asyncio.wait(before)
            slot = _Slot(self._admin if where.admin else self._general)
            await slot.take()
            token = _CURRENT_SLOT.set(slot)
            try:
                await coroutine
            finally:
                _CURRENT_SLOT.reset(token)
                slot.give_back()
        finally:
            self._unfinished -= 1
            done.set_result(None)
            if where.key is not None:
                self._finish(where.key)
            if asyncio.iscoroutine(coroutine):
                # Never started (cancelled while waiting): close it without a warning.
                coroutine.close()

    def _finish(self, key: tuple[int, int]) -> None:
        state = self._keys.get(key)
        if state is None:
            return
        state.unfinished -= 1
        if state.unfinished == 0:
            del self._keys[key]
