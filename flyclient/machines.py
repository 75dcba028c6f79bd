"""Machines: list, create, read, update, start, stop, restart, destroy, exec.

`list_machine_states` is the list for sweeps over whole fleets: it streams Fly's unpaginated
answer (about 2 KB per machine) into `MachineStatus` values as it arrives, instead of holding
the answer and full `Machine` models.

Create is made safe to repeat with an operation id: every `create_machine` writes a unique id
(the caller's, e.g. a journal operation id, or a fresh one) into `config.metadata` under
`OP_ID_METADATA_KEY`. When a create fails ambiguously (5xx, 408, timeout, connection lost after
the request went out) the client lists machines by that metadata; if the machine exists it is
returned, otherwise the create is sent again (at most `RetryPolicy.create_attempts` times). A
create refused as a name clash after an ambiguous attempt is resolved the same way. When the
caller gives the machine a `name` this is airtight (Fly refuses a second machine with the same
name); without one, a create that Fly applies only after our lookup came back empty could still
leave a duplicate, which the op id in its metadata makes easy to find and remove.

Exec is never resent once the request may have reached the machine: an exec whose answer is
lost raises `ExecOutcomeUnknownError`, because the command may still be running.

This module must never retry a create or exec outside the rules above.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

from flyclient._base import ClientBase
from flyclient._http import ApiCall
from flyclient.actions import Action
from flyclient.errors import (
    ConflictError,
    ExecOutcomeUnknownError,
    FlyError,
    PreconditionFailedError,
    ValidationError,
)
from flyclient.models import ExecResult, Machine, MachineConfig, MachineStatus, drop_nones

OP_ID_METADATA_KEY: Final = "fly_agents_op_id"

EXEC_MAX_TIMEOUT_S: Final = 60
"""Fly caps an exec's `timeout` at 60 s; longer commands must be run in the background."""

_STARTED_OR_ON_ITS_WAY: Final = frozenset({"starting", "started"})
_RESTARTING_OR_DONE: Final = frozenset({"restarting", "starting", "started"})

# How much longer than the server-side timeout we wait for an answer before calling it lost.
_ANSWER_GRACE_S: Final = 10.0


def new_operation_id() -> str:
    """A fresh id to tag one create with."""
    return uuid.uuid4().hex


def clamp_exec_timeout(timeout_s: float) -> int:
    """Whole seconds in 1..60, the range Fly accepts for exec."""
    return max(1, min(EXEC_MAX_TIMEOUT_S, math.ceil(timeout_s)))


