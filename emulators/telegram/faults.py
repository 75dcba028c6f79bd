"""Failures a test asks for: injected 429s and 5xx, slow answers, blocked users, outages.

Faults are set through the control API (`POST /_emulator/faults`) and consumed by the
server as calls arrive. Counted faults apply to the next N matching calls; a blocked or
deactivated user stays so until unblocked; an outage lasts for its seconds or until lifted.
This module validates control input (raising ValueError) and never builds Bot API answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

CountedKind = Literal["rate_limit", "server_error", "delay"]
DownMode = Literal["error", "disconnect"]
BlockReason = Literal["blocked", "deactivated"]


@dataclass
class CountedFault:
    kind: CountedKind
    method: str | None
    bot_id: int | None
    remaining: int
    retry_after: int = 1
    status: int = 500
    seconds: float = 0.0
    # Only calls addressed to this chat (their `chat_id` parameter), when set.
    chat_id: int | None = None

    def matches(self, kind: CountedKind, bot_id: int, method: str, chat_id: int | None) -> bool:
        return (
            self.kind == kind
            and self.remaining > 0
            and (self.method is None or self.method == method.lower())
            and (self.bot_id is None or self.bot_id == bot_id)
            and (self.chat_id is None or self.chat_id == chat_id)
        )

    def to_json(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "kind": self.kind,
            "method": self.method,
            "bot_id": self.bot_id,
            "chat_id": self.chat_id,
            "remaining": self.remaining,
        }
        if self.kind == "rate_limit":
            answer["retry_after"] = self.retry_after
        elif self.kind == "server_error":
            answer["status"] = self.status
        else:
            answer["seconds"] = self.seconds
        return answer


@dataclass
class Outage:
    until: float  # monotonic seconds; math.inf until lifted
    mode: DownMode
    status: int


def _positive_int(body: Mapping[str, Any], name: str, default: int, *, minimum: int = 1) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}")
    return value


def _seconds(body: Mapping[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name} must be a non-negative number of seconds")
    return float(value)


class Faults:
    def __init__(self) -> None:
        self.counted: list[CountedFault] = []
        self.blocked: dict[tuple[int | None, int], BlockReason] = {}
        self.outage: Outage | None = None
        # Answers held back by a `delay` fault wait on this until their seconds pass or a test
        # releases them (`{"release_delays": true}`): a test can hold an answer "as long as it
        # takes" without betting on how fast a loaded machine runs the rest.
        self._delays_released: asyncio.Event | None = None

    async def hold_answer(self, seconds: float) -> None:
        """Wait `seconds`, or less if the held answers are released meanwhile."""
        if self._delays_released is None:
            self._delays_released = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._delays_released.wait(), seconds)

    def release_delays(self) -> None:
        """Answer every call a `delay` fault is holding back, now."""
        if self._delays_released is not None:
            self._delays_released.set()
            self._delays_released = None

    def clear(self) -> None:
        self.counted.clear()
        self.blocked.clear()
        self.outage = None

    def add_counted(self, kind: CountedKind, body: Any, bot_id: int | None) -> None:
        if not isinstance(body, Mapping):
            raise ValueError(f"{kind} must be an object")
        method = body.get("method")
        if method is not None and (not isinstance(method, str) or not method):
            raise ValueError("method must be a method name")
        chat_id = body.get("chat_id")
        if chat_id is not None and (isinstance(chat_id, bool) or not isinstance(chat_id, int)):
            raise ValueError("chat_id must be an integer")
        fault = CountedFault(
            kind,
            None if method in (None, "*") else method.lower(),
            bot_id,
            _positive_int(body, "count", 1),
            chat_id=chat_id,
        )
        if kind == "rate_limit":
            fault.retry_after = _positive_int(body, "retry_after", 1)
        elif kind == "server_error":
            fault.status = _positive_int(body, "status", 500, minimum=500)
            if fault.status > 599:
                raise ValueError("status must be a 5xx code")
        else:
            seconds = _seconds(body, "seconds")
            if seconds is None:
                raise ValueError("delay needs seconds")
            fault.seconds = seconds
        self.counted.append(fault)

    def take(
        self, kind: CountedKind, bot_id: int, method: str, chat_id: int | None = None
    ) -> CountedFault | None:
        for fault in self.counted:
            if fault.matches(kind, bot_id, method, chat_id):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self.counted.remove(fault)
                return fault
        return None

    def set_block(self, body: Any, bot_id: int | None, reason: BlockReason | None) -> None:
        if not isinstance(body, Mapping):
            raise ValueError("expected an object with chat_id")
        chat_id = body.get("chat_id")
        if isinstance(chat_id, bool) or not isinstance(chat_id, int):
            raise ValueError("chat_id must be an integer")
        if reason is None:
            self.blocked.pop((bot_id, chat_id), None)
            if bot_id is None:
                for key in [key for key in self.blocked if key[1] == chat_id]:
                    del self.blocked[key]
        else:
            self.blocked[(bot_id, chat_id)] = reason

    def block_reason(self, bot_id: int, chat_id: int) -> BlockReason | None:
        return self.blocked.get((bot_id, chat_id)) or self.blocked.get((None, chat_id))

    def set_outage(self, body: Any, now: float) -> None:
        if body is False or body is None:
            self.outage = None
            return
        if body is True:
            body = {}
        if not isinstance(body, Mapping):
            raise ValueError("down must be an object or false")
        seconds = _seconds(body, "seconds")
        mode = body.get("mode", "error")
        if mode not in ("error", "disconnect"):
            raise ValueError("down.mode must be 'error' or 'disconnect'")
        status = _positive_int(body, "status", 502, minimum=500)
        self.outage = Outage(math.inf if seconds is None else now + seconds, mode, status)

    def current_outage(self, now: float) -> Outage | None:
        if self.outage is not None and now >= self.outage.until:
            self.outage = None
        return self.outage

    def to_json(self, now: float) -> dict[str, Any]:
        outage = self.current_outage(now)
        return {
            "counted": [fault.to_json() for fault in self.counted],
            "blocked": [
                {"bot_id": bot_id, "chat_id": chat_id, "reason": reason}
                for (bot_id, chat_id), reason in self.blocked.items()
            ],
            "down": None
            if outage is None
            else {
                "mode": outage.mode,
                "status": outage.status,
                "seconds_left": None if math.isinf(outage.until) else round(outage.until - now, 3),
            },
        }
