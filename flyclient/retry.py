"""When and how long to wait before sending a failed request again.

`RetryPolicy` bounds retries by attempts AND by total time; `RetrySchedule` applies one policy
to one logical call and answers "wait this long, then try again" or "give up". Backoff is
exponential with jitter (half fixed, half random, so concurrent callers spread out without
collapsing to zero), and a server's `Retry-After` (seconds or an HTTP date) wins when present.

Which failures are worth retrying at all is decided by `flyclient.actions` (per action) and
the transport (per answer); this module only does the arithmetic.

This module must never sleep, send requests or look at headers other than `Retry-After`.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Limits for retrying one call.

    Attributes:
        max_attempts: total sends of one request, the first included.
        max_elapsed_s: no retry starts later than this after the first send.
        base_delay_s: the backoff ceiling before the first retry; it doubles per retry.
        max_delay_s: the backoff ceiling never grows beyond this.
        max_retry_after_s: a `Retry-After` longer than this is not waited for: give up.
        create_attempts: creates that failed ambiguously are looked up and re-sent at most
            this many times in total (see `FlyClient.create_machine`).
    """

    max_attempts: int = 5
    max_elapsed_s: float = 60.0
    base_delay_s: float = 0.25
    max_delay_s: float = 8.0
    max_retry_after_s: float = 60.0
    create_attempts: int = 3

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.create_attempts < 1:
            raise ValueError("attempt limits must be at least 1")
        if min(self.max_elapsed_s, self.base_delay_s, self.max_delay_s) < 0:
            raise ValueError("retry delays must not be negative")

    @classmethod
    def never(cls) -> RetryPolicy:
        """A policy that sends every request exactly once."""
        return cls(max_attempts=1, create_attempts=1)

    def backoff_ceiling_s(self, retry_number: int) -> float:
        """The largest delay before retry number `retry_number` (1 = the first retry)."""
        exponent = min(max(retry_number - 1, 0), 60)
        return float(min(self.max_delay_s, self.base_delay_s * math.pow(2.0, exponent)))

    def backoff_s(self, retry_number: int, rng: random.Random) -> float:
        """A jittered delay in [ceiling / 2, ceiling]."""
        ceiling = self.backoff_ceiling_s(retry_number)
        return ceiling / 2 + rng.uniform(0.0, ceiling / 2)

    def schedule(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> RetrySchedule:
        return RetrySchedule(self, clock=clock, rng=rng or random.Random())


class RetrySchedule:
    """The retry state of one logical call: how many sends so far, since when."""

    def __init__(
        self, policy: RetryPolicy, *, clock: Callable[[], float], rng: random.Random
    ) -> None:
        self._policy = policy
        self._clock = clock
        self._rng = rng
        self._started_at = clock()
        self.attempts = 0

    def record_attempt(self) -> int:
        """Count one send; returns its number (1 for the first)."""
        self.attempts += 1
        return self.attempts

    def next_delay_s(self, retry_after_s: float | None = None) -> float | None:
        """Seconds to wait before the next send, or None when the budget is spent."""
        if self.attempts >= self._policy.max_attempts:
            return None
        if retry_after_s is not None:
            if retry_after_s > self._policy.max_retry_after_s:
                return None
            delay = retry_after_s
        else:
            delay = self._policy.backoff_s(self.attempts, self._rng)
        elapsed = self._clock() - self._started_at
        if elapsed + delay > self._policy.max_elapsed_s:
            return None
        return delay


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait according to a `Retry-After` header, or None if absent or unreadable.

    Accepts delta-seconds (`"3"`, also a fractional `"1.5"`) and an HTTP date
    (`"Wed, 21 Oct 2015 07:28:00 GMT"`); a date in the past means "now" (0.0).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        return _seconds_until_http_date(text, now)
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        return None
    return seconds


def _seconds_until_http_date(text: str, now: datetime | None) -> float | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = now or datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())
