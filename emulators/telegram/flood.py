"""Telegram's flood control for sending messages, as token buckets per bot.

Defaults follow Telegram's published guidance: about one message per second in a private
chat (with a short burst), twenty a minute in a group, thirty a second across all chats.
A call over the limit learns how long to wait (`retry_after`, whole seconds, at least 1).
This module only counts; it never builds answers nor knows which methods send.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class FloodLimits:
    enabled: bool = True
    private_per_second: float = 1.0
    private_burst: int = 5
    group_per_minute: float = 20.0
    group_burst: int = 20
    global_per_second: float = 30.0
    global_burst: int = 30

    def updated(self, changes: Mapping[str, Any]) -> FloodLimits:
        """A copy with `changes` applied; ValueError names what is wrong."""
        known = {item.name: item.type for item in fields(self)}
        values: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown flood_control setting {name!r}")
            if name == "enabled":
                if not isinstance(value, bool):
                    raise ValueError("flood_control.enabled must be a boolean")
            elif isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"flood_control.{name} must be a positive number")
            values[name] = int(value) if name.endswith("_burst") else value
        return replace(self, **values)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class _Bucket:
    def __init__(self, capacity: float, per_second: float, now: float) -> None:
        self.capacity = capacity
        self.per_second = per_second
        self.tokens = capacity
        self.stamp = now

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.per_second)
        self.stamp = now

    def wait(self, now: float) -> float:
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.per_second

    def take(self) -> None:
        self.tokens -= 1


class FloodControl:
    def __init__(self, limits: FloodLimits) -> None:
        self.limits = limits
        self._buckets: dict[tuple[int, int | None], _Bucket] = {}

    def configure(self, limits: FloodLimits) -> None:
        self.limits = limits
        self._buckets.clear()

    def _bucket(
        self, key: tuple[int, int | None], capacity: float, rate: float, now: float
    ) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(capacity, rate, now)
        return bucket

    def admit(self, bot_id: int, chat_id: int, private: bool, now: float) -> int | None:
        """None when one more message may go out now (and count it), else seconds to wait."""
        limits = self.limits
        if not limits.enabled:
            return None
        everywhere = self._bucket(
            (bot_id, None), limits.global_burst, limits.global_per_second, now
        )
        if private:
            chat = self._bucket(
                (bot_id, chat_id), limits.private_burst, limits.private_per_second, now
            )
        else:
            chat = self._bucket(
                (bot_id, chat_id), limits.group_burst, limits.group_per_minute / 60, now
            )
        wait = max(everywhere.wait(now), chat.wait(now))
        if wait > 0:
            return max(1, math.ceil(wait))
        everywhere.take()
        chat.take()
        return None
