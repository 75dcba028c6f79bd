"""The aiohttp application: routes, auth, fault injection, rate limits, recording.

Every Machines API (`/v1/...`) and logs API (`/api/v1/apps/{app}/logs`)
request goes through one pipeline: parse the JSON body, check the token
(401), apply injected latency and errors, take a rate-limit token (429 with
`Retry-After`), run the handler, and record the exchange (never the whole
token). Every answer carries a `fly-request-id` header. The control routes
(`/_emulator/...`) are registered by `control.py` and skip the pipeline. The pipeline
must never record or log a whole token, nor answer without a request id.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import ids
from .api import Answer, Call, FlyApi
from .auth import AuthPolicy, presented_token
from .errors import ApiError, bad_request
from .ratelimit import RateLimiter
from .recording import Recorder
from .runtime import Runtime
from .state import FlyState


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    handler: str
    """Name of the FlyApi method."""
    action: str | None
    """Rate-limit action (None: not rate limited)."""
    scope: str
    """Which path parameter keys the rate-limit bucket: machine_id, volume_id, app or org."""


_M = "/v1/apps/{app}/machines/{machine_id}"
_V = "/v1/apps/{app}/volumes/{volume_id}"
_S = "/v1/apps/{app}/secrets/{secret_name}"

ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec("GET", "/v1/apps", "list_apps", "app_list", "org"),
    RouteSpec("POST", "/v1/apps", "create_app", "app_create", "org"),
    RouteSpec("GET", "/v1/apps/{app}", "get_app", "app_get", "app"),
    RouteSpec("GET", "/v1/apps/{app}/machines", "list_machines", "machine_list", "app"),
    RouteSpec("POST", "/v1/apps/{app}/machines", "create_machine", "machine_launch", "app"),
    RouteSpec("GET", _M, "get_machine", "machine_get", "machine_id"),
    RouteSpec("POST", _M, "update_machine", "machine_update", "machine_id"),
    RouteSpec("DELETE", _M, "destroy_machine", "machine_destroy", "machine_id"),
    RouteSpec("POST", _M + "/start", "start_machine", "machine_start", "machine_id"),
    RouteSpec("POST", _M + "/stop", "stop_machine", "machine_stop", "machine_id"),
    RouteSpec("POST", _M + "/restart", "restart_machine", "machine_restart", "machine_id"),
    RouteSpec("POST", _M + "/suspend", "suspend_machine", "machine_suspend", "machine_id"),
    RouteSpec("POST", _M + "/cordon", "cordon_machine", "machine_cordon", "machine_id"),
    RouteSpec("POST", _M + "/uncordon", "cordon_machine", "machine_uncordon", "machine_id"),
    RouteSpec("GET", _M + "/wait", "wait_machine", "machine_wait", "machine_id"),
    RouteSpec("GET", _M + "/events", "machine_events", "machine_events", "machine_id"),
    RouteSpec("POST", _M + "/exec", "exec_machine", "machine_exec", "machine_id"),
    RouteSpec("GET", _M + "/lease", "get_lease", "machine_find_lease", "machine_id"),
    RouteSpec("POST", _M + "/lease", "acquire_lease", "machine_acquire_lease", "machine_id"),
    RouteSpec("DELETE", _M + "/lease", "release_lease", "machine_release_lease", "machine_id"),
    RouteSpec("GET", _M + "/metadata", "get_metadata", "metadata_get", "machine_id"),
    RouteSpec("GET", _M + "/metadata/{key}", "get_metadata_key", "metadata_get", "machine_id"),
    RouteSpec("POST", _M + "/metadata/{key}", "set_metadata_key", "metadata_set", "machine_id"),
    RouteSpec(
        "DELETE", _M + "/metadata/{key}", "delete_metadata_key", "metadata_del", "machine_id"
    ),
    RouteSpec("GET", "/v1/apps/{app}/volumes", "list_volumes", "volume_list", "app"),
    RouteSpec("POST", "/v1/apps/{app}/volumes", "create_volume", "volume_create", "app"),
    RouteSpec("GET", _V, "get_volume", "volume_get", "volume_id"),
    RouteSpec("DELETE", _V, "delete_volume", "volume_delete", "volume_id"),
    RouteSpec("GET", _V + "/snapshots", "list_snapshots", "volume_snapshot_list", "volume_id"),
    RouteSpec("POST", _V + "/snapshots", "create_snapshot", "volume_snapshot_create", "volume_id"),
    RouteSpec("GET", "/v1/apps/{app}/secrets", "list_secrets", "app_secrets_list", "app"),
    RouteSpec("POST", "/v1/apps/{app}/secrets", "update_secrets", "app_secrets_update", "app"),
    RouteSpec("GET", _S, "get_secret", "app_secret_get", "app"),
    RouteSpec("POST", _S, "set_secret", "app_secret_set", "app"),
    RouteSpec("DELETE", _S, "delete_secret", "app_secret_delete", "app"),
    RouteSpec("GET", "/api/v1/apps/{app}/logs", "app_logs", None, "app"),
)


def _query(request: web.Request) -> dict[str, list[str]]:
    query: dict[str, list[str]] = {}
    for key in request.query:
        if key not in query:
            query[key] = list(request.query.getall(key))
    return query


class ApiPipeline:
    """Serves one API request from the wire to the recorded answer."""

    def __init__(
        self,
        *,
        runtime: Runtime,
        state: FlyState,
        auth: AuthPolicy,
        limiter: RateLimiter,
        recorder: Recorder,
    ) -> None:
        self.runtime = runtime
        self.state = state
        self.auth = auth
        self.limiter = limiter
        self.recorder = recorder
        self.api = FlyApi(state)

    def endpoint(
        self, route: RouteSpec | None
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def serve(request: web.Request) -> web.StreamResponse:
            return await self._serve(request, route)

        return serve

    async def _serve(self, request: web.Request, route: RouteSpec | None) -> web.StreamResponse:
        request_id = ids.request_id()
        self.recorder.arrived(request_id, request.method, request.path)
        try:
            return await self._serve_recorded(request, route, request_id)
        finally:
            self.recorder.left(request_id)

    async def _serve_recorded(
        self, request: web.Request, route: RouteSpec | None, request_id: str
    ) -> web.StreamResponse:
        raw = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        query = _query(request)
        token = presented_token(request.headers.get("Authorization"))
        body: Any = None
        body_error: ApiError | None = None
        if raw:
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                body = raw.decode("utf-8", "replace")
                body_error = bad_request("invalid JSON in request body")
        try:
            answer = await self._answer(request, route, token, query, headers, body, body_error)
        except ApiError as error:
            answer = Answer(status=error.status, body=error.body, headers=dict(error.headers))
        if answer.empty:
            response = web.Response(status=answer.status)
            response_body = None
        else:
            response = web.Response(
                status=answer.status,
                text=json.dumps(answer.body),
                content_type="application/json",
            )
            response_body = answer.body
        response.headers.update(answer.headers)
        response.headers["fly-request-id"] = request_id
        self.recorder.record(
            method=request.method,
            path=request.path,
            query=query,
            headers=headers,
            token=token,
            request_body=body,
            status=answer.status,
            response_body=response_body,
            response_headers={k.lower(): v for k, v in response.headers.items()},
        )
        return response

    async def _answer(
        self,
        request: web.Request,
        route: RouteSpec | None,
        token: str | None,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: Any,
        body_error: ApiError | None,
    ) -> Answer:
        if route is None:
            raise ApiError(404, f"no route for {request.method} {request.path}")
        params = dict(request.match_info)
        self.auth.check(token, params.get("app"))
        if body_error is not None:
            raise body_error
        faults = self.runtime.faults
        latency = faults.latency_for(request.method, request.path)
        if latency > 0:
            await asyncio.sleep(latency)
        hit = faults.error_for(request.method, request.path, body)
        if hit is not None and hit.mode == "before":
            return Answer(status=hit.status, body=hit.body, headers=dict(hit.headers))
        if route.action is not None:
            key = "org" if route.scope == "org" else params.get(route.scope, "")
            retry_after = self.limiter.take(route.action, key)
            if retry_after is not None:
                raise ApiError(
                    429, "rate limit exceeded", headers={"Retry-After": str(retry_after)}
                )
        handler: Callable[[Call], Awaitable[Answer]] = getattr(self.api, route.handler)
        answer = await handler(
            Call(params=params, query=query, headers=headers, body=body, token=token)
        )
        if hit is not None:
            return Answer(status=hit.status, body=hit.body, headers=dict(hit.headers))
        return answer


def add_api_routes(app: web.Application, pipeline: ApiPipeline) -> None:
    for route in ROUTES:
        app.router.add_route(route.method, route.path, pipeline.endpoint(route))


def add_fallback_route(app: web.Application, pipeline: ApiPipeline) -> None:
    """Unknown paths answer Fly's JSON 404 (and are recorded) instead of aiohttp's page."""
    app.router.add_route("*", "/{tail:.*}", pipeline.endpoint(None))


@web.middleware
async def request_id_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    response = await handler(request)
    if "fly-request-id" not in response.headers:
        response.headers["fly-request-id"] = ids.request_id()
    return response
