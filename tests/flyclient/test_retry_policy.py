"""Backoff arithmetic and Retry-After parsing (no sleeping: the schedule only computes)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flyclient.retry import RetryPolicy, parse_retry_after

NOW = datetime(2026, 5, 7, 12, 0, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), ("0", 0.0), ("1.5", 1.5), (" 7 ", 7.0)],
)
def test_retry_after_in_seconds(header: str, seconds: float) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


def test_retry_after_as_http_date_counts_from_now() -> None:
    assert parse_retry_after("Thu, 07 May 2026 12:00:05 GMT", now=NOW) == 5.0


def test_retry_after_date_in_the_past_means_now() -> None:
    assert parse_retry_after("Thu, 07 May 2026 11:59:00 GMT", now=NOW) == 0.0


@pytest.mark.parametrize("header", [None, "", "soon", "-1", "nan", "inf", "Mon, 99 Foo"])
def test_unreadable_retry_after_is_ignored(header: str | None) -> None:
    assert parse_retry_after(header, now=NOW) is None


def test_backoff_ceiling_doubles_up_to_the_maximum() -> None:
    policy = RetryPolicy(base_delay_s=0.25, max_delay_s=2.0)
    assert [policy.backoff_ceiling_s(n) for n in range(1, 7)] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]


@given(retry_number=st.integers(min_value=1, max_value=200), seed=st.integers())
def test_jittered_backoff_stays_between_half_the_ceiling_and_the_ceiling(
    retry_number: int, seed: int
) -> None:
    policy = RetryPolicy(base_delay_s=0.1, max_delay_s=5.0)
    delay = policy.backoff_s(retry_number, random.Random(seed))
    ceiling = policy.backoff_ceiling_s(retry_number)
    assert ceiling / 2 <= delay <= ceiling


def test_jitter_spreads_concurrent_retries() -> None:
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=1.0)
    rng = random.Random(7)
    delays = {policy.backoff_s(1, rng) for _ in range(20)}
    assert len(delays) == 20


def test_schedule_gives_up_after_max_attempts() -> None:
    clock = FakeClock()
    schedule = RetryPolicy(max_attempts=3, max_elapsed_s=1e9).schedule(clock=clock)
    delays = []
    for _ in range(3):
        schedule.record_attempt()
        delays.append(schedule.next_delay_s())
    assert delays[0] is not None
    assert delays[1] is not None
    assert delays[2] is None


def test_schedule_gives_up_when_the_next_wait_would_pass_the_time_budget() -> None:
    clock = FakeClock()
    schedule = RetryPolicy(max_attempts=100, max_elapsed_s=10.0).schedule(clock=clock)
    schedule.record_attempt()
    assert schedule.next_delay_s(retry_after_s=4.0) == 4.0
    clock.now += 7.0
    schedule.record_attempt()
    assert schedule.next_delay_s(retry_after_s=4.0) is None


def test_retry_after_replaces_the_backoff() -> None:
    schedule = RetryPolicy(base_delay_s=0.01, max_delay_s=0.01).schedule(clock=FakeClock())
    schedule.record_attempt()
    assert schedule.next_delay_s(retry_after_s=3.0) == 3.0


def test_retry_after_beyond_the_cap_gives_up_instead_of_waiting() -> None:
    schedule = RetryPolicy(max_retry_after_s=30.0).schedule(clock=FakeClock())
    schedule.record_attempt()
    assert schedule.next_delay_s(retry_after_s=120.0) is None


def test_policy_that_never_retries() -> None:
    schedule = RetryPolicy.never().schedule(clock=FakeClock())
    schedule.record_attempt()
    assert schedule.next_delay_s() is None


def test_nonsense_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="negative"):
        RetryPolicy(base_delay_s=-1)
