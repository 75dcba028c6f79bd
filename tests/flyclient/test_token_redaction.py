"""The API token: which Authorization header it becomes, and that it never leaks.

Leak paths pinned here: reprs and strs of the token and the client, exception text and the
exception chain (an httpx exception would reference the request and its headers), and log
records of every logger (flyclient, httpx, httpcore) at DEBUG.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable

import httpx
import pytest

from flyclient.auth import FlyToken
from flyclient.client import FlyClient
from flyclient.errors import FlyConnectionError, FlyError
from flyclient.ratelimit import RateLimits
from flyclient.retry import RetryPolicy

CANARY = "fo1_CANARY-d0nt-l3ak-7f3a9c"
MACAROON = "fm2_lJPECAAAAAAAAMANARY,fm2_second-part-CANARY"

Handler = Callable[[httpx.Request], httpx.Response]


def client_for(handler: Handler, *, token: str = CANARY) -> FlyClient:
    return FlyClient(
        token=token,
        app="agents",
        machines_url="http://fly.test/v1",
        logs_url="http://logs.fly.test",
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        rate_limits=RateLimits.disabled(),
        retry_policy=RetryPolicy(max_attempts=2, base_delay_s=0.001, max_delay_s=0.001),
    )


def test_classic_token_is_sent_as_bearer() -> None:
    assert FlyToken("fo1_abc").authorization_header() == "Bearer fo1_abc"


@pytest.mark.parametrize("prefix", ["fm1_", "fm2_"])
def test_macaroon_token_is_sent_with_the_flyv1_scheme(prefix: str) -> None:
    assert FlyToken(f"{prefix}abc,{prefix}def").authorization_header() == (
        f"FlyV1 {prefix}abc,{prefix}def"
    )


def test_token_that_already_starts_with_flyv1_is_sent_as_is() -> None:
    assert FlyToken("FlyV1 fm2_abc").authorization_header() == "FlyV1 fm2_abc"


def test_token_repr_str_and_format_are_redacted() -> None:
    token = FlyToken(CANARY)
    for shown in (repr(token), str(token), f"{token}", f"{token!r}"):
        assert CANARY not in shown
        assert "redacted" in shown


def test_token_refuses_to_be_pickled() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(FlyToken(CANARY))


def test_surrounding_whitespace_from_a_token_file_is_ignored() -> None:
    assert FlyToken(f"  {CANARY}\n").authorization_header() == f"Bearer {CANARY}"


def test_token_with_a_control_character_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="control characters") as caught:
        FlyToken(CANARY + "\r\nX-Injected: 1")
    assert CANARY not in str(caught.value)


async def test_client_repr_hides_the_token() -> None:
    async with client_for(lambda request: httpx.Response(200, json={})) as fly:
        assert CANARY not in repr(fly)
        assert "agents" in repr(fly)


async def test_requests_carry_the_header_for_the_token_kind() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(200, json={"name": "agents"})

    async with client_for(handler) as fly:
        await fly.get_app()
    async with client_for(handler, token=MACAROON) as fly:
        await fly.get_app()
    assert seen == [f"Bearer {CANARY}", f"FlyV1 {MACAROON}"]


async def test_logs_api_uses_the_flyv1_scheme_for_macaroons() -> None:
    seen: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.headers["authorization"]))
        return httpx.Response(200, json={"data": [], "meta": {"next_token": ""}})

    async with client_for(handler, token=MACAROON) as fly:
        await fly.get_logs("1781973f5e4389")
    assert seen == [("logs.fly.test", f"FlyV1 {MACAROON}")]


def _chain(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


async def test_transport_error_quoting_the_header_is_scrubbed_and_not_chained() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        # h11 quotes an illegal header value in its message; simulate the worst case.
        raise httpx.LocalProtocolError(
            f"Illegal header value {request.headers['authorization']!r}", request=request
        )

    async with client_for(handler) as fly:
        with pytest.raises(FlyConnectionError) as caught:
            await fly.get_machine("1781973f5e4389")
    error = caught.value
    assert CANARY not in str(error)
    assert CANARY not in repr(error)
    assert "redacted" in str(error)
    for linked in _chain(error):
        assert isinstance(linked, FlyError), (
            "no httpx exception (which holds the request) is linked"
        )


async def test_api_error_text_names_the_request_but_not_the_token() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            403,
            json={"error": "not authorized for app agents"},
            headers={"fly-request-id": "01HREQUESTID"},
        )

    async with client_for(handler) as fly:
        with pytest.raises(FlyError) as caught:
            await fly.get_machine("1781973f5e4389")
    text = str(caught.value)
    assert "01HREQUESTID" in text
    assert "GET /v1/apps/agents/machines/1781973f5e4389" in text
    assert CANARY not in text
    assert CANARY not in repr(caught.value)


async def test_no_log_record_of_any_logger_contains_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            return httpx.Response(503, text="upstream down", headers={"fly-request-id": "r1"})
        if attempts == 2:
            raise httpx.ConnectError(f"refused {request.headers['authorization']}")
        return httpx.Response(200, json={"id": "1781973f5e4389", "state": "started"})

    caplog.set_level(logging.DEBUG)
    for name in ("flyclient", "httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    async with client_for(handler) as owner:
        # A derived client shares the owner's transport and must log the same way.
        derived = owner.with_app("agents")
        with pytest.raises(FlyError):
            await derived.get_machine("1781973f5e4389")
        await derived.get_machine("1781973f5e4389")
    assert caplog.records, "the client logs its requests"
    for record in caplog.records:
        assert CANARY not in record.getMessage()
        assert CANARY not in str(record.args)
