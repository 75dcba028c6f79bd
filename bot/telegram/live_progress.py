"""One Telegram message that follows a long operation step by step.

The fleet service reports each step to a `Progress`; its listener here edits the same message
with `progress.render()` ("volume ✓ machine ✓ gateway … model ·"). Edits are throttled (Telegram
rate-limits them too): within the interval only the newest state is kept and shown when it ends.
A failed edit is logged and never disturbs the operation itself. `finish` shows the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from telegram import InlineKeyboardMarkup
from telegram.error import TelegramError

from bot.fleet import Progress
from bot.telegram import render
from bot.telegram.errors import EXPECTED_ERRORS, explain
from bot.telegram.messenger import Messenger

log = logging.getLogger("bot.telegram.progress")


T = TypeVar("T")


class LiveProgress:
    def __init__(
        self, messenger: Messenger, chat_id: int, message_id: int, min_interval_s: float
    ) -> None:
        self._messenger = messenger
        self._chat_id = chat_id
        self._message_id = message_id
        self._min_interval_s = min_interval_s
        self._last_edit = 0.0
        self._latest: str | None = None
        self._deferred: asyncio.Task[None] | None = None
        self._shown: str | None = None

    @classmethod
    async def open(
        cls,
        messenger: Messenger,
        chat_id: int,
        title: str,
        steps: Sequence[str],
        min_interval_s: float,
        *,
        message_id: int | None = None,
    ) -> tuple[LiveProgress, Progress] | None:
        """Send (or take over) the message and return it with the `Progress` that drives it."""
        state = Progress(title, steps)
        first = render.working(render.progress(state))
        if message_id is None:
            sent = await messenger.send(chat_id, first)
            if sent is None:
                return None
            message_id = sent.message_id
        else:
            await messenger.edit(chat_id, message_id, first)
        live = cls(messenger, chat_id, message_id, min_interval_s)
        live._shown = first
        return live, Progress(title, steps, live.listener)

    @property
    def message_id(self) -> int:
        return self._message_id

    async def listener(self, state: Progress) -> None:
        self._latest = render.working(render.progress(state))
        wait = self._last_edit + self._min_interval_s - time.monotonic()
        if wait <= 0 and self._deferred is None:
            await self._show_latest()
        elif self._deferred is None:
            self._deferred = asyncio.create_task(self._show_later(wait))

    async def _show_later(self, wait: float) -> None:
        await asyncio.sleep(max(0.0, wait))
        self._deferred = None
        await self._show_latest()

    async def _show_latest(self) -> None:
        text = self._latest
        if text is None or text == self._shown:
            return
        self._last_edit = time.monotonic()
        self._shown = text
        try:
            await self._messenger.edit(self._chat_id, self._message_id, text)
        except TelegramError as error:
            log.warning("progress edit failed: %s", error)

    async def finish(self, text: str, keyboard: InlineKeyboardMarkup | None = None) -> None:
        """Replace the progress with the outcome (always shown, never throttled away)."""
        if self._deferred is not None:
            self._deferred.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._deferred
            self._deferred = None
        self._shown = text
        await self._messenger.edit(self._chat_id, self._message_id, text, keyboard)

    async def run(self, progress: Progress, work: Callable[[], Awaitable[T]]) -> T | None:
        """`work`'s result; None once a refusal or failure is shown in place of the progress.

        An expected refusal (`EXPECTED_ERRORS`) is explained in the message and ends there;
        anything else is re-raised for the error handler (which tells the admin and ops),
        after the message says so: it must never stay at "⏳".
        """
        try:
            return await work()
        except EXPECTED_ERRORS as error:
            await self.finish(f"{render.progress(progress)}\n{render.failed(explain(error))}")
            return None
        except Exception:
            with contextlib.suppress(TelegramError):
                await self.finish(f"{render.progress(progress)}\n{render.SOMETHING_WENT_WRONG}")
            raise
