"""`FlyEmulator`: start and stop the emulated Fly Machines + logs API on a loopback port.

Wires the runtime, state, API pipeline and control API into one aiohttp
application served by `AppRunner` + `TCPSite` (port 0 picks a free port).
Stopping cancels every background transition and hung exec first, so no
task outlives the emulator. It must never bind to anything but the host it is
given, and never load anything from outside the package.
"""

from __future__ import annotations

import copy
from types import TracebackType

from aiohttp import web

from .auth import AuthPolicy
from .control import ControlApi
from .ratelimit import RateLimiter
from .recording import Recorder
from .runtime import Runtime
from .server import ApiPipeline, add_api_routes, add_fallback_route, request_id_middleware
from .state import FlyState
from .timings import FlyTimings


class FlyEmulator:
    """The emulated Fly platform. Use `async with FlyEmulator(...) as emu:` or start/stop."""

    def __init__(
        self,
        *,
        token: str | None = None,
        apps: tuple[str, ...] | list[str] = ("agents",),
        app_tokens: dict[str, str] | None = None,
        timings: FlyTimings | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._host = host
        self._port = port
        self._initial_apps = tuple(apps)
        self._auth = AuthPolicy(token=token or None, app_tokens=dict(app_tokens or {}))
        self._initial_timings = copy.copy(timings or FlyTimings())
        self.timings = copy.copy(self._initial_timings)
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None
        self.runtime: Runtime | None = None
        self.state: FlyState | None = None
        self.recorder = Recorder()
        self.limiter = RateLimiter()

    @property
    def root_url(self) -> str:
        if self._bound_port is None:
            raise RuntimeError("the emulator is not running")
        return f"http://{self._host}:{self._bound_port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    async def start(self) -> None:
        if self._runner is not None:
            return
        runtime = Runtime(timings=self.timings)
        state = FlyState(runtime, self._initial_apps)
        pipeline = ApiPipeline(
            runtime=runtime,
            state=state,
            auth=self._auth,
            limiter=self.limiter,
            recorder=self.recorder,
        )
        control = ControlApi(
            runtime=runtime,
            state=state,
            recorder=self.recorder,
            limiter=self.limiter,
            initial_timings=self._initial_timings,
        )
        app = web.Application(middlewares=[request_id_middleware])
        control.add_routes(app)
        add_api_routes(app, pipeline)
        add_fallback_route(app, pipeline)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        await site.start()
        addresses = runner.addresses
        self._bound_port = int(addresses[0][1])
        self._runner = runner
        self.runtime = runtime
        self.state = state

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        if self.runtime is not None:
            await self.runtime.shutdown()
        await runner.cleanup()
        self._bound_port = None

    async def __aenter__(self) -> FlyEmulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
