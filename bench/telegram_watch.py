"""Everything the bot says through the Telegram emulator, as it happens, with the moment it did.

`BotWatch.install(tg)` puts a request log into the (in-process) Telegram emulator that also
hands every Bot API call to the watch the moment the emulator answers it. Scenarios then wait
for a message (`expect`), count calls and 429s, and read when each message went out, without
polling the emulator. The watch only observes: it never changes an answer.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulators.telegram import TelegramEmulator
from emulators.telegram.recorder import RequestLog

MESSAGE_METHODS = frozenset({"sendmessage", "editmessagetext"})


@dataclass(frozen=True)
class Seen:
    """One message the bot sent or edited, as Telegram answered it, and when (Unix seconds)."""

    bot_id: int
    method: str
    message: dict[str, Any]
    at: float

    @property
    def text(self) -> str:
        return str(self.message.get("text", ""))

    @property
    def chat_id(self) -> int:
        return int(self.message["chat"]["id"])

    @property
    def buttons(self) -> list[str]:
        markup = self.message.get("reply_markup") or {}
        return [
            str(button.get("callback_data"))
            for row in markup.get("inline_keyboard", [])
            for button in row
        ]


Predicate = Callable[[Seen], bool]


@dataclass
class _Waiter:
    predicate: Predicate
    future: asyncio.Future[Seen]


@dataclass
class BotWatch:
    # Keyed by (bot id, method) and (bot id, HTTP status) respectively.
    calls: Counter[tuple[int, str]] = field(default_factory=Counter)
    refused: Counter[tuple[int, int]] = field(default_factory=Counter)
    sent: dict[int, list[Seen]] = field(default_factory=dict)
    _waiters: dict[int, list[_Waiter]] = field(default_factory=dict)

    @classmethod
    def install(cls, tg: TelegramEmulator) -> BotWatch:
        watch = cls()
        tg.world.requests = _WatchedLog(watch)
        return watch

    def expect(self, chat_id: int, predicate: Predicate) -> asyncio.Future[Seen]:
        """A future for the next message in `chat_id` (sent or edited) matching `predicate`."""
        future: asyncio.Future[Seen] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(chat_id, []).append(_Waiter(predicate, future))
        return future

    def sent_to(self, chat_id: int) -> list[Seen]:
        return list(self.sent.get(chat_id, []))

    def refusals(self, bot_id: int, status: int) -> int:
        return self.refused[(bot_id, status)]

    def _record(self, bot_id: int, method: str, status: int, answer: dict[str, Any] | None) -> None:
        self.calls[(bot_id, method)] += 1
        if status != 200:
            self.refused[(bot_id, status)] += 1
            return
        result = (answer or {}).get("result")
        if method not in MESSAGE_METHODS or not isinstance(result, dict):
            return
        seen = Seen(bot_id, method, result, time.time())
        chat_id = seen.chat_id
        if method == "sendmessage":
            self.sent.setdefault(chat_id, []).append(seen)
        waiters = self._waiters.get(chat_id)
        if not waiters:
            return
        for waiter in list(waiters):
            if waiter.future.done():
                waiters.remove(waiter)
            elif waiter.predicate(seen):
                waiter.future.set_result(seen)
                waiters.remove(waiter)


class _WatchedLog(RequestLog):
    """The emulator's own request log, plus a call to the watch for every entry."""

    def __init__(self, watch: BotWatch) -> None:
        super().__init__()
        self._watch = watch

    def add(
        self,
        *,
        bot_id: int,
        method: str,
        http_method: str,
        encoding: str,
        params: Any,
        status: int,
        answer: dict[str, Any] | None,
    ) -> None:
        super().add(
            bot_id=bot_id,
            method=method,
            http_method=http_method,
            encoding=encoding,
            params=params,
            status=status,
            answer=answer,
        )
        self._watch._record(bot_id, method.lower(), status, answer)
