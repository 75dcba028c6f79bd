"""Client-side rate limiting that keeps bulk operations under Fly's published limits.

Fly limits the Machines API per action per machine (or per app for app-level actions):
1 request/s with bursts of 3, and get-machine at 5/s with bursts of 10. Stopping 200 machines
at once is fine (200 different buckets); polling one machine in a tight loop is not. The
`RateLimiter` holds one token bucket per (action, key) and makes callers wait (asynchronously)
for their turn instead of collecting 429s.

How it works: each bucket is a GCRA ("virtual scheduling") bucket, i.e. a token bucket stored as
one number, the theoretical arrival time of the next request. A caller reserves its slot
synchronously when it calls `acquire` (so waiting is first-come, first-served: fair), then
sleeps until that slot. No locks, no polling, O(1) per request. A bucket that has fully
refilled holds no information and is dropped by a periodic sweep, so thousands of machines
cost nothing once idle. A caller cancelled while waiting gives its slot back if nobody queued
behind it.

One limiter may be shared by many `FlyClient`s (several apps and tokens in one process): keys
include the app name, so apps never slow each other down.

This module must never perform I/O or busy-wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from flyclient.actions import Action

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A sustained rate and the burst allowed on top of a full bucket."""

    per_second: float
    burst: int

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")


FLY_DEFAULT_LIMIT: Final = RateLimit(per_second=1.0, burst=3)
FLY_ACTION_LIMITS: Final[Mapping[Action, RateLimit]] = MappingProxyType(
    {Action.MACHINE_GET: RateLimit(per_second=5.0, burst=10)}
)


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Which limit applies to which action.

    Attributes:
        default: the limit of every action without an override.
        per_action: overrides (by default get-machine's 5/s, burst 10).
        safety_margin_s: added to the spacing of requests after the burst, because the
            server's clock starts when a request arrives, not when we sent it: two requests
            sent exactly 1 s apart can arrive 0.95 s apart. A 429 that slips through anyway
            is retried by the transport.
        enabled: False turns the limiter into a no-op (e.g. when Fly's side is known idle).
        idle_sweep_interval_s: how often fully refilled buckets are forgotten.
    """

    default: RateLimit = FLY_DEFAULT_LIMIT
    per_action: Mapping[Action, RateLimit] = field(default_factory=lambda: FLY_ACTION_LIMITS)
    safety_margin_s: float = 0.05
    enabled: bool = True
    idle_sweep_interval_s: float = 30.0

    def for_action(self, action: Action) -> RateLimit:
        return self.per_action.get(action, self.default)

    @classmethod
    def disabled(cls) -> RateLimits:
        return cls(enabled=False)


@dataclass(slots=True)
class _Bucket:
    # When the bucket will next be completely full (GCRA's "theoretical arrival time").
    next_full_at: float


BucketKey = tuple[Action, str]


class RateLimiter:
    """Async token buckets keyed by (action, app/machine/volume key)."""

    def __init__(
        self,
        limits: RateLimits | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._limits = limits or RateLimits()
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[BucketKey, _Bucket] = {}
        self._last_sweep_at = clock()

    @property
    def limits(self) -> RateLimits:
        return self._limits

    def tracked_buckets(self) -> int:
        """How many buckets currently remember recent traffic."""
        return len(self._buckets)

    def reserve(self, action: Action, key: str) -> float:
        """Book the next slot for (action, key); returns how long to wait for it (seconds).

        Booking is synchronous, so callers are served in the order they call.
        """
        if not self._limits.enabled:
            return 0.0
        now = self._clock()
        self._maybe_sweep(now)
        limit = self._limits.for_action(action)
        spacing = 1.0 / limit.per_second
        # A full bucket lets `burst` requests through at once: the next-full time may run
        # ahead of now by (burst - 1) spacings before anyone has to wait.
        tolerance = spacing * (limit.burst - 1)
        bucket = self._buckets.get((action, key))
        if bucket is None:
            bucket = _Bucket(next_full_at=now)
            self._buckets[(action, key)] = bucket
        arrival = max(bucket.next_full_at, now)
        allowed_at = arrival - tolerance
        if allowed_at <= now:
            bucket.next_full_at = arrival + spacing
            return 0.0
        bucket.next_full_at = arrival + spacing + self._limits.safety_margin_s
        return allowed_at - now + self._limits.safety_margin_s

    async def acquire(self, action: Action, key: str) -> None:
        """Wait until one more request of `action` on `key` is within the limit."""
        delay = self.reserve(action, key)
        if delay <= 0:
            return
        booked_until = self._buckets[(action, key)].next_full_at
        try:
            await self._sleep(delay)
        except asyncio.CancelledError:
            self._give_back(action, key, booked_until)
            raise

    def _give_back(self, action: Action, key: str, booked_until: float) -> None:
        bucket = self._buckets.get((action, key))
        if bucket is None or bucket.next_full_at != booked_until:
            return  # someone booked after us; their slot stays where it is
        limit = self._limits.for_action(action)
        bucket.next_full_at -= 1.0 / limit.per_second + self._limits.safety_margin_s

    def _maybe_sweep(self, now: float) -> None:
        if now - self._last_sweep_at < self._limits.idle_sweep_interval_s:
            return
        self._last_sweep_at = now
        idle = [key for key, bucket in self._buckets.items() if bucket.next_full_at <= now]
        for key in idle:
            del self._buckets[key]
