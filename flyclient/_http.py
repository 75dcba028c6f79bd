"""The transport: one place that authenticates, rate-limits, sends, retries and logs requests.

`FlyTransport.send(call)` takes an `ApiCall` (action, method, URL, body) and returns the
`httpx.Response` of the first acceptable answer, or raises a `flyclient.errors` exception.
Per attempt it waits for the rate limiter, sends, and then decides from the action's retry
class (`flyclient.actions`) and the answer whether to back off (`flyclient.retry`) and resend.
`FlyTransport.send_streaming(call, consume)` is the same loop for answers too large to hold:
`consume` reads an acceptable answer's body as it arrives, and a connection lost mid-body is
a failed attempt like any other.

Safety rules kept here:
- the token lives in a `FlyToken` and is revealed only to build the `Authorization` header;
- exceptions are built from primitives (status, body, request line) and raised outside any
  `except` block that holds an httpx exception, so no request object (with its headers) is
  reachable from what callers catch, not even through `__context__`;
- log records carry method, path, status, fly-request-id and attempt number only.

This module must never log or raise with headers or the token, and never retry a request
whose action is not idempotent unless the request certainly was not executed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar
from urllib.parse import quote, urlsplit

import httpx

from flyclient.actions import Action, Retry
from flyclient.auth import FlyToken
from flyclient.errors import (
    FlyConnectionError,
    FlyError,
    FlyTimeoutError,
    error_for_status,
)
from flyclient.ratelimit import RateLimiter, Sleep
from flyclient.retry import RetryPolicy, parse_retry_after

logger = logging.getLogger("flyclient")

AnswerT = TypeVar("AnswerT")

USER_AGENT: Final = "fly-agents-bot-flyclient/0.1"
REQUEST_ID_HEADER: Final = "fly-request-id"
LEASE_NONCE_HEADER: Final = "fly-machine-lease-nonce"

# No pool timeout: long polls hold connections, and every queued request still has its own
# connect/read timeouts once it gets one.
DEFAULT_TIMEOUT: Final = httpx.Timeout(30.0, connect=10.0, pool=None)

# Errors raised before a single byte of the request left this process: resending is safe
# for every action.
_NOT_SENT_ERRORS: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def path_segment(value: str) -> str:
    """`value` quoted for use as one path segment (app names, ids, metadata keys)."""
    return quote(value, safe="")


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One logical request, possibly sent several times.

    Attributes:
        action: what the call is (decides rate-limit bucket and retry class).
        limit_key: the app, machine or volume the rate-limit bucket belongs to.
        method, url: the request line; `url` is absolute (hosts differ per API).
        params: query parameters.
        json_body: the JSON body, already free of nulls.
        lease_nonce: sent as `fly-machine-lease-nonce` when given.
        timeout_s: overrides the read timeout (long polls, exec).
        answers: non-2xx statuses that are answers, not errors (408 for wait).
        final_statuses: when set, every other non-2xx status is retried (logs API rule).
    """

    action: Action
    limit_key: str
    method: str
    url: str
    params: Mapping[str, str] | None = None
    json_body: Any = None
    lease_nonce: str | None = None
    timeout_s: float | None = None
    answers: frozenset[int] = field(default_factory=frozenset)
    final_statuses: frozenset[int] | None = None

    @property
    def path(self) -> str:
        return urlsplit(self.url).path


@dataclass(frozen=True, slots=True)
class _Accepted(Generic[AnswerT]):
    """What `consume` made of an acceptable answer."""

    value: AnswerT


@dataclass(frozen=True, slots=True)
class _Failure:
    """What went wrong with one attempt, kept as primitives (no httpx objects)."""

    error: FlyError
    retryable: bool
    retry_after_s: float | None = None


