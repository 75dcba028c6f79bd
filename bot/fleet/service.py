"""`FleetService`: every lifecycle function of the seed, as plain async methods.

The Telegram layer, tests, a CLI and the benchmarks all drive the fleet through this class;
it knows nothing of Telegram. Each seed function has a method of the same meaning
(`provision_agent_machine`, `stop_agent_machine`, …, and the `…_with_stored_secrets`
variants, which read the credentials from the vault instead of taking them in the call),
plus `restart_agent_machine`, `set_model` and `verify_model`, which the seed's operational
notes call for, and `bulk_lifecycle` (stop, wake or restart many agents, a bounded number at
a time: `bot.fleet.bulk`). Every mutating call records an audit entry; problems worth a
human's time are queued for the ops chat.

`actor` names who asked: `admin:<telegram id>`, `user:<telegram id>` or `system`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from pydantic import JsonValue, SecretStr

from bot.fleet import machine_spec, openclaw, owners, validation
from bot.fleet.bulk import AgentOperation, BulkAction, BulkReport, run_bulk
from bot.fleet.context import FleetContext, agent_key
from bot.fleet.defaults import FleetDefaults
from bot.fleet.errors import (
    AgentBusy,
    AgentNotFound,
    FleetError,
    GatewayProblem,
    InvalidRequest,
    ModelMismatch,
    OperationFailed,
)
from bot.fleet.fly_boundary import fly_errors_become_fleet_errors
from bot.fleet.fly_pool import FlyPool
from bot.fleet.gateway import GatewayHealth, current_health, wait_until_ready
from bot.fleet.pairing_executor import PairingExecutor, PairingResult, RecoveryResult
from bot.fleet.progress import Progress, StepState
from bot.fleet.provisioning import (
    PROVISION_STEPS,
    RECREATE_STEPS,
    OnResumed,
    Provisioner,
    ProvisionResult,
    ResumedProvision,
)
from bot.fleet.resolve import AGENT_SECRET_KEYS, AgentOverrides, EffectiveConfig
from bot.fleet.tenants import TenantService
from flyclient import (
    FlyClient,
    FlyError,
    InsufficientCapacityError,
    Machine,
    NotFoundError,
    PreconditionFailedError,
    VolumeSnapshot,
    WaitTimeoutError,
)
from storage import Store
from storage.errors import AgentAlreadyExistsError, StateTransitionError
from storage.models import (
    Agent,
    AgentChanges,
    AgentStatus,
    AlertSeverity,
    AuditOutcome,
    OperationKind,
    OperationStatus,
    PairingSource,
    SecretMeta,
    SecretScope,
    Snapshot,
    SubmitResult,
)

log = logging.getLogger("bot.fleet.service")


@dataclass(frozen=True)
class ProvisionRequest:
    tenant_id: str
    user_id: str
    model: str | None = None
    allowed_skills: Sequence[str] | None = None
    region: str | None = None
    secrets: Mapping[str, str | SecretStr] | None = None
    telegram_user_id: int | None = None
    # Who to tell if a restart finishes it (opaque to the fleet; see ResumedProvision).
    report: Mapping[str, JsonValue] | None = None


@dataclass(frozen=True)
class AgentView:
    """An agent's record, its live Fly state and where its configuration came from."""

    agent: Agent
    machine: Machine | None
    machine_error: str | None
    config_sources: Mapping[str, str]
    # The machine's recorded command owners and how they stand against the owner policy.
    owner_policy: str
    # Effective non-secret values by setting name (secrets are never carried here).
    config_values: Mapping[str, str]


# A bulk action never touches an agent another operation owns (provisioning, recreating, …).
_BULK_TARGET_STATUSES: Mapping[BulkAction, frozenset[AgentStatus]] = {
    BulkAction.STOP: frozenset({AgentStatus.RUNNING, AgentStatus.ERROR}),
    BulkAction.WAKE: frozenset({AgentStatus.STOPPED, AgentStatus.ERROR}),
    BulkAction.RESTART: frozenset({AgentStatus.RUNNING, AgentStatus.ERROR}),
}


def _plain(value: str | SecretStr) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _clean_agent_secrets(
    values: Mapping[str, str | SecretStr],
) -> tuple[dict[str, str], list[str]]:
    """An agent's secrets by canonical name, and every problem with them (values never shown)."""
    cleaned: dict[str, str] = {}
    problems: list[str] = []
    for raw_name, raw_value in values.items():
        try:
            name = validation.secret_name(raw_name)
        except validation.InvalidInput as error:
            problems.append(str(error))
            continue
        if name not in AGENT_SECRET_KEYS:
            problems.append(f"{name}: not a secret an agent uses ({', '.join(AGENT_SECRET_KEYS)})")
            continue
        value = _plain(raw_value).strip()
        if not value:
            problems.append(f"{name}: is empty")
            continue
        try:
            value = validation.secret_value(name, value)
        except validation.InvalidInput as error:
            problems.append(str(error))
            continue
        if name == "TELEGRAM_BOT_TOKEN":
            try:
                validation.telegram_bot_token(value)
            except validation.InvalidInput as error:
                problems.append(str(error))
                continue
        cleaned[name] = value
    return cleaned, problems


