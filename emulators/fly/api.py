"""The handlers of the emulated Machines API and logs API, independent of the HTTP server.

Each handler takes a decoded `Call` (path parameters, query, headers, JSON
body, token) and returns an `Answer` (status, JSON body or an empty body,
headers), or raises `ApiError`. Rules for request bodies come from
`validation`, rules across resources from `state`, per-machine rules from
`machine`. Real-world deviations from the OpenAPI spec that are reproduced on
purpose are listed in the package docstring. Handlers never touch aiohttp objects and
never bypass the state layer's rules.
"""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from . import ids
from .errors import ApiError, bad_request, lease_error
from .leases import Lease, owner_for_token
from .machine import Machine
from .state import DEFAULT_LEASE_TTL_S, App, FlyState
from .validation import (
    WAIT_STATES,
    parse_bool_query,
    parse_timeout_seconds,
    parse_wait_timeout,
    validate_create_app,
    validate_create_machine,
    validate_create_volume,
    validate_exec,
    validate_signal_query,
    validate_stop,
    validate_update_machine,
)

NONCE_HEADER = "fly-machine-lease-nonce"
MAX_EVENTS = 50


@dataclass
class Call:
    params: dict[str, str]
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    token: str | None

    def q(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Answer:
    status: int
    body: Any = None
    empty: bool = False
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Call], Awaitable[Answer]]


def ok(body: Any, status: int = 200) -> Answer:
    return Answer(status=status, body=body)


def empty(status: int) -> Answer:
    return Answer(status=status, empty=True)


def _states_from_query(call: Call, name: str) -> list[str]:
    states: list[str] = []
    for raw in call.query.get(name, []):
        states.extend(part.strip() for part in raw.split(",") if part.strip())
    return states