def go_duration(seconds: float) -> str:
    """`seconds` as a Go duration string (`"10s"`, `"1.5s"`), the form Fly's bodies use."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{seconds:g}s"


class MachinesMixin(ClientBase):
    async def list_machines(
        self,
        *,
        state: Sequence[str] | str | None = None,
        metadata: Mapping[str, str] | None = None,
        include_deleted: bool = False,
        region: str | None = None,
        summary: bool = False,
    ) -> list[Machine]:
        """Machines of the app, filtered by Fly.

        `state` is one state or several (sent as a comma list); each `metadata` item is sent as
        `metadata.<key>=<value>`; `summary=True` omits configs, checks and events.
        """
        params: dict[str, str] = {}
        if state:
            params["state"] = state if isinstance(state, str) else ",".join(state)
        for key, value in (metadata or {}).items():
            params[f"metadata.{key}"] = value
        if include_deleted:
            params["include_deleted"] = "true"
        if region:
            params["region"] = region
        if summary:
            params["summary"] = "true"
        call = ApiCall(
            Action.MACHINE_LIST, self._app, "GET", self._app_url("machines"), params=params
        )
        return await self._send_models(call, Machine)

    async def list_machine_states(
        self, *, metadata: Mapping[str, str] | None = None
    ) -> list[MachineStatus]:
        """Every machine's id, state, region, instance id and check results, in one call.

        The answer is read as it arrives and each machine is kept as a `MachineStatus` only,
        so memory stays small for thousands of machines. Each `metadata` item filters as in
        `list_machines`.
        """
        params = {f"metadata.{key}": value for key, value in (metadata or {}).items()}
        call = ApiCall(
            Action.MACHINE_LIST, self._app, "GET", self._app_url("machines"), params=params
        )
        return await self._send_streamed_items(call, MachineStatus)

    async def find_machine_by_op_id(self, op_id: str) -> Machine | None:
        """The live machine whose config carries `op_id` (see `create_machine`), if any."""
        key = self._op_id_metadata_key
        machines = await self.list_machines(metadata={key: op_id})
        for machine in machines:
            # Filter again here: an API that ignored the query filter must not fool us.
            if machine.config is not None and machine.config.metadata.get(key) == op_id:
                return machine
        return None

    async def create_machine(
        self,
        config: MachineConfig,
        *,
        name: str | None = None,
        region: str | None = None,
        skip_launch: bool = False,
        lease_ttl_s: int | None = None,
        op_id: str | None = None,
    ) -> Machine:
        """Create a machine (state `created`, then `starting`, `started` unless `skip_launch`).

        `op_id` tags the machine's metadata and makes the call safe to repeat (see the module
        docstring); a fresh one is used when omitted. With `lease_ttl_s` the answer carries the
        lease `nonce`, except when the machine was found after an ambiguous failure (then the
        nonce is unknown and the lease simply expires).
        """
        operation = op_id or new_operation_id()
        tagged = config.model_copy(deep=True)
        tagged.metadata[self._op_id_metadata_key] = operation
        body = drop_nones(
            {
                "config": tagged.to_api(),
                "name": name,
                "region": region,
                "skip_launch": True if skip_launch else None,
                "lease_ttl": lease_ttl_s,
            }
        )
        call = ApiCall(
            Action.MACHINE_CREATE, self._app, "POST", self._app_url("machines"), json_body=body
        )
        policy = self._transport.retry_policy
        schedule = policy.schedule()
        earlier_attempt_may_have_applied = False
        while True:
            schedule.record_attempt()
            try:
                return await self._send_model(call, Machine)
            except FlyError as error:
                name_clash = isinstance(error, ValidationError | ConflictError)
                if not (error.maybe_applied or (earlier_attempt_may_have_applied and name_clash)):
                    raise
                failure = error
            earlier_attempt_may_have_applied = True
            existing = await self.find_machine_by_op_id(operation)
            if existing is not None:
                return existing
            if not failure.maybe_applied or schedule.attempts >= policy.create_attempts:
                # A definite refusal (e.g. the name belongs to a machine that is not ours) is
                # final; only an ambiguous failure earns another send.
                raise failure
            delay = schedule.next_delay_s()
            if delay is None:
                raise failure
            await self._transport.sleep(delay)

    async def get_machine(self, machine_id: str) -> Machine:
        call = ApiCall(
            Action.MACHINE_GET, self._machine_key(machine_id), "GET", self._machine_url(machine_id)
        )
        return await self._send_model(call, Machine)

    async def update_machine(
        self,
        machine_id: str,
        config: MachineConfig,
        *,
        current_version: str | None = None,
        lease_nonce: str | None = None,
        skip_launch: bool = False,
    ) -> Machine:
        """Replace the machine's WHOLE config (restarts a running machine, new `instance_id`).

        Pass `current_version` (the machine's `instance_id` as read) so Fly refuses the update
        with a `ConflictError` if someone changed the machine in between.
        """
        body = drop_nones(
            {
                "config": config.to_api(),
                "current_version": current_version,
                "skip_launch": True if skip_launch else None,
            }
        )
        call = ApiCall(
            Action.MACHINE_UPDATE,
            self._machine_key(machine_id),
            "POST",
            self._machine_url(machine_id),
            json_body=body,
            lease_nonce=lease_nonce,
        )
        return await self._send_model(call, Machine)

    async def start(self, machine_id: str, *, lease_nonce: str | None = None) -> dict[str, Any]:
        """Start a stopped (or suspended) machine; returns Fly's answer (`previous_state`, ...).

        Retried like a read. When a resend after a lost answer is refused because the machine
        is already starting or started, that is taken as success and `{}` is returned.
        """
        call = ApiCall(
            Action.MACHINE_START,
            self._machine_key(machine_id),
            "POST",
            self._machine_url(machine_id, "start"),
            lease_nonce=lease_nonce,
        )
        try:
            return _as_object(await self._send_json(call))
        except PreconditionFailedError as error:
            if not await self._resend_found_it_done(error, machine_id, _STARTED_OR_ON_ITS_WAY):
                raise
        return {}

    async def stop(
        self,
        machine_id: str,
        *,
        signal: str | None = None,
        timeout_s: float | None = None,
        lease_nonce: str | None = None,
    ) -> None:
        """Ask the machine to stop (`signal`, then SIGKILL after `timeout_s`); returns at once.

        Use `wait_for_state(machine_id, "stopped", ...)` to know when it has stopped.
        """
        body = drop_nones(
            {
                "signal": signal,
                "timeout": go_duration(timeout_s) if timeout_s is not None else None,
            }
        )
        call = ApiCall(
            Action.MACHINE_STOP,
            self._machine_key(machine_id),
            "POST",
            self._machine_url(machine_id, "stop"),
            json_body=body or None,
            lease_nonce=lease_nonce,
        )
        await self._send(call)

    async def restart(
        self,
        machine_id: str,
        *,
        signal: str | None = None,
        timeout_s: float | None = None,
        lease_nonce: str | None = None,
    ) -> None:
        """Restart a started machine (`signal`, then kill after `timeout_s`); new `instance_id`.

        A resend after a lost answer that Fly refuses because the machine is already
        restarting counts as success, as for `start`.
        """
        params: dict[str, str] = {}
        if timeout_s is not None:
            params["timeout"] = go_duration(timeout_s)
        if signal:
            params["signal"] = signal
        call = ApiCall(
            Action.MACHINE_RESTART,
            self._machine_key(machine_id),
            "POST",
            self._machine_url(machine_id, "restart"),
            params=params,
            lease_nonce=lease_nonce,
        )
        try:
            await self._send(call)
        except PreconditionFailedError as error:
            if not await self._resend_found_it_done(error, machine_id, _RESTARTING_OR_DONE):
                raise

    async def _resend_found_it_done(
        self, error: FlyError, machine_id: str, done_states: frozenset[str]
    ) -> bool:
        """True when a 412 answers our own resend of a start/restart that already took effect.

        Fly refuses to start a machine that is already active; if an earlier send of the same
        request may have gone through, that refusal is most likely our first request's success.
        """
        if not error.earlier_attempt_may_have_applied:
            return False
        machine = await self.get_machine(machine_id)
        return machine.state in done_states

    async def destroy(
        self, machine_id: str, *, force: bool = False, lease_nonce: str | None = None
    ) -> None:
        """Destroy the machine; without `force` it must be stopped, suspended or failed.

        A machine that is already gone raises `NotFoundError`: whether that counts as success
        is the caller's decision.
        """
        call = ApiCall(
            Action.MACHINE_DESTROY,
            self._machine_key(machine_id),
            "DELETE",
            self._machine_url(machine_id),
            params={"force": "true"} if force else None,
            lease_nonce=lease_nonce,
        )
        await self._send(call)

    async def exec(
        self, machine_id: str, argv: Sequence[str], *, timeout_s: float = 30
    ) -> ExecResult:
        """Run `argv` in the (started) machine and return its output and exit code.

        `timeout_s` is clamped to 1..60 because Fly caps it at 60. The call is not idempotent and
        is never resent once it may have reached the machine: a lost answer raises
        `ExecOutcomeUnknownError` (the command may still finish). A non-zero exit is a normal
        result, not an exception.
        """
        if isinstance(argv, str):
            raise TypeError("exec takes an argument vector, not a command string")
        seconds = clamp_exec_timeout(timeout_s)
        call = ApiCall(
            Action.MACHINE_EXEC,
            self._machine_key(machine_id),
            "POST",
            self._machine_url(machine_id, "exec"),
            json_body={"command": list(argv), "timeout": seconds},
            timeout_s=seconds + _ANSWER_GRACE_S,
        )
        try:
            return await self._send_model(call, ExecResult)
        except FlyError as error:
            if not error.maybe_applied:
                raise
            lost = error
        raise ExecOutcomeUnknownError(
            f"the exec's outcome is unknown, the command may still finish: {lost.message}",
            status_code=lost.status_code,
            request_id=lost.request_id,
            api_status=lost.api_status,
            code=lost.code,
            method=lost.method,
            path=lost.path,
            maybe_applied=True,
        )


def _as_object(payload: Any) -> dict[str, Any]:
    return payload if isinstance(payload, dict) else {}
