"""The fleet service's boundary: no Fly client error leaves it as anything but a `FleetError`.

The Telegram layer never imports `flyclient` (layering), so it can only explain `FleetError`s;
a `FlyError` that escaped a use case (a 5xx after every retry, an exec whose answer was lost)
reached the global error handler as "Something went wrong" with a traceback. Each use case
converts the Fly failures it expects at the step where it knows what they leave behind; this
boundary catches every other one, for every public coroutine of each use-case class, and turns
it into an `OperationFailed` that says what failed, what state it may have left and how to go
on — and records it as the other failures are recorded: an audit entry (`FAILED`) and the
agent's `last_error`. The decorator sits on each use-case class (`FleetService` only
delegates to them), so a use case that calls another (setting the model verifies it; a bulk
stop stops each agent) reports the inner one's failure in the inner one's words, as it did
when they were one class.

`fly_call` is the other half: the one way a use case converts the Fly failure it expects at a
step ("Fly call → progress step → audit → `OperationFailed`").
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, Protocol, TypeVar

from bot.fleet.context import FleetContext
from bot.fleet.errors import FleetError, OperationFailed
from bot.fleet.progress import Progress, StepState
from flyclient import ExecOutcomeUnknownError, FlyError
from storage.errors import StorageError
from storage.models import THE_BOT, Actor, AgentChanges, AuditOutcome

log = logging.getLogger("bot.fleet.boundary")

# What each use case was doing, as the admin would say it, and the audit action it records.
_DOING: dict[str, tuple[str, str]] = {
    "provision_agent_machine": ("Provisioning", "agent.provision"),
    "recreate_agent_from_latest_snapshot": ("Recreating the agent", "agent.recreate"),
    "start_agent_machine": ("Starting the machine", "agent.start"),
    "stop_agent_machine": ("Stopping the machine", "agent.stop"),
    "restart_agent_machine": ("Restarting the machine", "agent.restart"),
    "deprovision_agent_machine": ("Deprovisioning", "agent.deprovision"),
    "create_agent_snapshot": ("Taking a snapshot", "agent.snapshot"),
    "update_allowed_skills": ("Updating the skills", "agent.skills"),
    "set_model": ("Setting the model", "agent.model"),
    "verify_model": ("Checking the model", "agent.model"),
    "approve_telegram_pairing": ("Approving the pairing code", "pairing.approve"),
    "approve_pairing_request": ("Approving the pairing request", "pairing.approve"),
    "gateway_health": ("Checking the gateway", "agent.gateway"),
}

# The argument names a use case takes its agent and its actor by.
_AGENT_ARGS = ("ref", "agent_id")


class _HasContext(Protocol):
    ctx: FleetContext


C = TypeVar("C", bound=type)


@asynccontextmanager
async def fly_call(
    ctx: FleetContext,
    *,
    actor: Actor,
    action: str,
    agent_id: str,
    failure: Callable[[FlyError], OperationFailed],
    progress: Progress | None = None,
    step: str = "",
    before_audit: Callable[[FlyError], Awaitable[None]] | None = None,
    keep_as_last_error: bool = False,
) -> AsyncIterator[None]:
    """Fly calls of one step of a use case: a `FlyError` in them marks the progress `step`
    failed, runs `before_audit` (an alert), keeps the failure as the agent's `last_error` when
    asked, audits `action` as failed and raises `failure(error)` in its place."""
    try:
        yield
    except FlyError as error:
        if progress is not None:
            await progress.step(step, StepState.FAILED, error.message)
        if before_audit is not None:
            await before_audit(error)
        failed = failure(error)
        if keep_as_last_error:
            await ctx.store.agents.update(
                agent_id, AgentChanges(last_error=failed.message[:400]), actor=str(actor)
            )
        await ctx.audit(actor, action, agent_id, AuditOutcome.FAILED, {"error": error.message})
        raise failed from error


def fly_failure(error: FlyError, doing: str, agent_ref: str | None) -> OperationFailed:
    """`error` as the admin should read it: what failed, what it may have left, what next."""
    agent = agent_ref or "AGENT"
    what = f"{error.method} {error.path}" if error.method and error.path else "a Fly API call"
    if isinstance(error, ExecOutcomeUnknownError):
        return OperationFailed(
            f"{doing} did not finish: a command on the machine did not answer ({what}), so "
            "its outcome is unknown — it may still be running or may have finished.",
            cleanup=(
                f"/restart {agent} before anything else runs on that machine",
                f"then /status {agent} shows what it is now, and you can run the command again",
            ),
        )
    status = f"HTTP {error.status_code}: " if error.status_code is not None else ""
    if error.method == "GET":
        left = "This request changed nothing on Fly."
    elif error.maybe_applied:
        left = "Fly may nevertheless have carried out that request."
    else:
        left = "Fly did not carry out that request."
    return OperationFailed(
        f"{doing} stopped: Fly failed on {what} ({status}{error.message}). {left}",
        cleanup=(
            f"/status {agent} shows the machine as it is now",
            "run the command again once Fly answers",
        ),
    )


async def _record(
    ctx: FleetContext, name: str, action: str, actor: Actor | None, agent_ref: str | None, text: str
) -> None:
    """Audit the failure and keep it as the agent's last error; a record that cannot be
    written must not hide the failure itself."""
    target: str | None = None
    try:
        if agent_ref:
            agent = await ctx.find_agent(agent_ref)
            target = agent.id
            await ctx.store.agents.update(
                agent.id, AgentChanges(last_error=text[:400]), actor=str(actor or THE_BOT)
            )
        await ctx.audit(
            actor or THE_BOT, action, target, AuditOutcome.FAILED, {"error": text[:400]}
        )
    except (FleetError, StorageError) as error:
        log.warning("could not record the failure of %s: %s", name, error)


def _wrap(
    name: str, method: Callable[..., Coroutine[Any, Any, Any]]
) -> Callable[..., Coroutine[Any, Any, Any]]:
    doing, action = _DOING.get(name, (name.replace("_", " ").capitalize(), f"fleet.{name}"))
    signature = inspect.signature(method)

    @functools.wraps(method)
    async def guarded(self: _HasContext, *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(self, *args, **kwargs)
        except FlyError as error:
            bound = signature.bind_partial(self, *args, **kwargs).arguments
            agent_ref = next(
                (str(bound[arg]) for arg in _AGENT_ARGS if isinstance(bound.get(arg), str)),
                None,
            )
            actor = bound.get("actor")
            failure = fly_failure(error, doing, agent_ref)
            log.warning("%s failed on Fly: %s", name, error)
            await _record(
                self.ctx,
                name,
                action,
                actor if isinstance(actor, Actor) else None,
                agent_ref,
                str(failure),
            )
            raise failure from error

    return guarded


def fly_errors_become_fleet_errors(cls: C) -> C:
    """Class decorator: every public coroutine method of `cls` converts an escaping `FlyError`
    (see the module docstring). Methods added later are covered without a list to keep."""
    for name, member in list(vars(cls).items()):
        if name.startswith("_") or not inspect.iscoroutinefunction(member):
            continue
        setattr(cls, name, _wrap(name, member))
    return cls
