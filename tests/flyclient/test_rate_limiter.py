"""The client-side limiter: Fly's burst and rate per (action, key), fairness, idle eviction.

Delays are checked as the values the limiter books on a fake clock, never by measuring time.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from flyclient.actions import Action
from flyclient.ratelimit import RateLimit, RateLimiter, RateLimits


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def exact_limits(**overrides: Any) -> RateLimits:
    """Fly's published limits without the safety margin, so booked delays are round numbers."""
    return RateLimits(safety_margin_s=0.0, **overrides)


def test_a_full_bucket_lets_three_through_then_one_per_second() -> None:
    limiter = RateLimiter(exact_limits(), clock=FakeClock())
    delays = [limiter.reserve(Action.MACHINE_STOP, "agents/m1") for _ in range(6)]
    assert delays == [0.0, 0.0, 0.0, 1.0, 2.0, 3.0]


def test_get_machine_allows_ten_at_once_then_five_per_second() -> None:
    limiter = RateLimiter(exact_limits(), clock=FakeClock())
    delays = [limiter.reserve(Action.MACHINE_GET, "agents/m1") for _ in range(12)]
    assert delays[:10] == [0.0] * 10
    assert delays[10:] == pytest.approx([0.2, 0.4])


def test_safety_margin_spaces_requests_a_little_wider_than_the_published_rate() -> None:
    limiter = RateLimiter(RateLimits(safety_margin_s=0.05), clock=FakeClock())
    delays = [limiter.reserve(Action.MACHINE_STOP, "agents/m1") for _ in range(5)]
    assert delays[:3] == [0.0, 0.0, 0.0]
    assert delays[3] == pytest.approx(1.05)
    assert delays[4] - delays[3] == pytest.approx(1.05)


def test_machines_and_actions_have_separate_buckets() -> None:
    limiter = RateLimiter(exact_limits(), clock=FakeClock())
    for _ in range(3):
        limiter.reserve(Action.MACHINE_STOP, "agents/m1")
    assert limiter.reserve(Action.MACHINE_STOP, "agents/m2") == 0.0
    assert limiter.reserve(Action.MACHINE_START, "agents/m1") == 0.0
    assert limiter.reserve(Action.MACHINE_STOP, "other-app/m1") == 0.0
    assert limiter.reserve(Action.MACHINE_STOP, "agents/m1") == 1.0


def test_bucket_refills_with_time() -> None:
    clock = FakeClock()
    limiter = RateLimiter(exact_limits(), clock=clock)
    for _ in range(3):
        limiter.reserve(Action.MACHINE_LIST, "agents")
    clock.now = 3.0
    assert [limiter.reserve(Action.MACHINE_LIST, "agents") for _ in range(4)] == [
        0.0,
        0.0,
        0.0,
        1.0,
    ]


def test_per_action_overrides_and_default_are_configurable() -> None:
    limits = exact_limits(
        default=RateLimit(per_second=10.0, burst=1),
        per_action={Action.MACHINE_EXEC: RateLimit(per_second=0.5, burst=1)},
    )
    limiter = RateLimiter(limits, clock=FakeClock())
    assert [limiter.reserve(Action.MACHINE_STOP, "a/m") for _ in range(2)] == [0.0, 0.1]
    assert [limiter.reserve(Action.MACHINE_EXEC, "a/m") for _ in range(2)] == [0.0, 2.0]


def test_disabled_limiter_never_waits_and_remembers_nothing() -> None:
    limiter = RateLimiter(RateLimits.disabled(), clock=FakeClock())
    assert all(limiter.reserve(Action.MACHINE_STOP, "agents/m1") == 0.0 for _ in range(50))
    assert limiter.tracked_buckets() == 0


def test_idle_buckets_are_forgotten() -> None:
    clock = FakeClock()
    limiter = RateLimiter(exact_limits(idle_sweep_interval_s=30.0), clock=clock)
    for index in range(5000):
        limiter.reserve(Action.MACHINE_GET, f"agents/{index:014x}")
    assert limiter.tracked_buckets() == 5000
    clock.now = 31.0
    limiter.reserve(Action.MACHINE_GET, "agents/fresh")
    assert limiter.tracked_buckets() == 1


def test_busy_buckets_survive_the_sweep() -> None:
    clock = FakeClock()
    limiter = RateLimiter(exact_limits(idle_sweep_interval_s=1.0), clock=clock)
    for _ in range(40):
        limiter.reserve(Action.MACHINE_STOP, "agents/busy")
    clock.now = 2.0
    limiter.reserve(Action.MACHINE_STOP, "agents/other")
    assert limiter.tracked_buckets() == 2


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="positive rate"):
        RateLimit(per_second=0, burst=1)
    with pytest.raises(ValueError, match="burst"):
        RateLimit(per_second=1, burst=0)


async def test_waiters_are_served_in_the_order_they_asked() -> None:
    limits = RateLimits(default=RateLimit(per_second=500.0, burst=1), safety_margin_s=0.0)
    limiter = RateLimiter(limits)
    served: list[int] = []

    async def ask(number: int) -> None:
        await limiter.acquire(Action.MACHINE_STOP, "agents/m1")
        served.append(number)

    await asyncio.gather(*(ask(number) for number in range(25)))
    assert served == list(range(25))


async def test_a_cancelled_waiter_gives_its_slot_back() -> None:
    clock = FakeClock()
    parked = asyncio.Event()

    async def park(seconds: float) -> None:
        parked.set()
        await asyncio.Event().wait()

    limiter = RateLimiter(exact_limits(), clock=clock, sleep=park)
    for _ in range(3):
        await limiter.acquire(Action.MACHINE_STOP, "agents/m1")
    waiter = asyncio.create_task(limiter.acquire(Action.MACHINE_STOP, "agents/m1"))
    await parked.wait()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert limiter.reserve(Action.MACHINE_STOP, "agents/m1") == 1.0


def test_lease_refresh_draws_from_the_lease_acquire_bucket() -> None:
    assert Action.LEASE_REFRESH.rate_bucket is Action.LEASE_ACQUIRE
    assert Action.MACHINE_STOP.rate_bucket is Action.MACHINE_STOP
