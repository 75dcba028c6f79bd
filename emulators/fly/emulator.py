"""`FlyEmulator`: start and stop the emulated Fly Machines + logs API on a loopback port.

Wires the runtime, state, API pipeline and control API into one aiohttp
application served by `AppRunner` + `TCPSite` (port 0 picks a free port).
Stopping cancels every background transition and hung exec first, so no
task outlives the emulator. With ``openclaw=`` (real-OpenClaw mode, see
`real_openclaw`) stopping also kills every machine's real processes and
removes the emulator's folders. It must never bind to anything but the host
it is given, and never load anything from outside the package.
"""

from __future__ import annotations

import copy
from pathlib import Path
from types import TracebackType

from aiohttp import web

from .auth import AuthPolicy
from .control import OFFLINE_PACKAGES_PATH, ControlApi
from .ratelimit import RateLimiter
from .real_openclaw import DEFAULT_APP_DIR, OpenClawInstall, RealOpenClaw
from .recording import Recorder
from .runtime import Runtime
from .server import ApiPipeline, add_api_routes, add_fallback_route, request_id_middleware
from .state import FlyState
from .timings import FlyTimings


class FlyEmulator:
    """The emulated Fly platform. Use `async with FlyEmulator(...) as emu:` or start/stop.

    ``openclaw`` (the path of ``openclaw.mjs``) switches machines to the real
    OpenClaw runtime: ``node`` is the Node 24 binary (default: the one
    installed next to OpenClaw, else ``node`` on PATH) and ``telegram_api_root``
    the Bot API root the gateways poll. ``openclaw_dir`` is the image's folder
    that holds ``openclaw.mjs`` (``/app``) in either mode. Bad paths raise
    `RealOpenClawError` (a ValueError) here, before anything starts.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        apps: tuple[str, ...] | list[str] = ("agents",),
        app_tokens: dict[str, str] | None = None,
        timings: FlyTimings | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        openclaw: Path | None = None,
        node: Path | None = None,
        telegram_api_root: str | None = None,
        openclaw_dir: str = DEFAULT_APP_DIR,
    ) -> None:
        self._openclaw_dir = openclaw_dir
        self.openclaw_install = (
            OpenClawInstall.locate(
                openclaw=openclaw,
                node=node,
                telegram_api_root=telegram_api_root,
                app_dir=openclaw_dir,
            )
            if openclaw is not None
            else None
        )
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
        real = RealOpenClaw(self.openclaw_install) if self.openclaw_install is not None else None
        runtime = Runtime(timings=self.timings, openclaw_dir=self._openclaw_dir, real=real)
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
        if real is not None:
            real.package_sources_url = f"{self.root_url}{OFFLINE_PACKAGES_PATH}"
        self._runner = runner
        self.runtime = runtime
        self.state = state

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        if self.runtime is not None:
            await self.runtime.shutdown()
            if self.runtime.real is not None:
                self.runtime.real.close()
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
