"""Sliding-window counters: end users' pairing attempts, messages sent to the ops chat, refusals.

In memory and per process (one bot process polls a token at a time). They only count and
answer; they never sleep or send.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable

Clock = Callable[[], float]


class SlidingWindow:
    """At most `limit` events in any `period_s` seconds."""

    def __init__(self, limit: int, period_s: float, clock: Clock = time.monotonic) -> None:
        self.limit = limit
        self.period_s = period_s
        self._clock = clock
        self._events: deque[float] = deque()

    def _forget_old(self) -> float:
        now = self._clock()
        while self._events and self._events[0] <= now - self.period_s:
            self._events.popleft()
        return now

    def remaining(self) -> int:
        self._forget_old()
        return max(0, self.limit - len(self._events))

    def record(self) -> None:
        self._events.append(self._forget_old())

    def try_take(self) -> bool:
        if self.remaining() <= 0:
            return False
        self.record()
        return True

    def wait_s(self) -> float:
        """Seconds until one more event is allowed (0 when it is allowed now)."""
        now = self._forget_old()
        if len(self._events) < self.limit:
            return 0.0
        return max(0.0, self._events[0] + self.period_s - now)


class PerUserLimit:
    """One `SlidingWindow` per Telegram user."""

    def __init__(self, limit: int, period_s: float, clock: Clock = time.monotonic) -> None:
        self._limit = limit
        self._period_s = period_s
        self._clock = clock
        self._windows: dict[int, SlidingWindow] = {}

    def try_take(self, telegram_user_id: int) -> bool:
        window = self._windows.get(telegram_user_id)
        if window is None:
            window = SlidingWindow(self._limit, self._period_s, self._clock)
            self._windows[telegram_user_id] = window
        return window.try_take()

    def wait_s(self, telegram_user_id: int) -> float:
        window = self._windows.get(telegram_user_id)
        return 0.0 if window is None else window.wait_s()

    def prune(self) -> None:
        for user in [u for u, w in self._windows.items() if w.remaining() == w.limit]:
            del self._windows[user]


class OncePerWindow:
    """Allows one event per key in any `period_s` seconds (a refusal per person and line)."""

    def __init__(self, period_s: float, clock: Clock = time.monotonic) -> None:
        self._period_s = period_s
        self._clock = clock
        self._last: dict[Hashable, float] = {}

    def try_take(self, key: Hashable) -> bool:
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._period_s:
            return False
        self._last[key] = now
        return True

    def prune(self) -> None:
        now = self._clock()
        for key in [k for k, at in self._last.items() if now - at >= self._period_s]:
            del self._last[key]


class TokenBucket:
    """`rate` events a second on average, bursts of up to `burst`; callers reserve a slot."""

    def __init__(self, rate: float, burst: int, clock: Clock = time.monotonic) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()

    def reserve(self) -> float:
        """Take a slot; returns how long to wait before using it (0 when it is free now)."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self._rate


class ChatPacer:
    """Paces messages to each private chat (Telegram allows about one a second there)."""

    def __init__(self, rate: float, burst: int, clock: Clock = time.monotonic) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._buckets: dict[int, TokenBucket] = {}

    def reserve(self, chat_id: int) -> float:
        bucket = self._buckets.get(chat_id)
        if bucket is None:
            bucket = TokenBucket(self._rate, self._burst, self._clock)
            self._buckets[chat_id] = bucket
        return bucket.reserve()

    def prune(self) -> None:
        if len(self._buckets) > 10_000:
            self._buckets.clear()
