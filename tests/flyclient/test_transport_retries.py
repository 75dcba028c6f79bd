"""What the transport resends, how long it waits first, and what it raises when it stops.

The Fly side is an `httpx.MockTransport` answering from a script; the transport's sleep is a
recorder, so the waits it chose are checked as values, and the tests never sleep.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from flyclient._http import ApiCall, FlyTransport
from flyclient.actions import Action
from flyclient.auth import FlyToken
from flyclient.errors import (
    FlyConnectionError,
    FlyTimeoutError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    UnauthorizedError,
    ValidationError,
)
from flyclient.ratelimit import RateLimiter, RateLimits
from flyclient.retry import RetryPolicy

Step = httpx.Response | Exception
MACHINE_URL = "http://fly.test/v1/apps/agents/machines/1781973f5e4389"


class Script:
    """Answers requests with the given steps in order (the last one repeats)."""

    def __init__(self, *steps: Step) -> None:
        self._steps: Iterator[Step] = iter(steps)
        self._last: Step = steps[-1]
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = next(self._steps, self._last)
        if isinstance(step, Exception):
            raise step
        return step


class SleepRecorder:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def transport(
    script: Callable[[httpx.Request], httpx.Response],
    sleep: SleepRecorder,
    *,
    policy: RetryPolicy | None = None,
    limiter: RateLimiter | None = None,
) -> FlyTransport:
    return FlyTransport(
        token=FlyToken("fo1_test"),
        http=httpx.AsyncClient(transport=httpx.MockTransport(script)),
        limiter=limiter or RateLimiter(RateLimits.disabled()),
        retry_policy=policy or RetryPolicy(max_attempts=4, base_delay_s=0.5, max_delay_s=4.0),
        sleep=sleep,
        rng=random.Random(1),
    )


def call(action: Action, method: str = "GET", url: str = MACHINE_URL, **kwargs: Any) -> ApiCall:
    return ApiCall(action, "agents/1781973f5e4389", method, url, **kwargs)


def ok(payload: object | None = None) -> httpx.Response:
    return httpx.Response(200, json=payload if payload is not None else {"ok": True})


def status(code: int, **headers: str) -> httpx.Response:
    return httpx.Response(code, json={"error": f"status {code}"}, headers=headers)


async def test_429_waits_as_long_as_retry_after_says() -> None:
    script, sleep = Script(status(429, **{"retry-after": "2"}), ok()), SleepRecorder()
    response = await transport(script, sleep).send(call(Action.MACHINE_GET))
    assert response.status_code == 200
    assert sleep.waits == [2.0]


async def test_429_without_retry_after_backs_off_with_jitter() -> None:
    script, sleep = Script(status(429), status(429), ok()), SleepRecorder()
    await transport(script, sleep).send(call(Action.MACHINE_GET))
    assert len(sleep.waits) == 2
    assert 0.25 <= sleep.waits[0] <= 0.5
    assert 0.5 <= sleep.waits[1] <= 1.0


async def test_429_is_resent_even_for_a_call_that_is_not_idempotent() -> None:
    script, sleep = Script(status(429), ok({"exit_code": 0})), SleepRecorder()
    await transport(script, sleep).send(call(Action.MACHINE_EXEC, "POST", json_body={}))
    assert len(script.requests) == 2


async def test_retry_after_longer_than_the_cap_is_raised_at_once() -> None:
    script, sleep = Script(status(429, **{"retry-after": "600"})), SleepRecorder()
    with pytest.raises(RateLimitedError) as caught:
        await transport(script, sleep).send(call(Action.MACHINE_GET))
    assert caught.value.retry_after == 600.0
    assert len(script.requests) == 1
    assert sleep.waits == []


async def test_server_errors_on_reads_are_retried_until_the_attempts_run_out() -> None:
    script = Script(status(503, **{"fly-request-id": "01LAST"}))
    sleep = SleepRecorder()
    with pytest.raises(ServerError) as caught:
        await transport(script, sleep).send(call(Action.MACHINE_GET))
    assert len(script.requests) == 4
    assert len(sleep.waits) == 3
    assert caught.value.request_id == "01LAST"
    assert caught.value.maybe_applied


async def test_408_on_an_idempotent_call_is_retried() -> None:
    script, sleep = Script(status(408), ok()), SleepRecorder()
    await transport(script, sleep).send(call(Action.MACHINE_STOP, "POST"))
    assert len(script.requests) == 2


async def test_server_error_on_a_create_is_not_resent_by_the_transport() -> None:
    script, sleep = Script(status(500), ok()), SleepRecorder()
    with pytest.raises(ServerError) as caught:
        await transport(script, sleep).send(call(Action.MACHINE_CREATE, "POST", json_body={}))
    assert len(script.requests) == 1
    assert caught.value.maybe_applied


async def test_client_errors_are_final() -> None:
    for code, expected in ((404, NotFoundError), (422, ValidationError)):
        script, sleep = Script(status(code), ok()), SleepRecorder()
        with pytest.raises(expected):
            await transport(script, sleep).send(call(Action.MACHINE_GET))
        assert len(script.requests) == 1


async def test_connection_refused_is_resent_even_for_a_create() -> None:
    script = Script(httpx.ConnectError("connection refused"), ok({"id": "m"}))
    sleep = SleepRecorder()
    await transport(script, sleep).send(call(Action.MACHINE_CREATE, "POST", json_body={}))
    assert len(script.requests) == 2


async def test_read_timeout_on_a_read_is_retried() -> None:
    script = Script(httpx.ReadTimeout("slow"), ok())
    await transport(script, SleepRecorder()).send(call(Action.MACHINE_GET))
    assert len(script.requests) == 2


async def test_read_timeout_on_an_exec_is_raised_as_a_timeout_that_may_have_applied() -> None:
    script = Script(httpx.ReadTimeout("slow"), ok())
    with pytest.raises(FlyTimeoutError) as caught:
        await transport(script, SleepRecorder()).send(
            call(Action.MACHINE_EXEC, "POST", json_body={})
        )
    assert len(script.requests) == 1
    assert caught.value.maybe_applied


async def test_connection_dropped_after_sending_a_create_is_not_resent() -> None:
    script = Script(httpx.RemoteProtocolError("server disconnected"), ok())
    with pytest.raises(FlyConnectionError) as caught:
        await transport(script, SleepRecorder()).send(
            call(Action.MACHINE_CREATE, "POST", json_body={})
        )
    assert len(script.requests) == 1
    assert caught.value.maybe_applied


async def test_unreachable_api_is_a_connection_error_after_the_retries() -> None:
    script = Script(httpx.ConnectError("connection refused"))
    with pytest.raises(FlyConnectionError) as caught:
        await transport(script, SleepRecorder()).send(call(Action.MACHINE_GET))
    assert len(script.requests) == 4
    assert not caught.value.maybe_applied


async def test_statuses_declared_as_answers_are_returned() -> None:
    script = Script(status(408))
    response = await transport(script, SleepRecorder()).send(
        call(Action.MACHINE_WAIT, answers=frozenset({408}))
    )
    assert response.status_code == 408
    assert len(script.requests) == 1


async def test_with_final_statuses_every_other_error_is_retried() -> None:
    logs = "http://logs.test/api/v1/apps/agents/logs"
    script = Script(status(400), status(502), ok({"data": []}))
    await transport(script, SleepRecorder()).send(
        call(Action.LOGS_GET, url=logs, final_statuses=frozenset({401, 404}))
    )
    assert len(script.requests) == 3
    script = Script(status(401), ok({"data": []}))
    with pytest.raises(UnauthorizedError):
        await transport(script, SleepRecorder()).send(
            call(Action.LOGS_GET, url=logs, final_statuses=frozenset({401, 404}))
        )
    assert len(script.requests) == 1


async def test_lease_nonce_and_auth_are_sent_as_headers() -> None:
    script = Script(ok())
    await transport(script, SleepRecorder()).send(
        call(Action.MACHINE_STOP, "POST", lease_nonce="nonce-123")
    )
    headers = script.requests[0].headers
    assert headers["fly-machine-lease-nonce"] == "nonce-123"
    assert headers["authorization"] == "Bearer fo1_test"


async def test_the_limiter_spaces_a_fourth_stop_of_one_machine() -> None:
    limiter_sleep = SleepRecorder()
    limiter = RateLimiter(RateLimits(safety_margin_s=0.0), clock=lambda: 0.0, sleep=limiter_sleep)
    script = Script(ok())
    fly = transport(script, SleepRecorder(), limiter=limiter)
    for _ in range(4):
        await fly.send(call(Action.MACHINE_STOP, "POST"))
    assert limiter_sleep.waits == [1.0]


async def test_retries_also_wait_for_the_limiter() -> None:
    limiter_sleep = SleepRecorder()
    limiter = RateLimiter(RateLimits(safety_margin_s=0.0), clock=lambda: 0.0, sleep=limiter_sleep)
    script = Script(status(500), status(500), status(500), ok())
    await transport(script, SleepRecorder(), limiter=limiter).send(
        call(Action.MACHINE_STOP, "POST")
    )
    assert limiter_sleep.waits == [1.0]


async def test_custom_policy_per_call_overrides_the_default() -> None:
    script = Script(status(503))
    with pytest.raises(ServerError):
        await transport(script, SleepRecorder()).send(
            call(Action.MACHINE_GET), policy=RetryPolicy.never()
        )
    assert len(script.requests) == 1
