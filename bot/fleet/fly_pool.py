"""One connection pool and one rate limiter for every Fly app and token the bot uses.

Each tenant may live in its own Fly app with its own token; the rate-limit and retry rules
apply per app and machine, and all of them share one HTTP pool. Clients are cached per
(app, token) without the token ever being used as readable text.
"""

from __future__ import annotations

import hashlib

import httpx

from flyclient import FlyClient, RateLimiter, RateLimits, RetryPolicy


class FlyPool:
    def __init__(
        self,
        *,
        machines_url: str,
        logs_url: str,
        rate_limits: RateLimits | None = None,
        retry_policy: RetryPolicy | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self._machines_url = machines_url
        self._logs_url = logs_url
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=10.0))
        self._limiter = RateLimiter(rate_limits)
        self._retry_policy = retry_policy or RetryPolicy()
        self._clients: dict[tuple[str, bytes], FlyClient] = {}

    def client(self, app: str, token: str) -> FlyClient:
        # A digest keys the cache so the token is not kept twice in readable form.
        key = (app, hashlib.sha256(token.encode()).digest())
        client = self._clients.get(key)
        if client is None:
            client = FlyClient(
                token=token,
                app=app,
                machines_url=self._machines_url,
                logs_url=self._logs_url,
                http_client=self._http,
                limiter=self._limiter,
                retry_policy=self._retry_policy,
            )
            self._clients[key] = client
        return client

    async def aclose(self) -> None:
        self._clients.clear()
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"FlyPool(machines_url={self._machines_url!r}, clients={len(self._clients)})"
