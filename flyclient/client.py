"""`FlyClient`: the Fly Machines and logs APIs for one app and one token.

    async with FlyClient(token=token, app="agents") as fly:
        machine = await fly.create_machine(config, region="ams", op_id=journal_op_id)
        await fly.wait_for_state(machine.id, "started", deadline_s=120)

A client is cheap. One process that talks to several apps with several tokens builds ONE
`httpx.AsyncClient` and ONE `RateLimiter` and passes them to every `FlyClient`
(`http_client=`, `limiter=`), or derives clients from a first one with `with_app()`. A client
closes only the connection pool it created itself.

The operations live in one mixin per resource (`apps`, `machines`, `wait`, `metadata`,
`leases`, `volumes`, `volume_waits`, `logs`); this module wires them to a transport.

This module must never expose the token: the repr shows the app and URLs only.
"""

from __future__ import annotations

from types import TracebackType
from typing import Final, Self

import httpx

from flyclient._http import DEFAULT_TIMEOUT, FlyTransport
from flyclient.apps import AppsMixin
from flyclient.auth import FlyToken, as_token
from flyclient.leases import LeasesMixin
from flyclient.logs import LogsMixin
from flyclient.machines import OP_ID_METADATA_KEY
from flyclient.metadata import MetadataMixin
from flyclient.ratelimit import RateLimiter, RateLimits
from flyclient.retry import RetryPolicy
from flyclient.volume_waits import VolumeWaitsMixin
from flyclient.wait import WaitMixin

DEFAULT_MACHINES_URL: Final = "https://api.machines.dev/v1"
DEFAULT_LOGS_URL: Final = "https://api.fly.io"


class FlyClient(AppsMixin, WaitMixin, MetadataMixin, LeasesMixin, VolumeWaitsMixin, LogsMixin):
    """Async client for one Fly app.

    Args:
        token: the API token (`fo1_…`, a macaroon `fm2_…`, or a whole `FlyV1 …` string).
        app: the app every call addresses.
        machines_url: the Machines API base INCLUDING `/v1`.
        logs_url: the logs API host root (the path `/api/v1/apps/{app}/logs` is appended).
        http_client: a shared connection pool; when given it is not closed by this client.
        limiter: a shared rate limiter; when omitted one is built from `rate_limits`.
        rate_limits: limits for a limiter built here (`RateLimits.disabled()` to switch off).
        retry_policy: attempts and time budget for retries (`RetryPolicy.never()` to switch off).
        timeout: seconds, or an `httpx.Timeout`, for ordinary calls (wait and exec extend it).
        op_id_metadata_key: the metadata key that carries a create's operation id.
    """

    def __init__(
        self,
        *,
        token: str | FlyToken,
        app: str,
        machines_url: str = DEFAULT_MACHINES_URL,
        logs_url: str = DEFAULT_LOGS_URL,
        http_client: httpx.AsyncClient | None = None,
        limiter: RateLimiter | None = None,
        rate_limits: RateLimits | None = None,
        retry_policy: RetryPolicy | None = None,
        timeout: httpx.Timeout | float | None = None,
        op_id_metadata_key: str = OP_ID_METADATA_KEY,
    ) -> None:
        if not app:
            raise ValueError("a FlyClient needs an app name")
        self._app = app
        self._machines_url = machines_url.rstrip("/")
        self._logs_url = logs_url.rstrip("/")
        self._op_id_metadata_key = op_id_metadata_key
        self._owns_http = http_client is None
        resolved_timeout = _resolve_timeout(timeout)
        self._transport = FlyTransport(
            token=as_token(token),
            http=http_client or httpx.AsyncClient(timeout=resolved_timeout),
            limiter=limiter or RateLimiter(rate_limits),
            retry_policy=retry_policy or RetryPolicy(),
            timeout=resolved_timeout,
        )

    @classmethod
    def _derived(
        cls,
        transport: FlyTransport,
        *,
        app: str,
        machines_url: str,
        logs_url: str,
        op_id_metadata_key: str,
    ) -> FlyClient:
        client = cls.__new__(cls)
        client._app = app
        client._machines_url = machines_url
        client._logs_url = logs_url
        client._op_id_metadata_key = op_id_metadata_key
        client._owns_http = False
        client._transport = transport
        return client

    def with_app(self, app: str, *, token: str | FlyToken | None = None) -> FlyClient:
        """A client for another app (and optionally another token) sharing this one's pool,
        limiter and retry policy. It does not own the pool: close this client last."""
        transport = (
            self._transport if token is None else self._transport.with_token(as_token(token))
        )
        return self._derived(
            transport,
            app=app,
            machines_url=self._machines_url,
            logs_url=self._logs_url,
            op_id_metadata_key=self._op_id_metadata_key,
        )

    @property
    def limiter(self) -> RateLimiter:
        return self._transport.limiter

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._transport.retry_policy

    @property
    def machines_url(self) -> str:
        return self._machines_url

    @property
    def logs_url(self) -> str:
        return self._logs_url

    @property
    def op_id_metadata_key(self) -> str:
        return self._op_id_metadata_key

    async def aclose(self) -> None:
        """Close the connection pool if this client created it."""
        if self._owns_http:
            await self._transport.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"FlyClient(app={self._app!r}, machines_url={self._machines_url!r}, "
            f"logs_url={self._logs_url!r}, token={self._transport.token!r})"
        )


def _resolve_timeout(timeout: httpx.Timeout | float | None) -> httpx.Timeout:
    if timeout is None:
        return DEFAULT_TIMEOUT
    if isinstance(timeout, httpx.Timeout):
        return timeout
    return httpx.Timeout(
        timeout, connect=min(timeout, DEFAULT_TIMEOUT.connect or timeout), pool=None
    )
