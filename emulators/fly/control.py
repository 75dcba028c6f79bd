"""The emulator's control API (`/_emulator/...`): inspect, reset and steer the simulation.

No auth, JSON in and out, never recorded among the API requests. The routes
and their bodies are documented in the package docstring (`emulators.fly`),
which tests and acceptance checks rely on. This module never changes how the
emulated Fly API itself behaves except through the documented knobs (faults,
timings, clock, rate limits, pairing requests from simulated Telegram users). It
also answers 404 to everything under `/_emulator/offline/`: the empty package
registries (npm, ClawHub) of the machines in real-OpenClaw mode.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .errors import ApiError
from .ratelimit import RateLimiter
from .recording import Recorder
from .runtime import Runtime
from .state import FlyState
from .timings import FlyTimings

OFFLINE_PACKAGES_PATH = "/_emulator/offline"
"""Where real-OpenClaw machines find their package registries: nothing is ever found there."""


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "invalid JSON body"}), content_type="application/json"
        ) from None


class ControlApi:
    def __init__(
        self,
        *,
        runtime: Runtime,
        state: FlyState,
        recorder: Recorder,
        limiter: RateLimiter,
        initial_timings: FlyTimings,
    ) -> None:
        self.runtime = runtime
        self.state = state
        self.recorder = recorder
        self.limiter = limiter
        self.initial_timings = initial_timings

    def add_routes(self, app: web.Application) -> None:
        router = app.router
        router.add_get("/_emulator/state", self.get_state)
        router.add_get("/_emulator/exec", self.get_exec)
        router.add_get("/_emulator/requests", self.get_requests)
        router.add_get("/_emulator/requests/in-flight", self.get_in_flight)
        router.add_post("/_emulator/machines/{machine_id}/pairing-codes", self.pairing_code)
        router.add_post(
            "/_emulator/machines/{machine_id}/pairing-codes/expire", self.expire_pairing_codes
        )
        router.add_get("/_emulator/faults", self.get_faults)
        router.add_post("/_emulator/faults", self.post_faults)
        router.add_post("/_emulator/reset", self.reset)
        router.add_get("/_emulator/timings", self.get_timings)
        router.add_post("/_emulator/timings", self.post_timings)
        router.add_post("/_emulator/clock", self.post_clock)
        router.add_get("/_emulator/rate-limits", self.get_rate_limits)
        router.add_post("/_emulator/rate-limits", self.post_rate_limits)
        router.add_route("*", f"{OFFLINE_PACKAGES_PATH}/{{tail:.*}}", self.offline_packages)

    async def offline_packages(self, request: web.Request) -> web.Response:
        return _error(404, "not found: the emulated machines' package registries are empty")

    async def get_state(self, request: web.Request) -> web.Response:
        return _json(self.state.describe())

    async def get_exec(self, request: web.Request) -> web.Response:
        return _json(self.state.execs.describe())

    async def get_requests(self, request: web.Request) -> web.Response:
        raw = request.query.get("since", "0")
        try:
            since = int(raw)
        except ValueError:
            return _error(400, f"invalid since {raw!r}")
        return _json(self.recorder.since(since))

    async def get_in_flight(self, request: web.Request) -> web.Response:
        return _json(list(self.recorder.in_flight.values()))

    async def pairing_code(self, request: web.Request) -> web.Response:
        body = await _body(request) or {}
        if not isinstance(body, dict):
            return _error(400, "body must be a JSON object")
        sender = body.get("sender_id")
        if sender is not None and (
            isinstance(sender, bool)
            or not isinstance(sender, int | str)
            or not str(sender).isdigit()
        ):
            return _error(400, "sender_id must be a Telegram user id (digits)")
        first_name = body.get("first_name", "u")
        username = body.get("username")
        if not isinstance(first_name, str) or (
            username is not None and not isinstance(username, str)
        ):
            return _error(400, "first_name and username must be strings")
        try:
            issue, sender_id = self.state.issue_pairing_code(
                request.match_info["machine_id"],
                str(sender) if sender is not None else None,
                first_name,
                username,
            )
        except ApiError as error:
            return _json(error.body, error.status)
        if issue.code is None:
            return _json({"error": issue.refusal, "sender_id": sender_id}, 409)
        return _json({"code": issue.code, "sender_id": sender_id, "created": issue.created})

    async def expire_pairing_codes(self, request: web.Request) -> web.Response:
        body = await _body(request) or {}
        if not isinstance(body, dict):
            return _error(400, "body must be a JSON object")
        code = body.get("code")
        if code is not None and not isinstance(code, str):
            return _error(400, "code must be a string")
        try:
            expired = self.state.expire_pairing_codes(request.match_info["machine_id"], code)
        except ApiError as error:
            return _json(error.body, error.status)
        return _json({"expired": expired})

    async def get_faults(self, request: web.Request) -> web.Response:
        return _json(self.runtime.faults.describe())

    async def post_faults(self, request: web.Request) -> web.Response:
        body = await _body(request)
        try:
            crashes = self.runtime.faults.add(body)
        except ValueError as error:
            return _error(400, str(error))
        for crash in crashes:
            try:
                machine = self.state.find_machine(crash.machine_id)
                machine.crash(to=crash.to, auto_restart=crash.auto_restart)
            except ApiError as error:
                return _json(error.body, error.status)
        return _json({"ok": True, "faults": self.runtime.faults.describe()})

    async def reset(self, request: web.Request) -> web.Response:
        await self.state.reset()
        self.runtime.faults.clear()
        self.runtime.logs.reset()
        self.runtime.clock.reset()
        self.runtime.timings.apply(self.initial_timings.as_dict())
        self.recorder.clear()
        self.limiter.reset()
        return _json({"ok": True})

    async def get_timings(self, request: web.Request) -> web.Response:
        return _json(self.runtime.timings.as_dict())

    async def post_timings(self, request: web.Request) -> web.Response:
        body = await _body(request)
        if not isinstance(body, dict):
            return _error(400, "body must be an object {timing: seconds}")
        try:
            self.runtime.timings.apply(body)
        except ValueError as error:
            return _error(400, str(error))
        return _json(self.runtime.timings.as_dict())

    async def post_clock(self, request: web.Request) -> web.Response:
        body = await _body(request) or {}
        advance = body.get("advance_s", 0) if isinstance(body, dict) else None
        if isinstance(advance, bool) or not isinstance(advance, int | float) or advance < 0:
            return _error(400, "advance_s must be a number of seconds >= 0")
        self.runtime.clock.advance(float(advance))
        clock = self.runtime.clock
        return _json({"now": clock.iso_millis(), "offset_s": clock.offset})

    async def get_rate_limits(self, request: web.Request) -> web.Response:
        return _json(self.limiter.describe())

    async def post_rate_limits(self, request: web.Request) -> web.Response:
        body = await _body(request)
        if not isinstance(body, dict):
            return _error(400, "body must be an object")
        try:
            if body.get("reset") is True:
                self.limiter.reset()
            self.limiter.configure(body)
        except ValueError as error:
            return _error(400, str(error))
        return _json(self.limiter.describe())
