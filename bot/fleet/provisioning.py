"""Provision and recreate: journaled multi-step operations that never leave an orphan.

Provision: volume → machine → started → gateway ready → owner policy → model set → model
verified → record → alert. Every step is written to the operations journal before and after
it runs, so a crash (or a cancelled task) resumes where it stopped on the next call, and the
machine is found again by its operation tag instead of being created twice.

Recreate: newest usable snapshot → new volume from it → new machine → ready → model →
records switched → only then the old machine and volume are destroyed.

Failures before a machine exists are rolled back; later ones leave the machine for
inspection, mark the agent `error` and name the command that cleans it up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import JsonValue, SecretStr

from bot.fleet import machine_spec, openclaw, owners
from bot.fleet.cli_runner import CliOutcome
from bot.fleet.context import FleetContext
from bot.fleet.errors import (
    AgentBusy,
    FleetError,
    GatewayProblem,
    ModelMismatch,
    NoSnapshot,
    OperationFailed,
)
from bot.fleet.gateway import wait_until_ready
from bot.fleet.machine_spec import AgentRuntime
from bot.fleet.progress import Progress, StepState
from bot.fleet.resolve import EffectiveConfig
from flyclient import (
    ExecOutcomeUnknownError,
    FlyClient,
    FlyError,
    InsufficientCapacityError,
    Machine,
    NotFoundError,
    Volume,
)
from storage.errors import StateTransitionError
from storage.models import (
    Agent,
    AgentChanges,
    AgentStatus,
    AlertSeverity,
    AuditOutcome,
    Operation,
    OperationKind,
    OperationStatus,
    SnapshotStatus,
)
from storage.redaction import redact_known

# The steps that bring a new machine up, in order. Recreate re-sets the model (the snapshot's
# config may predate a /model change); the owner policy is checked before the new machine's
# first approval anyway (bot/fleet/owners.py), so recreate does not spend a CLI run on it.
PROVISION_BOOT_STEPS = ("started", "gateway", "owner", "model", "verify")
RECREATE_BOOT_STEPS = ("started", "gateway", "model")

log = logging.getLogger("bot.fleet.provisioning")

PROVISION_STEPS = ("volume", "machine", "started", "gateway", "owner", "model", "verify")
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


@dataclass(frozen=True)
class ProvisionResult:
    agent: Agent
    operation_id: str
    resumed: bool
    model: str


@dataclass(frozen=True)
class ResumedProvision:
    """A provisioning resumed after a restart, for whoever asked for it.

    `report` is the opaque reference the caller gave when it started the provisioning (the
    Telegram layer: which chat, message and admin to tell), kept in the journal so a process
    that did not start it can still tell them; the fleet only stores and returns it.
    `progress` shows each step; `result` is set when it finished, `error` when it failed.
    """

    agent_id: str
    report: Mapping[str, JsonValue] | None
    progress: Progress
    result: ProvisionResult | None = None
    error: FleetError | None = None


OnResumed = Callable[[ResumedProvision], Awaitable[None]]


def runtime_for(
    agent: Agent, config: EffectiveConfig, defaults_dev_mode: bool, startup: int
) -> AgentRuntime:
    return AgentRuntime(
        agent_id=agent.id,
        tenant_id=agent.tenant_id,
        user_id=agent.user_id,
        image=config.image,
        region=config.region,
        cpu_kind=config.cpu_kind,
        cpus=config.cpus,
        memory_mb=config.memory_mb,
        model=config.model,
        allowed_skills=config.allowed_skills,
        bridge_url=config.bridge_url or "",
        app_key=config.app_key,
        service_id=config.service_id or "",
        startup_timeout_s=startup,
        gateway_dev_mode=defaults_dev_mode,
        secrets=config.secret_values(),
    )


class Provisioner:
    def __init__(self, ctx: FleetContext) -> None:
        self.ctx = ctx

    # --- provision ----------------------------------------------------------------------------

    async def run(
        self,
        agent: Agent,
        operation: Operation,
        config: EffectiveConfig,
        *,
        actor: str,
        progress: Progress,
        resumed: bool,
    ) -> ProvisionResult:
        ctx = self.ctx
        fly = ctx.fly_for_config(config)
        journal = ctx.store.journal
        done = await journal.completed_results(operation.id)
        for step in PROVISION_STEPS:
            if step in done:
                await progress.step(step, StepState.DONE)
        volume_id = _result_str(done.get("volume"), "volume_id")
        machine_id = _result_str(done.get("machine"), "machine_id")
        current = "volume"
        try:
            if volume_id is None:
                await progress.step("volume", StepState.RUNNING)
                await journal.step_started(operation.id, "volume")
                name = str(operation.params.get("volume_name"))
                # A crash may have lost the answer of an earlier create: its volume has this
                # operation's name. Take it instead of leaving it orphaned next to a new one.
                volume = await fly.find_volume_named(
                    name, config.region
                ) or await fly.create_volume(
                    name, config.region, ctx.defaults.volume_size_gb, encrypted=True
                )
                volume_id = volume.id
                await journal.step_done(operation.id, "volume", {"volume_id": volume_id})
                agent = await ctx.store.agents.update(
                    agent.id, AgentChanges(volume_id=volume_id), actor=actor
                )
                await progress.step("volume", StepState.DONE)

            current = "machine"
            if machine_id is None:
                await progress.step("machine", StepState.RUNNING)
                await journal.step_started(operation.id, "machine")
                machine = await self._machine_for(fly, agent, config, operation, volume_id)
                machine_id = machine.id
                await journal.step_done(operation.id, "machine", {"machine_id": machine_id})
                agent = await ctx.store.agents.update(
                    agent.id, AgentChanges(machine_id=machine_id), actor=actor
                )
                await progress.step("machine", StepState.DONE)

            boot = self._boot_steps(
                PROVISION_BOOT_STEPS, fly, operation, machine_id, config, progress, actor
            )
            for current, run_step in boot:
                if current not in done:
                    await run_step()
        except asyncio.CancelledError:
            raise
        except (FlyError, FleetError) as error:
            await journal.step_failed(operation.id, current, _short(error))
            await self._fail(agent, operation, fly, current, error, actor=actor, progress=progress)
            raise AssertionError("unreachable") from error  # _fail always raises

        agent = await ctx.store.agents.update(
            agent.id,
            AgentChanges(model=config.model, last_error=None),
            actor=actor,
        )
        await ctx.store.agents.mark_provisioned(agent.id, actor=actor)
        agent = await ctx.store.agents.set_status(
            agent.id, AgentStatus.RUNNING, actor=actor, reason="provisioned"
        )
        await journal.finish(
            operation.id,
            OperationStatus.SUCCEEDED,
            result={"machine_id": machine_id, "volume_id": volume_id},
        )
        await ctx.audit(
            actor,
            "agent.provision",
            agent.id,
            AuditOutcome.OK,
            {"machine_id": machine_id, "volume_id": volume_id, "model": config.model},
        )
        await ctx.alert(
            "agent_provisioned",
            f"Agent {agent.id} ({agent.tenant_id}/{agent.user_id}) is running on machine "
            f"{machine_id} with model {config.model}.",
            severity=AlertSeverity.INFO,
            payload={"agent_id": agent.id, "machine_id": machine_id},
        )
        return ProvisionResult(
            agent=agent, operation_id=operation.id, resumed=resumed, model=config.model
        )

    async def _machine_for(
        self,
        fly: FlyClient,
        agent: Agent,
        config: EffectiveConfig,
        operation: Operation,
        volume_id: str,
    ) -> Machine:
        """The operation's machine: found by its tag after a crash, otherwise created with it."""
        existing = await fly.find_machine_by_op_id(operation.id)
        if existing is not None:
            return existing
        defaults = self.ctx.defaults
        runtime = runtime_for(agent, config, defaults.gateway_dev_mode, defaults.startup_timeout_s)
        return await fly.create_machine(
            machine_spec.machine_config(runtime, volume_id=volume_id),
            region=agent.region or config.region,
            op_id=operation.id,
        )

    def _boot_steps(
        self,
        names: Sequence[str],
        fly: FlyClient,
        operation: Operation,
        machine_id: str,
        config: EffectiveConfig,
        progress: Progress,
        actor: str,
    ) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
        """The steps that bring a created machine up, by name, in the order asked for; the
        caller skips those its journal already records as done."""
        runners: dict[str, Callable[[], Awaitable[None]]] = {
            "started": lambda: self._step_wait_started(fly, operation, machine_id, progress),
            "gateway": lambda: self._step_gateway(fly, operation, machine_id, progress),
            "owner": lambda: self._step_owner(fly, operation, machine_id, config, progress, actor),
            "model": lambda: self._step_model(fly, operation, machine_id, config, progress),
            "verify": lambda: self._step_verify(fly, operation, machine_id, config, progress),
        }
        return [(name, runners[name]) for name in names]

    async def _step_wait_started(
        self, fly: FlyClient, operation: Operation, machine_id: str, progress: Progress
    ) -> None:
        journal = self.ctx.store.journal
        await progress.step("started", StepState.RUNNING)
        await journal.step_started(operation.id, "started")
        await fly.wait_for_state(machine_id, "started", self.ctx.defaults.timings.start_deadline_s)
        await journal.step_done(operation.id, "started")
        await progress.step("started", StepState.DONE)

    async def _step_gateway(
        self, fly: FlyClient, operation: Operation, machine_id: str, progress: Progress
    ) -> None:
        journal = self.ctx.store.journal
        await progress.step("gateway", StepState.RUNNING, "waiting for [gateway] ready")
        await journal.step_started(operation.id, "gateway")
        report = await wait_until_ready(
            fly,
            machine_id,
            deadline_s=self.ctx.defaults.startup_timeout_s,
            poll_s=self.ctx.defaults.timings.gateway_poll_s,
        )
        await journal.step_done(operation.id, "gateway", {"agent_model": report.agent_model})
        await progress.step("gateway", StepState.DONE)

    async def _step_owner(
        self,
        fly: FlyClient,
        operation: Operation,
        machine_id: str,
        config: EffectiveConfig,
        progress: Progress,
        actor: str,
    ) -> None:
        journal = self.ctx.store.journal
        if self.ctx.defaults.owner_entries is None:
            await progress.step("owner", StepState.SKIPPED, "owner policy: user")
            await journal.step_started(operation.id, "owner")
            await journal.step_done(operation.id, "owner", {"policy": "user"})
            return
        await progress.step("owner", StepState.RUNNING)
        await journal.step_started(operation.id, "owner")
        try:
            applied = await owners.apply_policy(self.ctx, fly, machine_id, config, actor=actor)
        except ExecOutcomeUnknownError as error:
            raise _did_not_answer(
                "openclaw config set commands.ownerAllowFrom …", machine_id
            ) from error
        await journal.step_done(operation.id, "owner", {"owners": list(applied or ())})
        await progress.step("owner", StepState.DONE)

    async def _step_model(
        self,
        fly: FlyClient,
        operation: Operation,
        machine_id: str,
        config: EffectiveConfig,
        progress: Progress,
    ) -> None:
        journal = self.ctx.store.journal
        await progress.step("model", StepState.RUNNING, f"models set {config.model}")
        await journal.step_started(operation.id, "model")
        outcome = await self._cli(
            fly,
            machine_id,
            openclaw.set_model(self.ctx.defaults.openclaw_dir, config.model),
            config,
        )
        parsed = openclaw.parse_models_set(outcome.exit_code, outcome.stdout, outcome.stderr)
        if not parsed.ok:
            raise OperationFailed(f"OpenClaw refused the model {config.model}: {parsed.reason}")
        await journal.step_done(operation.id, "model", {"model": parsed.model})
        await progress.step("model", StepState.DONE)

    async def _step_verify(
        self,
        fly: FlyClient,
        operation: Operation,
        machine_id: str,
        config: EffectiveConfig,
        progress: Progress,
    ) -> None:
        journal = self.ctx.store.journal
        await progress.step("verify", StepState.RUNNING)
        await journal.step_started(operation.id, "verify")
        outcome = await self._cli(
            fly, machine_id, openclaw.model_status(self.ctx.defaults.openclaw_dir), config
        )
        parsed = openclaw.parse_models_status(outcome.exit_code, outcome.stdout, outcome.stderr)
        if not parsed.ok or parsed.model != config.model:
            seen = parsed.model or parsed.reason
            raise ModelMismatch(
                f"The effective model is {seen}, not the configured {config.model}.",
                cleanup=("run /model AGENT " + config.model,),
            )
        await journal.step_done(operation.id, "verify", {"model": parsed.model})
        await progress.step("verify", StepState.DONE)

    async def _cli(
        self, fly: FlyClient, machine_id: str, command: openclaw.CliCommand, config: EffectiveConfig
    ) -> CliOutcome:
        try:
            return await self.ctx.run_cli(fly, machine_id, command, config=config)
        except ExecOutcomeUnknownError as error:
            raise _did_not_answer(command.label, machine_id) from error

    async def _fail(
        self,
        agent: Agent,
        operation: Operation,
        fly: FlyClient,
        step: str,
        error: Exception,
        *,
        actor: str,
        progress: Progress,
    ) -> None:
        ctx = self.ctx
        await progress.step(step, StepState.FAILED, _short(error))
        current = await ctx.store.agents.get(agent.id)
        cleanup: list[str] = []
        rolled_back: list[str] = []
        if step in ("volume", "machine") and current.machine_id is None:
            # Nothing runs yet: take back what was created so no orphan remains.
            if current.volume_id:
                try:
                    await fly.delete_volume(current.volume_id)
                    rolled_back.append(f"volume {current.volume_id}")
                except NotFoundError:
                    rolled_back.append(f"volume {current.volume_id}")
                except FlyError as cleanup_error:
                    cleanup.append(
                        f"delete volume {current.volume_id} (fly volumes destroy "
                        f"{current.volume_id}): {_short(cleanup_error)}"
                    )
            await ctx.store.agents.update(
                agent.id, AgentChanges(volume_id=None, last_error=_short(error)), actor=actor
            )
            await ctx.store.agents.mark_deleted(
                agent.id, actor=actor, reason=f"provision failed at {step}"
            )
        else:
            cleanup.append(
                f"/deprovision {agent.id} removes machine {current.machine_id} and its volume"
            )
            await ctx.store.agents.update(
                agent.id, AgentChanges(last_error=_short(error)), actor=actor
            )
            with contextlib.suppress(StateTransitionError):
                await ctx.store.agents.set_status(
                    agent.id, AgentStatus.ERROR, actor=actor, reason=f"provision failed at {step}"
                )
        await ctx.store.journal.finish(
            operation.id,
            OperationStatus.FAILED,
            error=_short(error),
            result={
                "step": step,
                "rolled_back": _json_list(rolled_back),
                "cleanup": _json_list(cleanup),
            },
        )
        extra = list(getattr(error, "cleanup", ()))
        if isinstance(error, InsufficientCapacityError):
            extra.append("Fly has no capacity for this size in the region: try another region=")
        kind = error.kind if isinstance(error, GatewayProblem) else "provision_failed"
        await ctx.alert(
            f"gateway_{kind}" if isinstance(error, GatewayProblem) else kind,
            f"Provisioning {agent.tenant_id}/{agent.user_id} ({agent.id}) failed at step {step}: "
            f"{_short(error)}"
            + (f" Rolled back: {', '.join(rolled_back)}." if rolled_back else "")
            + (f" Fix: {'; '.join(extra + cleanup)}." if extra or cleanup else ""),
            severity=AlertSeverity.CRITICAL,
            payload={"agent_id": agent.id, "operation_id": operation.id, "step": step},
        )
        await ctx.audit(
            actor,
            "agent.provision",
            agent.id,
            AuditOutcome.FAILED,
            {"step": step, "error": _short(error)},
        )
        raise OperationFailed(
            f"Provisioning failed at step {step}: {_short(error)}"
            + (f" Rolled back: {', '.join(rolled_back)}." if rolled_back else ""),
            cleanup=[*extra, *cleanup],
        ) from error

    # --- recreate -----------------------------------------------------------------------------

    async def recreate(self, agent: Agent, *, actor: str, progress: Progress) -> ProvisionResult:
        ctx = self.ctx
        if agent.volume_id is None:
            raise NoSnapshot(f"Agent {agent.id} has no volume, so it has no snapshot to restore.")
        fly, config = await ctx.fly_for(agent)
        await progress.step("snapshot", StepState.RUNNING)
        snapshot = await fly.latest_usable_snapshot(agent.volume_id)
        if snapshot is None:
            # After an earlier recreate the newest snapshot may belong to a former volume,
            # which Fly keeps listable for the snapshot's retention.
            recorded = await ctx.store.snapshots.latest_usable(agent.id)
            if recorded is not None and recorded.source_volume_id != agent.volume_id:
                former = await fly.latest_usable_snapshot(recorded.source_volume_id)
                if former is not None:
                    snapshot = former
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
                agent.id, AgentStatus.RECREATING, actor=actor, reason=f"from {snapshot.id}"
            )
        journal = ctx.store.journal
        done = await journal.completed_results(operation.id)
        new_volume_id = _result_str(done.get("volume"), "volume_id")
        new_machine_id = _result_str(done.get("machine"), "machine_id")
        step = "volume"
        try:
            if new_volume_id is None:
                await progress.step("volume", StepState.RUNNING, "restoring from snapshot")
                await journal.step_started(operation.id, "volume")
                # The name is the operation's (kept in its params), so a resume after a crash
                # finds the volume an unanswered create made instead of making a second one.
                name = _param_str(operation.params, "volume_name") or machine_spec.volume_name(
                    agent.user_id
                )
                region = agent.region or config.region
                volume = await fly.find_volume_named(name, region) or await fly.create_volume(
                    name, region, ctx.defaults.volume_size_gb, snapshot_id=snapshot.id
                )
                new_volume_id = volume.id
                await journal.step_done(operation.id, "volume", {"volume_id": new_volume_id})
                await self._wait_volume_ready(fly, new_volume_id)
            await progress.step("volume", StepState.DONE)
            step = "machine"
            if new_machine_id is None:
                await progress.step("machine", StepState.RUNNING)
                await journal.step_started(operation.id, "machine")
                machine = await self._machine_for(fly, agent, config, operation, new_volume_id)
                new_machine_id = machine.id
                await journal.step_done(operation.id, "machine", {"machine_id": new_machine_id})
            await progress.step("machine", StepState.DONE)
            boot = self._boot_steps(
                RECREATE_BOOT_STEPS, fly, operation, new_machine_id, config, progress, actor
            )
            for step, run_step in boot:
                if step not in done:
                    await run_step()
        except asyncio.CancelledError:
            raise
        except (FlyError, FleetError) as error:
            await journal.step_failed(operation.id, step, _short(error))
            await progress.step(step, StepState.FAILED, _short(error))
            rolled_back = await self._discard(fly, new_machine_id, new_volume_id)
            await journal.finish(
                operation.id,
                OperationStatus.FAILED,
                error=_short(error),
                result={"rolled_back": _json_list(rolled_back)},
            )
            with contextlib.suppress(StateTransitionError):
                await ctx.store.agents.set_status(
                    agent.id,
                    previous_status,
                    actor=actor,
                    reason="recreate failed; old machine kept",
                )
            await ctx.alert(
                "recreate_failed",
                f"Recreating {agent.id} from {snapshot.id} failed at {step}: {_short(error)}. "
                f"The old machine {agent.machine_id} was kept; rolled back: "
                f"{', '.join(rolled_back) or 'nothing'}.",
                severity=AlertSeverity.CRITICAL,
                payload={"agent_id": agent.id, "operation_id": operation.id},
            )
            await ctx.audit(actor, "agent.recreate", agent.id, AuditOutcome.FAILED, {"step": step})
            raise OperationFailed(
                f"Recreate failed at step {step}: {_short(error)} The old machine was kept; "
                f"rolled back: {', '.join(rolled_back) or 'nothing'}.",
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
                actor=actor,
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
        await ctx.store.agents.mark_provisioned(agent.id, actor=actor)
        agent = await ctx.store.agents.set_status(
            agent.id, AgentStatus.RUNNING, actor=actor, reason=f"recreated from {snapshot.id}"
        )
        await journal.finish(
            operation.id,
            OperationStatus.SUCCEEDED,
            result={
                "machine_id": new_machine_id,
                "volume_id": new_volume_id,
                "leftovers": _json_list(leftovers),
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
            "agent_recreated",
            f"Agent {agent.id} was recreated from snapshot {snapshot.id} "
            f"on machine {new_machine_id}."
            + (f" Left to clean up: {'; '.join(leftovers)}." if leftovers else ""),
            severity=AlertSeverity.WARNING if leftovers else AlertSeverity.INFO,
            payload={"agent_id": agent.id},
        )
        return ProvisionResult(
            agent=agent, operation_id=operation.id, resumed=not begin.created, model=config.model
        )

    async def _wait_volume_ready(self, fly: FlyClient, volume_id: str) -> Volume:
        deadline = time.monotonic() + self.ctx.defaults.timings.start_deadline_s
        while True:
            volume = await fly.get_volume(volume_id)
            if volume.state not in ("restoring", "creating", "hydrating"):
                return volume
            if time.monotonic() > deadline:
                raise OperationFailed(f"Volume {volume_id} is still {volume.state}.")
            await asyncio.sleep(self.ctx.defaults.timings.snapshot_poll_s)

    async def _discard(
        self, fly: FlyClient, machine_id: str | None, volume_id: str | None
    ) -> list[str]:
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
            removed.extend(await self._delete_volume_when_free(fly, volume_id))
        return removed

    async def _destroy_old(
        self, fly: FlyClient, machine_id: str | None, volume_id: str | None
    ) -> list[str]:
        leftovers: list[str] = []
        if machine_id:
            try:
                await fly.destroy(machine_id, force=True)
            except NotFoundError:
                pass
            except FlyError as error:
                leftovers.append(f"old machine {machine_id} ({_short(error)})")
        if volume_id:
            removed = await self._delete_volume_when_free(fly, volume_id)
            if not removed:
                leftovers.append(f"old volume {volume_id}: fly volumes destroy {volume_id}")
        return leftovers

    async def _delete_volume_when_free(self, fly: FlyClient, volume_id: str) -> list[str]:
        # A just-destroyed machine may still hold the volume for a moment (412): retry briefly.
        for _ in range(10):
            try:
                await fly.delete_volume(volume_id)
                return [f"volume {volume_id}"]
            except NotFoundError:
                return [f"volume {volume_id}"]
            except FlyError as error:
                if getattr(error, "status_code", None) != 412:
                    log.warning("could not delete volume %s: %s", volume_id, error)
                    return []
            await asyncio.sleep(self.ctx.defaults.timings.snapshot_poll_s)
        return []


def _did_not_answer(label: str, machine_id: str) -> OperationFailed:
    return OperationFailed(
        f"{label} did not answer in time on {machine_id}; its outcome is unknown.",
        cleanup=("restart the machine with /restart AGENT and check it",),
    )


def _short(error: BaseException) -> str:
    text = getattr(error, "message", None) or str(error) or type(error).__name__
    # Cut known secrets before shortening: a cut through a value would hide it from the
    # registry's match further down.
    return redact_known(str(text))[:400]


def _json_list(items: list[str]) -> list[JsonValue]:
    return list(items)


def _result_str(result: JsonValue | None, key: str) -> str | None:
    if isinstance(result, dict):
        value = result.get(key)
        if isinstance(value, str):
            return value
    return None


def _param_str(params: Mapping[str, JsonValue], key: str) -> str | None:
    value = params.get(key)
    return value if isinstance(value, str) else None


def secrets_to_store(values: Mapping[str, SecretStr]) -> dict[str, SecretStr]:
    return {name: value for name, value in values.items() if value.get_secret_value()}
