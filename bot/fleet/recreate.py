"""Recreate an agent from its newest usable snapshot, on a new volume and a new machine.

newest usable snapshot → new volume from it (ready once restored) → new machine → started →
gateway ready → model set → records switched → only then the old machine and volume are
destroyed. Steps are journaled like provisioning's (`bot.fleet.steps`), keyed by the snapshot:
a retry after a failure needs a new snapshot. A failure rolls the new machine and volume back
and keeps the old machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from pydantic import JsonValue

from bot.fleet import machine_spec
from bot.fleet.context import FleetContext
from bot.fleet.errors import AgentBusy, FleetError, NoSnapshot, OperationFailed
from bot.fleet.fly_boundary import fly_errors_become_fleet_errors
from bot.fleet.machine_boot import MachineBoot
from bot.fleet.progress import Progress, StepState
from bot.fleet.provisioning import ProvisionResult, result_str
from bot.fleet.steps import JournaledSteps, short_error
from bot.fleet.teardown import delete_volume
from flyclient import FlyClient, FlyError, NotFoundError, VolumeSnapshot
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
    SnapshotStatus,
)

log = logging.getLogger("bot.fleet.recreate")

RECREATE_STEPS = (
    "snapshot",
    "volume",
    "machine",
    "started",
    "gateway",
    "model",
    "switch",
    "cleanup",
)
# Recreate re-sets the model (the snapshot's config may predate a /model change); the owner
# policy is checked before the new machine's first approval anyway (bot/fleet/owners.py), so
# recreate does not spend a CLI run on it.
RECREATE_BOOT_STEPS = ("started", "gateway", "model")


@fly_errors_become_fleet_errors
class Recreate:
    def __init__(self, ctx: FleetContext) -> None:
        self.ctx = ctx
        self._boot = MachineBoot(ctx)

    async def recreate_agent_from_latest_snapshot(
        self, ref: str, *, actor: Actor, progress: Progress | None = None
    ) -> ProvisionResult:
        agent = await self.ctx.find_agent(ref)
        progress = progress or Progress.silent("recreate", RECREATE_STEPS)
        async with self.ctx.agent_lock(agent.tenant_id, agent.user_id):
            agent = await self.ctx.store.agents.get(agent.id)
            return await self._recreate(agent, actor=actor, progress=progress)

    async def _latest_snapshot(
        self, fly: FlyClient, agent: Agent, volume_id: str
    ) -> VolumeSnapshot | None:
        snapshot = await fly.latest_usable_snapshot(volume_id)
        if snapshot is None:
            # After an earlier recreate the newest snapshot may belong to a former volume,
            # which Fly keeps listable for the snapshot's retention.
            recorded = await self.ctx.store.snapshots.latest_usable(agent.id)
            if recorded is not None and recorded.source_volume_id != volume_id:
                snapshot = await fly.latest_usable_snapshot(recorded.source_volume_id)
        return snapshot

    async def _recreate(self, agent: Agent, *, actor: Actor, progress: Progress) -> ProvisionResult:
        ctx = self.ctx
        if agent.volume_id is None:
            raise NoSnapshot(f"Agent {agent.id} has no volume, so it has no snapshot to restore.")
        fly, config = await ctx.fly_for(agent)
        await progress.step("snapshot", StepState.RUNNING)
        snapshot = await self._latest_snapshot(fly, agent, agent.volume_id)
        if snapshot is None:
            await progress.step("snapshot", StepState.FAILED, "no snapshot")
            raise NoSnapshot(
                f"Agent {agent.id} has no usable snapshot of volume {agent.volume_id}; nothing "
                "was changed. Take one with /snapshot first."
            )
        await progress.step("snapshot", StepState.DONE, f"snapshot {snapshot.id}")
        begin = await ctx.store.journal.begin(
            OperationKind.RECREATE,
            f"recreate:{agent.id}:{snapshot.id}",
            params={
                "snapshot_id": snapshot.id,
                "old_machine_id": agent.machine_id,
                "old_volume_id": agent.volume_id,
                "volume_name": machine_spec.volume_name(agent.user_id),
            },
            agent_id=agent.id,
        )
        operation = begin.operation
        if operation.status is not OperationStatus.RUNNING:
            raise AgentBusy(
                f"Agent {agent.id} was already recreated from snapshot {snapshot.id} "
                f"({operation.status.value}). Take a new snapshot to recreate again."
            )
        previous_status = agent.status
        with contextlib.suppress(StateTransitionError):
            agent = await ctx.store.agents.set_status(
                agent.id, AgentStatus.RECREATING, actor=str(actor), reason=f"from {snapshot.id}"
            )
        journal = ctx.store.journal
        done = await journal.completed_results(operation.id)
        new_volume_id = result_str(done.get("volume"), "volume_id")
        new_machine_id = result_str(done.get("machine"), "machine_id")
        steps = JournaledSteps(journal, operation.id, progress, first="volume")
        poll_s = ctx.defaults.timings.snapshot_poll_s
        try:
            if new_volume_id is None:
                async with steps.step("volume", "restoring from snapshot") as step:
                    # The name is the operation's (kept in its params), so a resume after a
                    # crash finds the volume an unanswered create made instead of a second one.
                    name = _param_str(operation.params, "volume_name") or (
                        machine_spec.volume_name(agent.user_id)
                    )
                    region = agent.region or config.region
                    volume = await fly.find_volume_named(name, region) or await fly.create_volume(
                        name, region, ctx.defaults.volume_size_gb, snapshot_id=snapshot.id
                    )
                    new_volume_id = volume.id
                    await fly.wait_for_volume_ready(
                        new_volume_id, ctx.defaults.timings.start_deadline_s, poll_s=poll_s
                    )
                    step.result = {"volume_id": new_volume_id}
            else:
                await progress.step("volume", StepState.DONE)
            steps.current = "machine"
            if new_machine_id is None:
                async with steps.step("machine") as step:
                    machine = await self._boot.machine_for(
                        fly, agent, config, operation, new_volume_id
                    )
                    new_machine_id = machine.id
                    step.result = {"machine_id": new_machine_id}
            else:
                await progress.step("machine", StepState.DONE)
            boot = self._boot.steps(RECREATE_BOOT_STEPS, fly, steps, new_machine_id, config, actor)
            for name, run_step in boot:
                steps.current = name
                if name not in done:
                    await run_step()
        except asyncio.CancelledError:
            raise
        except (FlyError, FleetError) as error:
            await steps.record_failure(error)
            step_name = steps.current
            rolled_back = await self._discard(fly, new_machine_id, new_volume_id)
            await journal.finish(
                operation.id,
                OperationStatus.FAILED,
                error=short_error(error),
                result={"rolled_back": [*rolled_back]},
            )
            with contextlib.suppress(StateTransitionError):
                await ctx.store.agents.set_status(
                    agent.id,
                    previous_status,
                    actor=str(actor),
                    reason="recreate failed; old machine kept",
                )
            await ctx.alert(
                AlertKind.RECREATE_FAILED,
                f"Recreating {agent.id} from {snapshot.id} failed at {step_name}: "
                f"{short_error(error)}. The old machine {agent.machine_id} was kept; rolled "
                f"back: {', '.join(rolled_back) or 'nothing'}.",
                severity=AlertSeverity.CRITICAL,
                payload={"agent_id": agent.id, "operation_id": operation.id},
            )
            await ctx.audit(
                actor, "agent.recreate", agent.id, AuditOutcome.FAILED, {"step": step_name}
            )
            raise OperationFailed(
                f"Recreate failed at step {step_name}: {short_error(error)} The old machine was "
                f"kept; rolled back: {', '.join(rolled_back) or 'nothing'}.",
                # The journal keys a recreate by its snapshot: a retry needs a new one.
                cleanup=(f"/snapshot {agent.id}, then /recreate {agent.id} to try again",),
            ) from error

        old_machine_id = _param_str(operation.params, "old_machine_id")
        old_volume_id = _param_str(operation.params, "old_volume_id")
        await progress.step("switch", StepState.RUNNING)
        if "switch" not in done:
            await journal.step_started(operation.id, "switch")
            agent = await ctx.store.agents.update(
                agent.id,
                AgentChanges(
                    machine_id=new_machine_id,
                    volume_id=new_volume_id,
                    model=config.model,
                    last_error=None,
                ),
                actor=str(actor),
            )
            record = await ctx.store.snapshots.record(
                agent_id=agent.id,
                source_volume_id=old_volume_id or new_volume_id,
                fly_snapshot_id=snapshot.id,
                source_machine_id=old_machine_id,
                region=agent.region,
            )
            await ctx.store.snapshots.set_status(record.id, SnapshotStatus.RESTORED)
            await journal.step_done(operation.id, "switch", {"machine_id": new_machine_id})
        await progress.step("switch", StepState.DONE)
        await progress.step("cleanup", StepState.RUNNING)
        leftovers = await self._destroy_old(fly, old_machine_id, old_volume_id)
        await progress.step(
            "cleanup", StepState.DONE if not leftovers else StepState.FAILED, "; ".join(leftovers)
        )
        # A recreate brings a whole new machine up (model set): it also repairs an agent whose
        # provisioning had failed.
        await ctx.store.agents.mark_provisioned(agent.id, actor=str(actor))
        agent = await ctx.store.agents.set_status(
            agent.id, AgentStatus.RUNNING, actor=str(actor), reason=f"recreated from {snapshot.id}"
        )
        await journal.finish(
            operation.id,
            OperationStatus.SUCCEEDED,
            result={
                "machine_id": new_machine_id,
                "volume_id": new_volume_id,
                "leftovers": [*leftovers],
            },
        )
        await ctx.audit(
            actor,
            "agent.recreate",
            agent.id,
            AuditOutcome.OK,
            {
                "snapshot_id": snapshot.id,
                "machine_id": new_machine_id,
                "old_machine_id": old_machine_id,
            },
        )
        await ctx.alert(
            AlertKind.AGENT_RECREATED,
            f"Agent {agent.id} was recreated from snapshot {snapshot.id} "
            f"on machine {new_machine_id}."
            + (f" Left to clean up: {'; '.join(leftovers)}." if leftovers else ""),
            severity=AlertSeverity.WARNING if leftovers else AlertSeverity.INFO,
            payload={"agent_id": agent.id},
        )
        return ProvisionResult(
            agent=agent, operation_id=operation.id, resumed=not begin.created, model=config.model
        )

    async def _discard(
        self, fly: FlyClient, machine_id: str | None, volume_id: str | None
    ) -> list[str]:
        """Remove the new machine and volume of a failed recreate: what was removed."""
        removed: list[str] = []
        if machine_id:
            try:
                await fly.destroy(machine_id, force=True)
                removed.append(f"machine {machine_id}")
            except NotFoundError:
                removed.append(f"machine {machine_id}")
            except FlyError as error:
                log.warning("could not destroy new machine %s: %s", machine_id, error)
        if volume_id:
            removed.extend(
                await delete_volume(
                    fly, volume_id, poll_s=self.ctx.defaults.timings.snapshot_poll_s
                )
            )
        return removed

    async def _destroy_old(
        self, fly: FlyClient, machine_id: str | None, volume_id: str | None
    ) -> list[str]:
        """Remove the machine and volume the agent ran on before: what is left to remove."""
        leftovers: list[str] = []
        if machine_id:
            try:
                await fly.destroy(machine_id, force=True)
            except NotFoundError:
                pass
            except FlyError as error:
                leftovers.append(f"old machine {machine_id} ({short_error(error)})")
        if volume_id:
            poll_s = self.ctx.defaults.timings.snapshot_poll_s
            if not await delete_volume(fly, volume_id, poll_s=poll_s):
                leftovers.append(f"old volume {volume_id}: fly volumes destroy {volume_id}")
        return leftovers


def _param_str(params: Mapping[str, JsonValue], key: str) -> str | None:
    value = params.get(key)
    return value if isinstance(value, str) else None