@fly_errors_become_fleet_errors
class FleetService:
    def __init__(self, store: Store, pool: FlyPool, defaults: FleetDefaults) -> None:
        self.ctx = FleetContext(store=store, pool=pool, defaults=defaults)
        self.store = store
        self.defaults = defaults
        self.provisioner = Provisioner(self.ctx)
        self.pairing = PairingExecutor(self.ctx)
        self.tenants = TenantService(self.ctx)
        self._agent_locks: dict[str, asyncio.Lock] = {}

    async def start(self) -> None:
        """Call once at start-up: requests left running by a dead process become stuck."""
        await self.pairing.recover_after_restart()

    async def aclose(self) -> None:
        await self.ctx.pool.aclose()

    def _lock(self, key: str) -> asyncio.Lock:
        return self._agent_locks.setdefault(key, asyncio.Lock())

    async def find_agent(self, ref: str) -> Agent:
        return await self.ctx.find_agent(ref)

    # --- validation ---------------------------------------------------------------------------

    def _validate_request(
        self, request: ProvisionRequest
    ) -> tuple[str, str, AgentOverrides, dict[str, str]]:
        problems: list[str] = []
        tenant = user = ""
        overrides = AgentOverrides()
        try:
            tenant = validation.entity_id(request.tenant_id, "TENANT_ID")
        except validation.InvalidInput as error:
            problems.append(str(error))
        try:
            user = validation.entity_id(request.user_id, "USER_ID")
        except validation.InvalidInput as error:
            problems.append(str(error))
        model = skills = region = None
        if request.model is not None:
            try:
                model = validation.model_id(request.model)
            except validation.InvalidInput as error:
                problems.append(f"LLM_MODEL: {error}")
        if request.allowed_skills is not None:
            try:
                skills = tuple(validation.skills(request.allowed_skills))
            except validation.InvalidInput as error:
                problems.append(f"ALLOWED_SKILLS_JSON: {error}")
        if request.region is not None:
            try:
                region = validation.region(request.region)
            except validation.InvalidInput as error:
                problems.append(str(error))
        secrets, secret_problems = _clean_agent_secrets(request.secrets or {})
        problems.extend(secret_problems)
        if problems:
            raise InvalidRequest(problems)
        overrides = AgentOverrides(model=model, allowed_skills=skills, region=region)
        return tenant, user, overrides, secrets

    def _check_config(self, config: EffectiveConfig) -> None:
        problems = [f"{name}: is required but not set" for name in config.missing_runtime_values()]
        try:
            validation.model_id(config.model)
        except validation.InvalidInput as error:
            problems.append(f"LLM_MODEL: {error}")
        if config.bridge_url:
            try:
                validation.https_url(config.bridge_url)
            except validation.InvalidInput as error:
                problems.append(f"AGENT_BRIDGE_URL: {error}")
        token = config.secrets.get("TELEGRAM_BOT_TOKEN")
        if token is not None:
            try:
                validation.telegram_bot_token(token.get_secret_value())
            except validation.InvalidInput as error:
                problems.append(str(error))
        if problems:
            raise InvalidRequest(problems)

    # --- provision ----------------------------------------------------------------------------

    async def provision_agent_machine(
        self, request: ProvisionRequest, *, actor: str, progress: Progress | None = None
    ) -> ProvisionResult:
        """Provision with secrets given in the call (stored in the vault for later steps)."""
        return await self._provision(request, actor=actor, progress=progress)

    async def provision_agent_machine_with_stored_secrets(
        self,
        tenant_id: str,
        user_id: str,
        *,
        actor: str,
        model: str | None = None,
        allowed_skills: Sequence[str] | None = None,
        region: str | None = None,
        progress: Progress | None = None,
        report: Mapping[str, JsonValue] | None = None,
    ) -> ProvisionResult:
        request = ProvisionRequest(
            tenant_id=tenant_id,
            user_id=user_id,
            model=model,
            allowed_skills=allowed_skills,
            region=region,
            report=report,
        )
        return await self._provision(request, actor=actor, progress=progress)

    async def _provision(
        self, request: ProvisionRequest, *, actor: str, progress: Progress | None
    ) -> ProvisionResult:
        tenant, user, overrides, call_secrets = self._validate_request(request)
        progress = progress or Progress.silent("provision", PROVISION_STEPS)
        async with self._lock(agent_key(tenant, user)):
            existing = await self.store.agents.get_live(tenant, user)
            if existing is not None:
                operation = await self.store.journal.get_by_key(f"provision:{existing.id}")
                if operation is None or operation.status is not OperationStatus.RUNNING:
                    raise AgentBusy(
                        f"{tenant}/{user} already has agent {existing.id} "
                        f"({existing.status.value})."
                    )
                return await self._resume_provision(existing, actor=actor, progress=progress)

            staged = await self.store.secrets.get_all(SecretScope.staged(tenant, user))
            agent_secrets = {**staged, **{k: SecretStr(v) for k, v in call_secrets.items()}}
            config = await self.ctx.effective_config(
                tenant,
                overrides=overrides,
                agent_secrets=agent_secrets,
                generate_gateway_token=True,
            )
            self._check_config(config)
            try:
                agent = await self.store.agents.create(
                    tenant_id=tenant,
                    user_id=user,
                    actor=actor,
                    fly_app=config.fly_app,
                    region=config.region,
                    image=config.image,
                    model=config.model,
                    memory_mb=config.memory_mb,
                    allowed_skills=config.allowed_skills,
                    telegram_user_id=request.telegram_user_id,
                )
            except AgentAlreadyExistsError as error:
                raise AgentBusy(f"{tenant}/{user} already has a live agent.") from error
            own = {name: config.secrets[name] for name in (*call_secrets, *config.generated)}
            own.update(staged)
            own.update({k: SecretStr(v) for k, v in call_secrets.items()})
            if own:
                await self.store.secrets.upsert(SecretScope.agent(agent.id), own, actor=actor)
            if staged:
                await self.store.secrets.clear(SecretScope.staged(tenant, user), actor=actor)
            begin = await self.store.journal.begin(
                OperationKind.PROVISION,
                f"provision:{agent.id}",
                params={
                    "volume_name": machine_spec.volume_name(user),
                    "tenant_id": tenant,
                    "user_id": user,
                    **({"report": dict(request.report)} if request.report else {}),
                },
                agent_id=agent.id,
            )
            return await self.provisioner.run(
                agent, begin.operation, config, actor=actor, progress=progress, resumed=False
            )

    async def _resume_provision(
        self, agent: Agent, *, actor: str, progress: Progress
    ) -> ProvisionResult:
        operation = await self.store.journal.get_by_key(f"provision:{agent.id}")
        if operation is None:
            raise AgentBusy(f"Agent {agent.id} has no provisioning to resume.")
        config = await self.ctx.config_for(agent)
        self._check_config(config)
        return await self.provisioner.run(
            agent, operation, config, actor=actor, progress=progress, resumed=True
        )

    async def resume_unfinished(
        self, *, actor: str = "system", on_resumed: OnResumed | None = None
    ) -> list[str]:
        """After a crash: resume every provisioning the journal shows unfinished.

        `on_resumed` hears each one's outcome (finished or failed) with the report reference
        its starter gave, so the admin who asked is told although this process did not start it.
        """
        resumed = []
        for operation in await self.store.journal.unfinished(kind=OperationKind.PROVISION):
            if operation.agent_id is None:
                continue
            agent = await self.store.agents.find(operation.agent_id)
            if agent is None or agent.deleted_at is not None:
                continue
            report = operation.params.get("report")
            outcome = ResumedProvision(
                agent.id,
                report if isinstance(report, dict) else None,
                Progress.silent("provision", PROVISION_STEPS),
            )
            try:
                async with self._lock(agent_key(agent.tenant_id, agent.user_id)):
                    result = await self._resume_provision(
                        agent, actor=actor, progress=outcome.progress
                    )
                resumed.append(agent.id)
                outcome = replace(outcome, result=result)
            except FleetError as error:
                log.warning("resuming provisioning of %s failed: %s", agent.id, error)
                outcome = replace(outcome, error=error)
            if on_resumed is not None:
                try:
                    await on_resumed(outcome)
                except Exception:
                    log.exception("reporting the resumed provisioning of %s failed", agent.id)
        return resumed

    # --- recreate -----------------------------------------------------------------------------

    async def recreate_agent_from_latest_snapshot(
        self,
        ref: str,
        *,
        actor: str,
        secrets: Mapping[str, str | SecretStr] | None = None,
        progress: Progress | None = None,
    ) -> ProvisionResult:
        agent = await self.find_agent(ref)
        if secrets:
            await self.upsert_agent_secrets(agent.id, secrets, actor=actor)
        return await self.recreate_agent_from_latest_snapshot_with_stored_secrets(
            agent.id, actor=actor, progress=progress
        )

    async def recreate_agent_from_latest_snapshot_with_stored_secrets(
        self, ref: str, *, actor: str, progress: Progress | None = None
    ) -> ProvisionResult:
        agent = await self.find_agent(ref)
        progress = progress or Progress.silent("recreate", RECREATE_STEPS)
        async with self._lock(agent_key(agent.tenant_id, agent.user_id)):
            agent = await self.store.agents.get(agent.id)
            return await self.provisioner.recreate(agent, actor=actor, progress=progress)

    # --- start / stop / restart ---------------------------------------------------------------

    async def start_agent_machine(
        self, ref: str, *, actor: str, progress: Progress | None = None
    ) -> Agent:
        agent = await self.find_agent(ref)
        machine_id = self._machine_of(agent)
        fly, _ = await self.ctx.fly_for(agent)
        progress = progress or Progress.silent("wake", ("start", "gateway"))
        since = datetime.now(UTC)
        await progress.step("start", StepState.RUNNING)
        try:
            await fly.start(machine_id)
            await fly.wait_for_state(machine_id, "started", self.defaults.timings.start_deadline_s)
        except PreconditionFailedError as error:
            await progress.step("start", StepState.FAILED, error.message)
            await self._capacity_alert(agent, error)
            await self.ctx.audit(
                actor, "agent.start", agent.id, AuditOutcome.FAILED, {"error": error.message}
            )
            raise OperationFailed(
                f"Fly refused to start machine {machine_id}: {error.message}",
                cleanup=(
                    "if the host is full, /snapshot then /recreate moves the agent to a new volume",
                ),
            ) from error
        except FlyError as error:
            await progress.step("start", StepState.FAILED, error.message)
            await self.ctx.audit(
                actor, "agent.start", agent.id, AuditOutcome.FAILED, {"error": error.message}
            )
            raise OperationFailed(
                f"Starting machine {machine_id} failed: {error.message}"
            ) from error
        await progress.step("start", StepState.DONE)
        await self._gateway_step(agent, fly, machine_id, since, progress, actor, "agent.start")
        agent = await self._running_if_provisioned(agent, actor=actor, reason="started")
        await self.ctx.audit(
            actor, "agent.start", agent.id, AuditOutcome.OK, {"machine_id": machine_id}
        )
        return agent

    async def start_agent_machine_with_stored_secrets(self, ref: str, *, actor: str) -> Agent:
        return await self.start_agent_machine(ref, actor=actor)

    async def stop_agent_machine(self, ref: str, *, actor: str) -> Agent:
        agent = await self.find_agent(ref)
        machine_id = self._machine_of(agent)
        fly, _ = await self.ctx.fly_for(agent)
        # The status changes first so the monitor reads the stop as intended.
        agent = await self.store.agents.set_status(
            agent.id, AgentStatus.STOPPED, actor=actor, reason="stop requested"
        )
        try:
            await fly.stop(machine_id)
            await fly.wait_for_state(machine_id, "stopped", self.defaults.timings.stop_deadline_s)
            await self.ctx.cli.restarted(machine_id)  # stopping killed whatever ran in it
        except FlyError as error:
            await self.ctx.audit(
                actor, "agent.stop", agent.id, AuditOutcome.FAILED, {"error": error.message}
            )
            raise OperationFailed(
                f"Stopping machine {machine_id} failed: {error.message}"
            ) from error
        await self.ctx.audit(
            actor, "agent.stop", agent.id, AuditOutcome.OK, {"machine_id": machine_id}
        )
        return agent

    async def stop_agent_machine_with_stored_secrets(self, ref: str, *, actor: str) -> Agent:
        return await self.stop_agent_machine(ref, actor=actor)

    async def restart_agent_machine(
        self, ref: str, *, actor: str, progress: Progress | None = None
    ) -> tuple[Agent, RecoveryResult]:
        """Restart, wait for a healthy gateway, then settle any stuck pairing (look first)."""
        agent = await self.find_agent(ref)
        machine_id = self._machine_of(agent)
        fly, _ = await self.ctx.fly_for(agent)
        progress = progress or Progress.silent("restart", ("restart", "gateway", "pairing"))
        since = datetime.now(UTC)
        await progress.step("restart", StepState.RUNNING)
        try:
            machine = await fly.get_machine(machine_id)
            if machine.state == "started":
                await fly.restart(machine_id)
            else:
                await fly.start(machine_id)
            await fly.wait_for_state(machine_id, "started", self.defaults.timings.start_deadline_s)
            # A new boot: a command that never answered died with the old one.
            await self.ctx.cli.restarted(machine_id)
        except FlyError as error:
            await progress.step("restart", StepState.FAILED, error.message)
            await self.ctx.audit(
                actor, "agent.restart", agent.id, AuditOutcome.FAILED, {"error": error.message}
            )
            raise OperationFailed(
                f"Restarting machine {machine_id} failed: {error.message}"
            ) from error
        await progress.step("restart", StepState.DONE)
        await self._gateway_step(agent, fly, machine_id, since, progress, actor, "agent.restart")
        await progress.step("pairing", StepState.RUNNING)
        recovery = await self.pairing.recover_machine(agent, actor=actor)
        await progress.step("pairing", StepState.DONE, recovery.message)
        with contextlib.suppress(StateTransitionError):
            agent = await self._running_if_provisioned(agent, actor=actor, reason="restarted")
        await self.ctx.audit(
            actor, "agent.restart", agent.id, AuditOutcome.OK, {"machine_id": machine_id}
        )
        return agent, recovery

    # --- many agents at once -----------------------------------------------------------------

    async def bulk_targets(self, action: BulkAction, tenant_id: str | None = None) -> list[Agent]:
        """The live agents `action` applies to (optionally of one tenant), oldest first.

        Agents being provisioned, recreated or deprovisioned are never included: another
        operation owns their machine.
        """
        statuses = _BULK_TARGET_STATUSES[action]
        return [
            agent
            for agent in await self.list_agent_machines_by_tenant(tenant_id)
            if agent.machine_id is not None and agent.status in statuses
        ]

    async def bulk_lifecycle(
        self,
        action: BulkAction,
        agent_refs: Sequence[str],
        *,
        actor: str,
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
        limit = concurrency if concurrency is not None else self.defaults.bulk_concurrency
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

    # --- deprovision --------------------------------------------------------------------------

    async def deprovision_agent_machine(self, ref: str, *, actor: str) -> list[str]:
        """Force-destroy the machine, delete the volume, mark the agent deleted.

        Returns what was removed; a machine or volume already gone counts as removed.
        """
        agent = await self.find_agent(ref)
        fly, _ = await self.ctx.fly_for(agent)
        begin = await self.store.journal.begin(
            OperationKind.DEPROVISION,
            f"deprovision:{agent.id}",
            agent_id=agent.id,
            params={"machine_id": agent.machine_id, "volume_id": agent.volume_id},
        )
        operation = begin.operation
        with contextlib.suppress(StateTransitionError):
            await self.store.agents.set_status(
                agent.id, AgentStatus.DEPROVISIONING, actor=actor, reason="deprovision requested"
            )
        removed: list[str] = []
        leftovers: list[str] = []
        if agent.machine_id:
            await self.store.journal.step_started(operation.id, "machine")
            try:
                await fly.destroy(agent.machine_id, force=True)
                with contextlib.suppress(WaitTimeoutError, NotFoundError):
                    await fly.wait_for_state(agent.machine_id, "destroyed", 30)
                removed.append(f"machine {agent.machine_id}")
            except NotFoundError:
                removed.append(f"machine {agent.machine_id} (already gone)")
            except FlyError as error:
                leftovers.append(f"machine {agent.machine_id}: {error.message}")
            await self.store.journal.step_done(operation.id, "machine")
        if agent.volume_id and not leftovers:
            await self.store.journal.step_started(operation.id, "volume")
            deleted = await self.provisioner._delete_volume_when_free(fly, agent.volume_id)
            if deleted:
                removed.extend(deleted)
            else:
                leftovers.append(f"volume {agent.volume_id}: fly volumes destroy {agent.volume_id}")
            await self.store.journal.step_done(operation.id, "volume")
        if leftovers:
            await self.store.journal.finish(
                operation.id, OperationStatus.FAILED, error="; ".join(leftovers)
            )
            with contextlib.suppress(StateTransitionError):
                await self.store.agents.set_status(
                    agent.id, AgentStatus.ERROR, actor=actor, reason="deprovision incomplete"
                )
            await self.ctx.alert(
                "deprovision_incomplete",
                f"Deprovisioning {agent.id} left: {'; '.join(leftovers)}.",
                severity=AlertSeverity.CRITICAL,
                payload={"agent_id": agent.id},
            )
            await self.ctx.audit(
                actor, "agent.deprovision", agent.id, AuditOutcome.FAILED, {"leftovers": leftovers}
            )
            raise OperationFailed(
                f"Deprovisioning {agent.id} was incomplete. "
                f"Removed: {', '.join(removed) or 'nothing'}.",
                cleanup=leftovers,
            )
        await self.store.agents.update(
            agent.id, AgentChanges(machine_id=None, volume_id=None), actor=actor
        )
        await self.store.agents.mark_deleted(agent.id, actor=actor, reason="deprovisioned")
        await self.store.journal.finish(
            operation.id, OperationStatus.SUCCEEDED, result={"removed": list(removed)}
        )
        await self.ctx.audit(
            actor, "agent.deprovision", agent.id, AuditOutcome.OK, {"removed": removed}
        )
        return removed

    async def deprovision_agent_machine_with_stored_secrets(
        self, ref: str, *, actor: str
    ) -> list[str]:
        return await self.deprovision_agent_machine(ref, actor=actor)

    # --- small operations ---------------------------------------------------------------------

    async def touch_agent_activity(self, ref: str) -> None:
        agent = await self.find_agent(ref)
        await self.store.agents.touch_activity(agent.id)

    async def create_agent_snapshot(self, ref: str, *, actor: str) -> Snapshot:
        agent = await self.find_agent(ref)
        if agent.volume_id is None:
            raise FleetError(f"Agent {agent.id} has no volume to snapshot.")
        fly, _ = await self.ctx.fly_for(agent)
        try:
            snapshot = await fly.create_snapshot(agent.volume_id)
        except FlyError as error:
            await self.ctx.audit(
                actor, "agent.snapshot", agent.id, AuditOutcome.FAILED, {"error": error.message}
            )
            raise OperationFailed(
                f"Snapshot of {agent.volume_id} failed: {error.message}"
            ) from error
        snapshot = await self._until_snapshot_usable(fly, agent.volume_id, snapshot)
        record = await self.store.snapshots.record(
            agent_id=agent.id,
            source_volume_id=agent.volume_id,
            fly_snapshot_id=snapshot.id,
            source_machine_id=agent.machine_id,
            region=agent.region,
            detail=f"fly status {snapshot.status}",
        )
        await self.ctx.audit(
            actor, "agent.snapshot", agent.id, AuditOutcome.OK, {"snapshot_id": snapshot.id}
        )
        return record

    async def create_agent_snapshot_with_stored_secrets(self, ref: str, *, actor: str) -> Snapshot:
        return await self.create_agent_snapshot(ref, actor=actor)

    async def list_agent_machines_by_tenant(self, tenant_id: str | None = None) -> list[Agent]:
        if tenant_id is not None:
            tenant_id = validation.entity_id(tenant_id, "The tenant id")
        return await self.store.agents.live(tenant_id=tenant_id)

    async def get_agent_machine(self, ref: str, *, live: bool = True) -> AgentView:
        agent = await self.find_agent(ref)
        config = await self.ctx.config_for(agent)
        machine: Machine | None = None
        machine_error: str | None = None
        if live and agent.machine_id:
            try:
                machine = await self.ctx.fly_for_config(config).get_machine(agent.machine_id)
            except FlyError as error:
                machine_error = error.message
            except FleetError as error:
                machine_error = error.message
        wanted = self.defaults.owner_entries
        if agent.machine_id:
            record = await owners.recorded(self.ctx, agent.machine_id)
            policy = owners.describe(record, wanted)
        else:
            policy = f"no machine · policy {owners.policy_words(wanted)}"
        values = {
            "FLY_APP_NAME": config.fly_app or "",
            "FLYAGENTS_AGENT_IMAGE": config.image,
            "FLY_REGION": config.region,
            "FLYAGENTS_AGENT_VM": f"{config.cpu_kind}-cpu-{config.cpus}x",
            "LLM_MODEL": config.model,
            "OPENCLAW_APP_KEY": config.app_key,
            "ALLOWED_SKILLS_JSON": json.dumps(list(config.allowed_skills)),
            "AGENT_BRIDGE_URL": config.bridge_url or "",
            "OPENCLAW_SERVICE_ID": config.service_id or "",
        }
        return AgentView(
            agent,
            machine,
            machine_error,
            dict(config.sources),
            policy,
            {key: value for key, value in values.items() if value},
        )

    async def gateway_health(self, ref: str) -> GatewayHealth:
        agent = await self.find_agent(ref)
        fly, _ = await self.ctx.fly_for(agent)
        return await current_health(fly, self._machine_of(agent))

    async def update_allowed_skills(self, ref: str, skills: Sequence[str], *, actor: str) -> Agent:
        """Record the new skills AND put them on the running machine (an update restarts it)."""
        cleaned = tuple(validation.skills(skills))
        agent = await self.find_agent(ref)
        agent = await self.store.agents.update(
            agent.id, AgentChanges(allowed_skills=cleaned), actor=actor
        )
        if agent.machine_id:
            fly, _ = await self.ctx.fly_for(agent)
            try:
                machine = await fly.get_machine(agent.machine_id)
                if machine.config is None:
                    raise OperationFailed(f"Machine {agent.machine_id} has no config to update.")
                config = machine.config.model_copy(deep=True)
                config.env["ALLOWED_SKILLS_JSON"] = json.dumps(list(cleaned), separators=(",", ":"))
                since = datetime.now(UTC)
                await fly.update_machine(
                    agent.machine_id, config, current_version=machine.instance_id
                )
                if machine.state == "started":
                    await fly.wait_for_state(
                        agent.machine_id, "started", self.defaults.timings.start_deadline_s
                    )
                    await wait_until_ready(
                        fly,
                        agent.machine_id,
                        deadline_s=self.defaults.startup_timeout_s,
                        poll_s=self.defaults.timings.gateway_poll_s,
                        since=since,
                    )
            except FlyError as error:
                # The new skills are already recorded: say so, and keep it as the agent's error.
                failed = OperationFailed(
                    f"The skills of {agent.id} are recorded, but updating machine "
                    f"{agent.machine_id} failed ({error}): it may still run with its previous "
                    "skills.",
                    cleanup=(f"send the same /skills {agent.id} again once Fly answers",),
                )
                await self.store.agents.update(
                    agent.id, AgentChanges(last_error=failed.message[:400]), actor=actor
                )
                await self.ctx.audit(
                    actor, "agent.skills", agent.id, AuditOutcome.FAILED, {"error": error.message}
                )
                raise failed from error
        await self.ctx.audit(
            actor, "agent.skills", agent.id, AuditOutcome.OK, {"skills": list(cleaned)}
        )
        return agent

    # --- secrets ------------------------------------------------------------------------------

    async def _secret_scope(self, ref: str) -> SecretScope:
        try:
            agent = await self.find_agent(ref)
            return SecretScope.agent(agent.id)
        except AgentNotFound:
            if "/" not in ref:
                raise
            tenant, _, user = ref.strip().partition("/")
            # Not provisioned yet: kept for that agent-to-be, moved to it at provisioning.
            return SecretScope.staged(
                validation.entity_id(tenant, "The tenant id"),
                validation.entity_id(user, "The user id"),
            )

    async def upsert_agent_secrets(
        self, ref: str, values: Mapping[str, str | SecretStr], *, actor: str
    ) -> list[SecretMeta]:
        cleaned, problems = _clean_agent_secrets(values)
        if problems:
            raise InvalidRequest(problems)
        scope = await self._secret_scope(ref)
        return await self.store.secrets.upsert(
            scope, {name: SecretStr(value) for name, value in cleaned.items()}, actor=actor
        )

    async def get_agent_secrets_meta(self, ref: str) -> list[SecretMeta]:
        return await self.store.secrets.meta(await self._secret_scope(ref))

    async def clear_agent_secrets(self, ref: str, *, actor: str) -> int:
        return await self.store.secrets.clear(await self._secret_scope(ref), actor=actor)

    # --- pairing ------------------------------------------------------------------------------

    async def approve_telegram_pairing(self, ref: str, code: str, *, actor: str) -> PairingResult:
        """An admin approves a code directly (the seed's `approveTelegramPairing`)."""
        agent = await self.find_agent(ref)
        submitted = await self.pairing.submit(agent, code, actor=actor, source=PairingSource.ADMIN)
        request = submitted.request
        if request.state.value == "submitted":
            with contextlib.suppress(StateTransitionError):
                request = await self.store.pairing.approve(request.id, admin=actor)
        return await self.pairing.execute(request.id, actor=actor)

    async def approve_telegram_pairing_with_stored_secrets(
        self, ref: str, code: str, *, actor: str
    ) -> PairingResult:
        return await self.approve_telegram_pairing(ref, code, actor=actor)

    async def submit_user_pairing_code(
        self, agent_id: str, code: str, *, telegram_user_id: int
    ) -> SubmitResult:
        agent = await self.find_agent(agent_id)
        if agent.telegram_user_id != telegram_user_id:
            raise FleetError("You can only pair your own agent.")
        return await self.pairing.submit(
            agent, code, actor=f"user:{telegram_user_id}", source=PairingSource.USER
        )

    async def approve_pairing_request(self, request_id: str, *, actor: str) -> PairingResult:
        """Approve (if still awaiting a decision) and execute: double taps run it once."""
        # Someone else may have decided first; execute() reports what happened then.
        with contextlib.suppress(StateTransitionError):
            await self.store.pairing.approve(request_id, admin=actor)
        return await self.pairing.execute(request_id, actor=actor)

    async def reject_pairing_request(self, request_id: str, *, actor: str) -> None:
        await self.store.pairing.reject(request_id, admin=actor)

    # --- end users ----------------------------------------------------------------------------

    async def unlink_telegram_user(self, ref: str, *, actor: str) -> tuple[Agent, int | None]:
        """Release the agent from its end user (so an invite can link someone else); answers
        the agent and the Telegram user who was linked (None when nobody was)."""
        agent = await self.find_agent(ref)
        return await self.store.agents.unlink_telegram_user(agent.id, actor=actor)

    # --- model --------------------------------------------------------------------------------

    async def set_model(self, ref: str, model: str, *, actor: str) -> str:
        """`models set` then `models status --plain`; a mismatch is an alert, not a success."""
        chosen = validation.model_id(model)
        agent = await self.find_agent(ref)
        machine_id = self._machine_of(agent)
        fly, config = await self.ctx.fly_for(agent)
        outcome = await self.ctx.run_cli(
            fly, machine_id, openclaw.set_model(self.defaults.openclaw_dir, chosen), config=config
        )
        parsed = openclaw.parse_models_set(outcome.exit_code, outcome.stdout, outcome.stderr)
        if not parsed.ok:
            await self.ctx.audit(
                actor,
                "agent.model",
                agent.id,
                AuditOutcome.FAILED,
                {"model": chosen, "reason": parsed.reason},
            )
            raise OperationFailed(f"OpenClaw refused the model {chosen}: {parsed.reason}")
        await self.store.agents.update(agent.id, AgentChanges(model=chosen), actor=actor)
        effective = await self.verify_model(agent.id, actor=actor, expected=chosen)
        await self.ctx.audit(actor, "agent.model", agent.id, AuditOutcome.OK, {"model": chosen})
        return effective

    async def verify_model(self, ref: str, *, actor: str, expected: str | None = None) -> str:
        agent = await self.find_agent(ref)
        machine_id = self._machine_of(agent)
        fly, config = await self.ctx.fly_for(agent)
        wanted = expected or agent.model or config.model
        outcome = await self.ctx.run_cli(
            fly, machine_id, openclaw.model_status(self.defaults.openclaw_dir), config=config
        )
        parsed = openclaw.parse_models_status(outcome.exit_code, outcome.stdout, outcome.stderr)
        if not parsed.ok or parsed.model != wanted:
            seen = parsed.model or parsed.reason
            await self.ctx.alert(
                "model_mismatch",
                f"Agent {agent.id} runs model {seen}, not the configured {wanted}.",
                severity=AlertSeverity.WARNING,
                dedupe_key=f"model_mismatch:{agent.id}",
                payload={"agent_id": agent.id},
            )
            raise ModelMismatch(
                f"The effective model is {seen}, not {wanted}.",
                cleanup=(f"/model {agent.id} {wanted}",),
            )
        return parsed.model

    # --- helpers ---------------------------------------------------------------------------

    async def _gateway_step(
        self,
        agent: Agent,
        fly: FlyClient,
        machine_id: str,
        since: datetime,
        progress: Progress,
        actor: str,
        action: str,
    ) -> None:
        """Wait for this boot's gateway; a failure is shown, alerted and audited, then raised."""
        await progress.step("gateway", StepState.RUNNING)
        try:
            await wait_until_ready(
                fly,
                machine_id,
                deadline_s=self.defaults.startup_timeout_s,
                poll_s=self.defaults.timings.gateway_poll_s,
                since=since,
            )
        except GatewayProblem as problem:
            await progress.step("gateway", StepState.FAILED, problem.message)
            await self.ctx.alert(
                f"gateway_{problem.kind}",
                f"Agent {agent.id}: {problem}",
                severity=AlertSeverity.CRITICAL,
                dedupe_key=f"gateway_{problem.kind}:{machine_id}",
                payload={"agent_id": agent.id, "machine_id": machine_id},
            )
            await self.ctx.audit(
                actor, action, agent.id, AuditOutcome.FAILED, {"error": problem.message}
            )
            raise
        await progress.step("gateway", StepState.DONE)

    async def _until_snapshot_usable(
        self, fly: FlyClient, volume_id: str, snapshot: VolumeSnapshot
    ) -> VolumeSnapshot:
        """Wait (bounded) until Fly lists the snapshot as `created`, so a /recreate right
        after /snapshot can use it; past the deadline the snapshot is returned as it is."""
        deadline = time.monotonic() + self.defaults.timings.snapshot_wait_s
        while snapshot.status != "created" and time.monotonic() < deadline:
            await asyncio.sleep(self.defaults.timings.snapshot_poll_s)
            listed = {s.id: s for s in await fly.list_snapshots(volume_id)}
            snapshot = listed.get(snapshot.id, snapshot)
        return snapshot

    async def _running_if_provisioned(self, agent: Agent, *, actor: str, reason: str) -> Agent:
        """`running` after a start; an agent whose provisioning did not finish keeps its failed
        status (its machine runs, but OpenClaw on it is not set up), until finished/repaired."""
        current = await self.store.agents.get(agent.id)
        if not current.provisioned:
            return current
        return await self.store.agents.set_status(
            agent.id, AgentStatus.RUNNING, actor=actor, reason=reason
        )

    def _machine_of(self, agent: Agent) -> str:
        if agent.machine_id is None:
            raise AgentBusy(f"Agent {agent.id} has no machine ({agent.status.value}).")
        return agent.machine_id

    async def _capacity_alert(self, agent: Agent, error: FlyError) -> None:
        capacity = (
            isinstance(error, InsufficientCapacityError) or "resources" in error.message.lower()
        )
        await self.ctx.alert(
            "start_refused",
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