class FlyApi:
    def __init__(self, state: FlyState) -> None:
        self.state = state

    # ----- helpers ----------------------------------------------------------

    def _app(self, call: Call) -> App:
        return self.state.app(call.params["app"])

    def _machine(self, call: Call) -> tuple[App, Machine]:
        app = self._app(call)
        return app, self.state.machine(app, call.params["machine_id"])

    def _leased(self, call: Call) -> Machine:
        """The machine of a mutating call, after checking the caller may act on its lease."""
        _, machine = self._machine(call)
        machine.require_lease_holder(call.header(NONCE_HEADER))
        return machine

    # ----- apps -------------------------------------------------------------

    async def list_apps(self, call: Call) -> Answer:
        org = call.q("org_slug")
        apps = [a.as_json() for a in self.state.apps.values() if org in (None, "", a.org_slug)]
        return ok({"total_apps": len(apps), "apps": apps})

    async def create_app(self, call: Call) -> Answer:
        app = self.state.create_app(validate_create_app(call.body))
        return ok(app.as_json(), status=201)

    async def get_app(self, call: Call) -> Answer:
        return ok(self._app(call).as_json())

    # ----- machines ---------------------------------------------------------

    async def list_machines(self, call: Call) -> Answer:
        app = self._app(call)
        metadata = {
            name[len("metadata.") :]: values[-1]
            for name, values in call.query.items()
            if name.startswith("metadata.") and values
        }
        machines = self.state.list_machines(
            app,
            states=set(_states_from_query(call, "state")),
            metadata=metadata,
            include_deleted=parse_bool_query(call.q("include_deleted")),
            region=call.q("region") or None,
        )
        summary = parse_bool_query(call.q("summary"))
        return ok([m.as_json(summary=summary) for m in machines])

    async def create_machine(self, call: Call) -> Answer:
        app = self._app(call)
        request = validate_create_machine(call.body)
        machine, nonce = self.state.create_machine(
            app, request, lease_owner=owner_for_token(call.token)
        )
        return ok(machine.as_json(nonce=nonce))

    async def get_machine(self, call: Call) -> Answer:
        _, machine = self._machine(call)
        return ok(machine.as_json())

    async def update_machine(self, call: Call) -> Answer:
        app, machine = self._machine(call)
        machine.require_lease_holder(call.header(NONCE_HEADER))
        self.state.update_machine(app, machine, validate_update_machine(call.body))
        return ok(machine.as_json())

    async def start_machine(self, call: Call) -> Answer:
        machine = self._leased(call)
        previous = machine.start()
        return ok({"previous_state": previous, "migrated": False, "new_host": ""})

    async def stop_machine(self, call: Call) -> Answer:
        machine = self._leased(call)
        request = validate_stop(call.body)
        machine.stop(signal=request.signal, timeout_s=request.timeout_s)
        return ok({"ok": True})

    async def restart_machine(self, call: Call) -> Answer:
        machine = self._leased(call)
        signal = validate_signal_query(call.q("signal")) or "SIGINT"
        timeout = call.q("timeout")
        timeout_s = parse_timeout_seconds(timeout, "timeout") if timeout else None
        machine.restart(signal=signal, timeout_s=timeout_s)
        return empty(200)

    async def suspend_machine(self, call: Call) -> Answer:
        machine = self._leased(call)
        machine.suspend()
        return empty(200)

    async def cordon_machine(self, call: Call) -> Answer:
        self._leased(call)
        return empty(200)

    async def destroy_machine(self, call: Call) -> Answer:
        machine = self._leased(call)
        force = parse_bool_query(call.q("force")) or parse_bool_query(call.q("kill"))
        machine.destroy(force=force)
        return ok({"ok": True})

    async def wait_machine(self, call: Call) -> Answer:
        _, machine = self._machine(call)
        states = _states_from_query(call, "state") or ["started"]
        for wanted in states:
            if wanted not in WAIT_STATES:
                raise bad_request(
                    f"invalid state {wanted!r}: must be one of {', '.join(WAIT_STATES)}"
                )
        version = call.q("version") or call.q("instance_id") or None
        if "stopped" in states and version is None:
            raise bad_request("instance_id required when waiting for stopped machine")
        timeout = parse_wait_timeout(call.q("timeout"))
        scale = self.state.runtime.timings.request_timeout_scale
        return ok(await machine.wait(states, version, timeout * scale))

    async def machine_events(self, call: Call) -> Answer:
        _, machine = self._machine(call)
        raw = call.q("limit")
        limit = MAX_EVENTS
        if raw:
            try:
                limit = max(1, min(MAX_EVENTS, int(raw)))
            except ValueError:
                raise bad_request(f"invalid limit {raw!r}") from None
        return ok(list(reversed(machine.events))[:limit])

    async def exec_machine(self, call: Call) -> Answer:
        _, machine = self._machine(call)
        request = validate_exec(call.body, shlex.split)
        return ok(await self.state.execs.execute(machine, request.argv, request.timeout_s))

    # ----- leases -----------------------------------------------------------

    def _lease_ttl(self, call: Call) -> int:
        raw_query = call.q("ttl")
        if raw_query:
            try:
                ttl = int(raw_query)
            except ValueError:
                raise bad_request(f"invalid ttl {raw_query!r}") from None
        else:
            body = call.body if isinstance(call.body, dict) else {}
            raw = body.get("ttl", DEFAULT_LEASE_TTL_S)
            if isinstance(raw, bool) or not isinstance(raw, int):
                raise bad_request("invalid ttl: expected an integer number of seconds")
            ttl = raw
        if ttl <= 0:
            ttl = DEFAULT_LEASE_TTL_S
        return ttl

    async def acquire_lease(self, call: Call) -> Answer:
        _, machine = self._machine(call)
        if machine.state in ("destroying", "destroyed"):
            raise lease_error(
                412, f"machine {machine.id} is {machine.state}", "failed_precondition"
            )
        ttl = self._lease_ttl(call)
        body = call.body if isinstance(call.body, dict) else {}
        description = body.get("description", "")
        if not isinstance(description, str):
            raise bad_request("invalid description: expected a string")
        now = self.state.runtime.clock.now()
        lease = machine.active_lease()
        presented = call.header(NONCE_HEADER)
        if lease is not None:
            if presented != lease.nonce:
                raise lease_error(
                    409,
                    f"lease currently held by {lease.owner}, expires at "
                    f"{self.state.runtime.clock.iso(lease.expires_at)}",
                    "already_leased",
                )
            lease.expires_at = now + ttl
            if description:
                lease.description = description
            return ok(lease.wrapped(), status=201)
        lease = Lease(
            nonce=ids.lease_nonce(),
            owner=owner_for_token(call.token),
            description=description,
            expires_at=now + ttl,
            version=machine.instance_id,
        )
        machine.lease = lease
        return ok(lease.wrapped(), status=201)

    async def get_lease(self, call: Call) -> Answer:
        _, machine = self._machine(call)
        lease = machine.active_lease()
        if lease is None:
            raise lease_error(404, f"no active lease on machine {machine.id}", "not_found")
        return ok(lease.wrapped())

    async def release_lease(self, call: Call) -> Answer:
        _, machine = self._machine(call)
        presented = call.header(NONCE_HEADER)
        if not presented:
            raise lease_error(400, "the fly-machine-lease-nonce header is required", "bad_request")
        lease = machine.active_lease()
        if lease is None:
            raise lease_error(404, f"no active lease on machine {machine.id}", "not_found")
        if presented != lease.nonce:
            raise lease_error(409, f"lease currently held by {lease.owner}", "already_leased")
        machine.lease = None
        return ok({"status": "success", "data": {"ok": True}})

    # ----- metadata ---------------------------------------------------------

    async def get_metadata(self, call: Call) -> Answer:
        _, machine = self._machine(call)
        return ok(dict(machine.config.get("metadata") or {}))

    async def get_metadata_key(self, call: Call) -> Answer:
        _, machine = self._machine(call)
        metadata = machine.config.get("metadata") or {}
        key = call.params["key"]
        if key not in metadata:
            raise ApiError(404, f"metadata key {key!r} not found")
        return ok({"value": metadata[key]})

    async def set_metadata_key(self, call: Call) -> Answer:
        _, machine = self._machine(call)
        body = call.body if isinstance(call.body, dict) else {}
        value = body.get("value")
        if not isinstance(value, str):
            raise bad_request("invalid value: expected a string")
        metadata = machine.config.get("metadata") or {}
        metadata[call.params["key"]] = value
        machine.config["metadata"] = metadata
        machine.updated_at = self.state.runtime.clock.now()
        return empty(204)

    async def delete_metadata_key(self, call: Call) -> Answer:
        _, machine = self._machine(call)
        metadata = machine.config.get("metadata") or {}
        metadata.pop(call.params["key"], None)
        machine.config["metadata"] = metadata
        machine.updated_at = self.state.runtime.clock.now()
        return empty(204)

    # ----- app secrets --------------------------------------------------------

    async def list_secrets(self, call: Call) -> Answer:
        app = self._app(call)
        show = parse_bool_query(call.q("show_secrets"))
        return ok({"secrets": app.secrets.listing(show_values=show)})

    async def update_secrets(self, call: Call) -> Answer:
        app = self._app(call)
        body = call.body if isinstance(call.body, dict) else None
        values = body.get("values") if body is not None else None
        if not isinstance(values, dict):
            raise bad_request('invalid request: expected {"values": {NAME: value or null}}')
        for name, value in values.items():
            if value is not None and not isinstance(value, str):
                raise bad_request(f"invalid value for secret {name!r}: expected a string or null")
        for name, value in values.items():
            if value is None:
                app.secrets.delete(name)
            else:
                app.secrets.set(name, value)
        version = app.secrets.bump()
        return ok({"secrets": app.secrets.listing(show_values=False), "version": version})

    async def get_secret(self, call: Call) -> Answer:
        app = self._app(call)
        secret = app.secrets.items.get(call.params["secret_name"])
        if secret is None:
            raise ApiError(404, f"secret {call.params['secret_name']!r} not found")
        show = parse_bool_query(call.q("show_secrets"))
        return ok(secret.as_json(self.state.runtime.clock, show_value=show))

    async def set_secret(self, call: Call) -> Answer:
        app = self._app(call)
        body = call.body if isinstance(call.body, dict) else {}
        value = body.get("value")
        if not isinstance(value, str):
            raise bad_request("invalid value: expected a string")
        secret = app.secrets.set(call.params["secret_name"], value)
        version = app.secrets.bump()
        answer = secret.as_json(self.state.runtime.clock, show_value=False)
        answer["version"] = version
        return ok(answer, status=201)

    async def delete_secret(self, call: Call) -> Answer:
        app = self._app(call)
        if not app.secrets.delete(call.params["secret_name"]):
            raise ApiError(404, f"secret {call.params['secret_name']!r} not found")
        return ok({"version": app.secrets.bump()})

    # ----- volumes and snapshots ---------------------------------------------

    def _now_mono(self) -> float:
        return self.state.runtime.monotonic()

    async def list_volumes(self, call: Call) -> Answer:
        app = self._app(call)
        clock, now_mono = self.state.runtime.clock, self._now_mono()
        volumes = sorted(
            (v for v in app.volumes.values() if not v.destroyed), key=lambda v: v.created_at
        )
        return ok([v.as_json(clock, now_mono) for v in volumes])

    async def create_volume(self, call: Call) -> Answer:
        app = self._app(call)
        volume = self.state.create_volume(app, validate_create_volume(call.body))
        return ok(volume.as_json(self.state.runtime.clock, self._now_mono()))

    async def get_volume(self, call: Call) -> Answer:
        volume = self.state.volume(self._app(call), call.params["volume_id"])
        return ok(volume.as_json(self.state.runtime.clock, self._now_mono()))

    async def delete_volume(self, call: Call) -> Answer:
        volume = self.state.delete_volume(self._app(call), call.params["volume_id"])
        return ok(volume.as_json(self.state.runtime.clock, self._now_mono()))

    async def list_snapshots(self, call: Call) -> Answer:
        snapshots = self.state.snapshots_of(self._app(call), call.params["volume_id"])
        clock, now_mono = self.state.runtime.clock, self._now_mono()
        return ok([s.as_json(clock, now_mono) for s in snapshots])

    async def create_snapshot(self, call: Call) -> Answer:
        self.state.create_snapshot(self._app(call), call.params["volume_id"])
        # The real API answers 200 with an empty body: the new id is not in it.
        return empty(200)

    # ----- logs (api.fly.io) ------------------------------------------------

    async def app_logs(self, call: Call) -> Answer:
        app = self._app(call)
        entries, next_token = self.state.runtime.logs.query(
            app.name,
            instance=call.q("instance") or None,
            region=call.q("region") or None,
            next_token=call.q("next_token"),
        )
        return ok({"data": [e.as_json() for e in entries], "meta": {"next_token": next_token}})
