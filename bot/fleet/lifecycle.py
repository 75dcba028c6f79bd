"""An agent machine's lifecycle: start (wake), stop, restart, deprovision — one agent, or
many at a time (`bulk_lifecycle`, run by `bot.fleet.bulk`).

Each waits for what it asked Fly for (started → gateway ready after a boot), records an audit
entry, and turns the Fly failure it expects into an `OperationFailed` that says what failed
through one helper (`fly_call`). A restart also settles a pairing left stuck on the machine
(`bot.fleet.pairing_recovery`). Deprovision is journaled and names what it could not remove.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from bot.fleet.bulk import AgentOperation, BulkAction, BulkReport, run_bulk
from bot.fleet.context import FleetContext
from bot.fleet.errors import GatewayProblem, InvalidRequest, OperationFailed
from bot.fleet.fly_boundary import fly_call, fly_errors_become_fleet_errors
from bot.fleet.gateway import wait_until_ready
from bot.fleet.pairing_recovery import PairingRecovery, RecoveryResult
from bot.fleet.progress import Progress, StepState
from bot.fleet.teardown import delete_volume
from flyclient import (
    FlyClient,
    FlyError,
    InsufficientCapacityError,
    NotFoundError,
    PreconditionFailedError,
    WaitTimeoutError,
)
from storage.errors import StateTransitionError
from storage.models import (
    Actor,
    Agent,
    AgentChanges,
    AgentStatus,
    AlertKind,
    AlertSeverity,
    AuditOutcome,
    OperationKind,
    OperationStatus,
)

# A bulk action never touches an agent another operation owns (provisioning, recreating, …).
_BULK_TARGET_STATUSES: Mapping[BulkAction, frozenset[AgentStatus]] = {
    BulkAction.STOP: frozenset({AgentStatus.RUNNING, AgentStatus.ERROR}),
    BulkAction.WAKE: frozenset({AgentStatus.STOPPED, AgentStatus.ERROR}),
    BulkAction.RESTART: frozenset({AgentStatus.RUNNING, AgentStatus.ERROR}),
}


@fly_errors_become_fleet_errors
class Lifecycle:
    def __init__(self, ctx: FleetContext, recovery: PairingRecovery) -> None:
        self.ctx = ctx
        self._recovery = recovery

    async def start_agent_machine(
        self, ref: str, *, actor: Actor, progress: Progress | None = None
    ) -> Agent:
        ctx = self.ctx
        agent = await ctx.find_agent(ref)
        machine_id = ctx.machine_of(agent)
        fly, _ = await ctx.fly_for(agent)
        progress = progress or Progress.silent("wake", ("start", "gateway"))
        since = datetime.now(UTC)
        await progress.step("start", StepState.RUNNING)

        async def capacity_alert(error: FlyError) -> None:
            if isinstance(error, PreconditionFailedError):
                await self._capacity_alert(agent, error)

        async with fly_call(
            ctx,
            actor=actor,
            action="agent.start",
            agent_id=agent.id,
            failure=lambda error: _start_failure(machine_id, error),
            progress=progress,
            step="start",
            before_audit=capacity_alert,
        ):
            await fly.start(machine_id)
            await fly.wait_for_state(machine_id, "started", ctx.defaults.timings.start_deadline_s)
        await progress.step("start", StepState.DONE)
        await self._gateway_step(agent, fly, machine_id, since, progress, actor, "agent.start")
        agent = await self._running_if_provisioned(agent, actor=actor, reason="started")
        await ctx.audit(actor, "agent.start", agent.id, AuditOutcome.OK, {"machine_id": machine_id})
        return agent

    async def stop_agent_machine(self, ref: str, *, actor: Actor) -> Agent:
        ctx = self.ctx
        agent = await ctx.find_agent(ref)
        machine_id = ctx.machine_of(agent)
        fly, _ = await ctx.fly_for(agent)
        # The status changes first so the monitor reads the stop as intended.
        agent = await ctx.store.agents.set_status(
            agent.id, AgentStatus.STOPPED, actor=str(actor), reason="stop requested"
        )
        async with fly_call(
            ctx,
            actor=actor,
            action="agent.stop",
            agent_id=agent.id,
            failure=lambda error: OperationFailed(
                f"Stopping machine {machine_id} failed: {error.message}"
            ),
        ):
            await fly.stop(machine_id)
            await fly.wait_for_state(machine_id, "stopped", ctx.defaults.timings.stop_deadline_s)
            await ctx.cli.restarted(machine_id)  # stopping killed whatever ran in it
        await ctx.audit(actor, "agent.stop", agent.id, AuditOutcome.OK, {"machine_id": machine_id})
        return agent

    async def restart_agent_machine(
        self, ref: str, *, actor: Actor, progress: Progress | None = None
    ) -> tuple[Agent, RecoveryResult]:
        """Restart, wait for a healthy gateway, then settle any stuck pairing (look first)."""
        ctx = self.ctx
        agent = await ctx.find_agent(ref)
        machine_id = ctx.machine_of(agent)
        fly, _ = await ctx.fly_for(agent)
        progress = progress or Progress.silent("restart", ("restart", "gateway", "pairing"))
        since = datetime.now(UTC)
        await progress.step("restart", StepState.RUNNING)
        async with fly_call(
            ctx,
            actor=actor,
            action="agent.restart",
            agent_id=agent.id,
            failure=lambda error: OperationFailed(
                f"Restarting machine {machine_id} failed: {error.message}"
            ),
            progress=progress,
            step="restart",
        ):
            machine = await fly.get_machine(machine_id)
            if machine.state == "started":
                await fly.restart(machine_id)
            else:
                await fly.start(machine_id)
            await fly.wait_for_state(machine_id, "started", ctx.defaults.timings.start_deadline_s)
            # A new boot: a command that never answered died with the old one.
            await ctx.cli.restarted(machine_id)
        await progress.step("restart", StepState.DONE)
        await self._gateway_step(agent, fly, machine_id, since, progress, actor, "agent.restart")
        await progress.step("pairing", StepState.RUNNING)
        recovery = await self._recovery.recover_machine(agent, actor=actor)
        await progress.step("pairing", StepState.DONE, recovery.message)
        with contextlib.suppress(StateTransitionError):
            agent = await self._running_if_provisioned(agent, actor=actor, reason="restarted")
        await ctx.audit(
            actor, "agent.restart", agent.id, AuditOutcome.OK, {"machine_id": machine_id}
        )
        return agent, recovery

    async def deprovision_agent_machine(self, ref: str, *, actor: Actor) -> list[str]:
        """Force-destroy the machine, delete the volume, mark the agent deleted.

        Returns what was removed; a machine or volume already gone counts as removed.
        """
        ctx = self.ctx
        store = ctx.store
        agent = await ctx.find_agent(ref)
        fly, _ = await ctx.fly_for(agent)
        begin = await store.journal.begin(
            OperationKind.DEPROVISION,
            f"deprovision:{agent.id}",
            agent_id=agent.id,
            params={"machine_id": agent.machine_id, "volume_id": agent.volume_id},
        )
        operation = begin.operation
        with contextlib.suppress(StateTransitionError):
            await store.agents.set_status(
                agent.id,
                AgentStatus.DEPROVISIONING,
                actor=str(actor),
                reason="deprovision requested",
            )
        removed: list[str] = []
        leftovers: list[str] = []
        if agent.machine_id:
            await store.journal.step_started(operation.id, "machine")
            try:
                await fly.destroy(agent.machine_id, force=True)
                with contextlib.suppress(WaitTimeoutError, NotFoundError):
                    await fly.wait_for_state(agent.machine_id, "destroyed", 30)
                removed.append(f"machine {agent.machine_id}")
            except NotFoundError:
                removed.append(f"machine {agent.machine_id} (already gone)")
            except FlyError as error:
                leftovers.append(f"machine {agent.machine_id}: {error.message}")
            await store.journal.step_done(operation.id, "machine")
        if agent.volume_id and not leftovers:
            await store.journal.step_started(operation.id, "volume")
            deleted = await delete_volume(
                fly, agent.volume_id, poll_s=ctx.defaults.timings.snapshot_poll_s
            )
            if deleted:
                removed.extend(deleted)
            else:
                leftovers.append(f"volume {agent.volume_id}: fly volumes destroy {agent.volume_id}")
            await store.journal.step_done(operation.id, "volume")
        if leftovers:
            await store.journal.finish(
                operation.id, OperationStatus.FAILED, error="; ".join(leftovers)
            )
            with contextlib.suppress(StateTransitionError):
                await store.agents.set_status(
                    agent.id, AgentStatus.ERROR, actor=str(actor), reason="deprovision incomplete"
                )
            await ctx.alert(
                AlertKind.DEPROVISION_INCOMPLETE,
                f"Deprovisioning {agent.id} left: {'; '.join(leftovers)}.",
                severity=AlertSeverity.CRITICAL,
                payload={"agent_id": agent.id},
            )
            await ctx.audit(
                actor, "agent.deprovision", agent.id, AuditOutcome.FAILED, {"leftovers": leftovers}
            )
            raise OperationFailed(
                f"Deprovisioning {agent.id} was incomplete. "
                f"Removed: {', '.join(removed) or 'nothing'}.",
                cleanup=leftovers,
            )
        await store.agents.update(
            agent.id, AgentChanges(machine_id=None, volume_id=None), actor=str(actor)
        )
        await store.agents.mark_deleted(agent.id, actor=str(actor), reason="deprovisioned")
        await store.journal.finish(
            operation.id, OperationStatus.SUCCEEDED, result={"removed": [*removed]}
        )
        await ctx.audit(actor, "agent.deprovision", agent.id, AuditOutcome.OK, {"removed": removed})
        return removed

    async def bulk_targets(self, action: BulkAction, tenant_id: str | None = None) -> list[Agent]:
        """The live agents `action` applies to (optionally of one tenant), oldest first.

        Agents being provisioned, recreated or deprovisioned are never included: another
        operation owns their machine.
        """
        statuses = _BULK_TARGET_STATUSES[action]
        return [
            agent
            for agent in await self.ctx.live_agents(tenant_id)
            if agent.machine_id is not None and agent.status in statuses
        ]

    async def bulk_lifecycle(
        self,
        action: BulkAction,
        agent_refs: Sequence[str],
        *,
        actor: Actor,
        concurrency: int | None = None,
        progress: Progress | None = None,
    ) -> BulkReport:
        """`action` on every agent, at most `concurrency` (default: the fleet's) at a time.

        Each agent goes through the single-agent method (`stop_agent_machine`,
        `start_agent_machine`, `restart_agent_machine`) with its audit and alerts; a failure is
        that agent's outcome in the report, never an exception. One audit entry records the
        whole run.
        """
        operations: dict[BulkAction, AgentOperation] = {
            BulkAction.STOP: lambda ref: self.stop_agent_machine(ref, actor=actor),
            BulkAction.WAKE: lambda ref: self.start_agent_machine(ref, actor=actor),
            BulkAction.RESTART: lambda ref: self.restart_agent_machine(ref, actor=actor),
        }
        limit = concurrency if concurrency is not None else self.ctx.defaults.bulk_concurrency
        if limit < 1:
            raise InvalidRequest([f"concurrency must be at least 1, not {limit}"])
        report = await run_bulk(
            action, agent_refs, operations[action], concurrency=limit, progress=progress
        )
        await self.ctx.audit(
            actor,
            f"bulk.{action.value}",
            None,
            AuditOutcome.FAILED if report.failed else AuditOutcome.OK,
            {
                "agents": len(report.outcomes),
                "failed": [outcome.agent_ref for outcome in report.failed],
                "concurrency": limit,
            },
        )
        return report

    async def _gateway_step(
        self,
        agent: Agent,
        fly: FlyClient,
        machine_id: str,
        since: datetime,
        progress: Progress,
        actor: Actor,
        action: str,
    ) -> None:
        """Wait for this boot's gateway; a failure is shown, alerted and audited, then raised."""
        await progress.step("gateway", StepState.RUNNING)
        try:
            await wait_until_ready(
                fly,
                machine_id,
                deadline_s=self.ctx.defaults.startup_timeout_s,
                poll_s=self.ctx.defaults.timings.gateway_poll_s,
                since=since,
            )
        except GatewayProblem as problem:
            await progress.step("gateway", StepState.FAILED, problem.message)
            await self.ctx.alert(
                problem.alert_kind,
                f"Agent {agent.id}: {problem}",
                severity=AlertSeverity.CRITICAL,
                dedupe_key=f"{problem.alert_kind}:{machine_id}",
                payload={"agent_id": agent.id, "machine_id": machine_id},
            )
            await self.ctx.audit(
                actor, action, agent.id, AuditOutcome.FAILED, {"error": problem.message}
            )
            raise
        await progress.step("gateway", StepState.DONE)

    async def _running_if_provisioned(self, agent: Agent, *, actor: Actor, reason: str) -> Agent:
        """`running` after a start; an agent whose provisioning did not finish keeps its failed
        status (its machine runs, but OpenClaw on it is not set up), until finished/repaired."""
        current = await self.ctx.store.agents.get(agent.id)
        if not current.provisioned:
            return current
        return await self.ctx.store.agents.set_status(
            agent.id, AgentStatus.RUNNING, actor=str(actor), reason=reason
        )

    async def _capacity_alert(self, agent: Agent, error: FlyError) -> None:
        capacity = (
            isinstance(error, InsufficientCapacityError) or "resources" in error.message.lower()
        )
        await self.ctx.alert(
            AlertKind.START_REFUSED,
            f"Fly refused to start {agent.id} on machine {agent.machine_id}: {error.message}."
            + (
                " The host that holds its volume is full: take a /snapshot and /recreate the "
                "agent (a new volume from the snapshot); the volume is never replaced silently."
                if capacity
                else ""
            ),
            severity=AlertSeverity.CRITICAL,
            dedupe_key=f"start_refused:{agent.id}",
            payload={"agent_id": agent.id},
        )


def _start_failure(machine_id: str, error: FlyError) -> OperationFailed:
    """Fly refusing a start (412: e.g. the volume's host is full) names the way out."""
    if isinstance(error, PreconditionFailedError):
        return OperationFailed(
            f"Fly refused to start machine {machine_id}: {error.message}",
            cleanup=(
                "if the host is full, /snapshot then /recreate moves the agent to a new volume",
            ),
        )
    return OperationFailed(f"Starting machine {machine_id} failed: {error.message}")