class FlyTransport:
    """Sends `ApiCall`s for one token over a (possibly shared) `httpx.AsyncClient`."""

    def __init__(
        self,
        *,
        token: FlyToken,
        http: httpx.AsyncClient,
        limiter: RateLimiter,
        retry_policy: RetryPolicy,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._token = token
        self._http = http
        self.limiter = limiter
        self.retry_policy = retry_policy
        self.timeout = timeout
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()

    @property
    def http(self) -> httpx.AsyncClient:
        return self._http

    @property
    def token(self) -> FlyToken:
        return self._token

    def with_token(self, token: FlyToken) -> FlyTransport:
        """A transport for another token sharing this one's pool, limiter and policy."""
        return FlyTransport(
            token=token,
            http=self._http,
            limiter=self.limiter,
            retry_policy=self.retry_policy,
            timeout=self.timeout,
            clock=self._clock,
            sleep=self._sleep,
            rng=self._rng,
        )

    async def sleep(self, seconds: float) -> None:
        await self._sleep(seconds)

    async def send(self, call: ApiCall, *, policy: RetryPolicy | None = None) -> httpx.Response:
        """Send `call` until it gets an acceptable answer or the retry budget is spent."""
        return await self.send_streaming(call, _read_whole, policy=policy)

    async def send_streaming(
        self,
        call: ApiCall,
        consume: Callable[[httpx.Response], Awaitable[AnswerT]],
        *,
        policy: RetryPolicy | None = None,
    ) -> AnswerT:
        """Send `call` like `send`, and hand each acceptable answer to `consume` unread.

        `consume` reads the body (`aiter_bytes`) while the connection is open; what it returns
        is returned. An httpx transport error it lets through (connection lost or read timeout
        mid-body) fails the attempt, which is retried under the same rules as `send`; so
        `consume` must start from scratch on every call. Its other exceptions end the call.
        """
        schedule = (policy or self.retry_policy).schedule(clock=self._clock, rng=self._rng)
        earlier_may_have_applied = False
        while True:
            attempt = schedule.record_attempt()
            await self.limiter.acquire(call.action.rate_bucket, call.limit_key)
            outcome = await self._attempt(call, attempt, consume)
            if isinstance(outcome, _Accepted):
                return outcome.value
            delay = schedule.next_delay_s(outcome.retry_after_s) if outcome.retryable else None
            if delay is None:
                outcome.error.earlier_attempt_may_have_applied = earlier_may_have_applied
                raise outcome.error
            earlier_may_have_applied = earlier_may_have_applied or outcome.error.maybe_applied
            logger.info(
                "fly %s %s: retrying in %.2fs after %s (attempt %d)",
                call.method,
                call.path,
                delay,
                _describe(outcome.error),
                attempt,
            )
            await self._sleep(delay)

    async def _attempt(
        self,
        call: ApiCall,
        attempt: int,
        consume: Callable[[httpx.Response], Awaitable[AnswerT]],
    ) -> _Accepted[AnswerT] | _Failure:
        headers = {
            "Authorization": self._token.authorization_header(),
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }
        if call.lease_nonce:
            headers[LEASE_NONCE_HEADER] = call.lease_nonce
        timeout = self.timeout
        if call.timeout_s is not None:
            timeout = httpx.Timeout(
                connect=self.timeout.connect,
                read=call.timeout_s,
                write=self.timeout.write,
                pool=self.timeout.pool,
            )
        request = self._http.build_request(
            call.method,
            call.url,
            params=dict(call.params) if call.params else None,
            json=call.json_body,
            headers=headers,
            timeout=timeout,
        )
        outcome: _Accepted[AnswerT] | _Failure
        try:
            response = await self._http.send(request, stream=True)
            try:
                if _is_acceptable(call, response.status_code):
                    self._log_answer(call, response, attempt)
                    outcome = _Accepted(await consume(response))
                else:
                    # Error bodies are small; the whole body feeds the error's message.
                    await response.aread()
                    outcome = self._judge(call, response, attempt)
            finally:
                await response.aclose()
        except httpx.RequestError as exc:
            # Only primitives leave this block: the httpx exception references the request,
            # and the request holds the Authorization header.
            failure = self._transport_failure(call, exc)
        else:
            return outcome
        logger.warning(
            "fly %s %s failed without a complete answer: %s (attempt %d)",
            call.method,
            call.path,
            failure.error.message,
            attempt,
        )
        return failure

    def _transport_failure(self, call: ApiCall, exc: httpx.RequestError) -> _Failure:
        not_sent = isinstance(exc, _NOT_SENT_ERRORS)
        detail = self._token.scrub(f"{type(exc).__name__}: {exc}".rstrip(": "))
        common: dict[str, Any] = {
            "method": call.method,
            "path": call.path,
            "maybe_applied": not not_sent,
        }
        error: FlyError
        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
            error = FlyTimeoutError(f"no answer from Fly in time ({detail})", **common)
        else:
            error = FlyConnectionError(f"could not talk to Fly ({detail})", **common)
        retryable = not_sent or call.action.spec.retry is Retry.IDEMPOTENT
        return _Failure(error=error, retryable=retryable)

    def _log_answer(self, call: ApiCall, response: httpx.Response, attempt: int) -> None:
        logger.debug(
            "fly %s %s -> %d (attempt %d, fly-request-id %s)",
            call.method,
            call.path,
            response.status_code,
            attempt,
            response.headers.get(REQUEST_ID_HEADER),
        )

    def _judge(self, call: ApiCall, response: httpx.Response, attempt: int) -> _Failure:
        """The failure an unacceptable answer (its body read) amounts to."""
        self._log_answer(call, response, attempt)
        status = response.status_code
        request_id = response.headers.get(REQUEST_ID_HEADER)
        ambiguous = status == 408 or status >= 500
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        error = error_for_status(
            status,
            response.content,
            request_id=request_id,
            method=call.method,
            path=call.path,
            retry_after=retry_after,
            maybe_applied=ambiguous,
        )
        if call.final_statuses is not None:
            retryable = status not in call.final_statuses
        elif status == 429:
            # Rejected by the rate limiter before any work: safe to resend for every action.
            retryable = True
        elif ambiguous:
            retryable = call.action.spec.retry is Retry.IDEMPOTENT
        else:
            retryable = False
        if not retryable or status >= 500 or status == 429:
            log = logger.warning if status >= 500 or status == 429 else logger.debug
            log(
                "fly %s %s -> %d: %s (attempt %d, fly-request-id %s)",
                call.method,
                call.path,
                status,
                error.message,
                attempt,
                request_id,
            )
        return _Failure(error=error, retryable=retryable, retry_after_s=retry_after)


def _is_acceptable(call: ApiCall, status: int) -> bool:
    return 200 <= status < 300 or status in call.answers


async def _read_whole(response: httpx.Response) -> httpx.Response:
    await response.aread()
    return response


def _describe(error: FlyError) -> str:
    if error.status_code is not None:
        return f"HTTP {error.status_code}"
    return type(error).__name__
