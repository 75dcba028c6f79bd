"""Provision: a journaled multi-step operation that never leaves an orphan, and its resume.

volume → machine → started → gateway ready → owner policy → model set → model verified →
record → alert. Every step is written to the operations journal before and after it runs
(`bot.fleet.steps`), so a crash (or a cancelled task) resumes where it stopped on the next
call — or at start-up (`resume_unfinished`) — and the machine is found again by its operation
tag instead of being created twice (`bot.fleet.machine_boot`).

Failures before a machine exists are rolled back; later ones leave the machine for
inspection, mark the agent `error` and name the command that cleans it up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from pydantic import JsonValue, SecretStr

from bot.fleet import machine_spec, validation
from bot.fleet.context import FleetContext
from bot.fleet.errors import AgentBusy, FleetError, GatewayProblem, InvalidRequest, OperationFailed
from bot.fleet.fly_boundary import fly_errors_become_fleet_errors
from bot.fleet.machine_boot import MachineBoot
from bot.fleet.progress import Progress, StepState
from bot.fleet.resolve import AgentOverrides, EffectiveConfig
from bot.fleet.secrets import clean_agent_secrets
from bot.fleet.steps import JournaledSteps, short_error
from flyclient import FlyClient, FlyError, InsufficientCapacityError, NotFoundError
from storage.errors import AgentAlreadyExistsError, StateTransitionError
from storage.models import (
    THE_BOT,
    Actor,
    Agent,
    AgentChanges,
    AgentStatus,
    AlertKind,
    AlertSeverity,
    AuditOutcome,
    Operation,
    OperationKind,
    OperationStatus,
    SecretScope,
)

log = logging.getLogger("bot.fleet.provisioning")

PROVISION_STEPS = ("volume", "machine", "started", "gateway", "owner", "model", "verify")
# The steps that bring the new machine up (`MachineBoot`), after volume and machine.
PROVISION_BOOT_STEPS = ("started", "gateway", "owner", "model", "verify")


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


def validate_request(request: ProvisionRequest) -> tuple[str, str, AgentOverrides, dict[str, str]]:
    """The request's tenant, user, overrides and secrets, cleaned; `InvalidRequest` naming
    every problem at once."""
    problems: list[str] = []
    tenant = user = ""
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
    secrets, secret_problems = clean_agent_secrets(request.secrets or {})
    problems.extend(secret_problems)
    if problems:
        raise InvalidRequest(problems)
    overrides = AgentOverrides(model=model, allowed_skills=skills, region=region)
    return tenant, user, overrides, secrets


def check_config(config: EffectiveConfig) -> None:
    """`InvalidRequest` unless the effective configuration can run an agent."""
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


@fly_errors_become_fleet_errors
class Provisioning:
    def __init__(self, ctx: FleetContext) -> None:
        self.ctx = ctx
        self._boot = MachineBoot(ctx)

    async def provision_agent_machine(
        self, request: ProvisionRequest, *, actor: Actor, progress: Progress | None = None
    ) -> ProvisionResult:
        """Provision with secrets given in the call (stored in the vault for later steps), or
        resume this agent's provisioning when its journal shows it unfinished."""
        ctx = self.ctx
        store = ctx.store
        tenant, user, overrides, call_secrets = validate_request(request)
        progress = progress or Progress.silent("provision", PROVISION_STEPS)
        async with ctx.agent_lock(tenant, user):
            existing = await store.agents.get_live(tenant, user)
            if existing is not None:
                operation = await store.journal.get_by_key(f"provision:{existing.id}")
                if operation is None or operation.status is not OperationStatus.RUNNING:
                    raise AgentBusy(
                        f"{tenant}/{user} already has agent {existing.id} "
                        f"({existing.status.value})."
                    )
                return await self._resume(existing, actor=actor, progress=progress)

            staged = await store.secrets.get_all(SecretScope.staged(tenant, user))
            agent_secrets = {**staged, **{k: SecretStr(v) for k, v in call_secrets.items()}}
            config = await ctx.effective_config(
                tenant,
                overrides=overrides,
                agent_secrets=agent_secrets,
                generate_gateway_token=True,
            )
            check_config(config)
            try:
                agent = await store.agents.create(
                    tenant_id=tenant,
                    user_id=user,
                    actor=str(actor),
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
                await store.secrets.upsert(SecretScope.agent(agent.id), own, actor=str(actor))
            if staged:
                await store.secrets.clear(SecretScope.staged(tenant, user), actor=str(actor))
            begin = await store.journal.begin(
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
            return await self._run(
                agent, begin.operation, config, actor=actor, progress=progress, resumed=False
            )

    async def resume_unfinished(
        self, *, actor: Actor = THE_BOT, on_resumed: OnResumed | None = None
    ) -> list[str]:
        """After a crash: resume every provisioning the journal shows unfinished.

        `on_resumed` hears each one's outcome (finished or failed) with the report reference
        its starter gave, so the admin who asked is told although this process did not start it.
        """
        resumed = []
        for operation in await self.ctx.store.journal.unfinished(kind=OperationKind.PROVISION):
            if operation.agent_id is None:
                continue
            agent = await self.ctx.store.agents.find(operation.agent_id)
            if agent is None or agent.deleted_at is not None:
                continue
            report = operation.params.get("report")
            outcome = ResumedProvision(
                agent.id,
                report if isinstance(report, dict) else None,
                Progress.silent("provision", PROVISION_STEPS),
            )
            try:
                async with self.ctx.agent_lock(agent.tenant_id, agent.user_id):
                    result = await self._resume(agent, actor=actor, progress=outcome.progress)
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

    async def _resume(self, agent: Agent, *, actor: Actor, progress: Progress) -> ProvisionResult:
        operation = await self.ctx.store.journal.get_by_key(f"provision:{agent.id}")
        if operation is None:
            raise AgentBusy(f"Agent {agent.id} has no provisioning to resume.")
        config = await self.ctx.config_for(agent)
        check_config(config)
        return await self._run(
            agent, operation, config, actor=actor, progress=progress, resumed=True
        )

    async def _run(
        self,
        agent: Agent,
        operation: Operation,
        config: EffectiveConfig,
        *,
        actor: Actor,
        progress: Progress,
        resumed: bool,
    ) -> ProvisionResult:
        ctx = self.ctx
        fly = ctx.fly_for_config(config)
        journal = ctx.store.journal
        done = await journal.completed_results(operation.id)
        for finished in PROVISION_STEPS:
            if finished in done:
                await progress.step(finished, StepState.DONE)
        volume_id = result_str(done.get("volume"), "volume_id")
        machine_id = result_str(done.get("machine"), "machine_id")
        steps = JournaledSteps(journal, operation.id, progress, first="volume")
        try:
            if volume_id is None:
                async with steps.step("volume") as step:
                    name = str(operation.params.get("volume_name"))
                    # A crash may have lost the answer of an earlier create: its volume has
                    # this operation's name. Take it instead of leaving it orphaned next to a
                    # new one.
                    volume = await fly.find_volume_named(
                        name, config.region
                    ) or await fly.create_volume(
                        name, config.region, ctx.defaults.volume_size_gb, encrypted=True
                    )
                    volume_id = volume.id
                    # Recorded on the agent before the step shows done, so whoever watches
                    # the progress finds the volume on the agent.
                    agent = await ctx.store.agents.update(
                        agent.id, AgentChanges(volume_id=volume_id), actor=str(actor)
                    )
                    step.result = {"volume_id": volume_id}

            steps.current = "machine"
            if machine_id is None:
                async with steps.step("machine") as step:
                    machine = await self._boot.machine_for(fly, agent, config, operation, volume_id)
                    machine_id = machine.id
                    agent = await ctx.store.agents.update(
                        agent.id, AgentChanges(machine_id=machine_id), actor=str(actor)
                    )
                    step.result = {"machine_id": machine_id}

            boot = self._boot.steps(PROVISION_BOOT_STEPS, fly, steps, machine_id, config, actor)
            for boot_step, run_step in boot:
                steps.current = boot_step
                if boot_step not in done:
                    await run_step()
        except asyncio.CancelledError:
            raise
        except (FlyError, FleetError) as error:
            await steps.record_failure(error)
            await self._fail(agent, operation, fly, steps.current, error, actor=actor)
            raise AssertionError("unreachable") from error  # _fail always raises

        agent = await ctx.store.agents.update(
            agent.id,
            AgentChanges(model=config.model, last_error=None),
            actor=str(actor),
        )
        await ctx.store.agents.mark_provisioned(agent.id, actor=str(actor))
        agent = await ctx.store.agents.set_status(
            agent.id, AgentStatus.RUNNING, actor=str(actor), reason="provisioned"
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
            AlertKind.AGENT_PROVISIONED,
            f"Agent {agent.id} ({agent.tenant_id}/{agent.user_id}) is running on machine "
            f"{machine_id} with model {config.model}.",
            severity=AlertSeverity.INFO,
            payload={"agent_id": agent.id, "machine_id": machine_id},
        )
        return ProvisionResult(
            agent=agent, operation_id=operation.id, resumed=resumed, model=config.model
        )

    async def _fail(
        self,
        agent: Agent,
        operation: Operation,
        fly: FlyClient,
        step: str,
        error: Exception,
        *,
        actor: Actor,
    ) -> None:
        """Roll back what a failed step leaves unused, record the failure everywhere, raise."""
        ctx = self.ctx
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
                        f"{current.volume_id}): {short_error(cleanup_error)}"
                    )
            await ctx.store.agents.update(
                agent.id,
                AgentChanges(volume_id=None, last_error=short_error(error)),
                actor=str(actor),
            )
            await ctx.store.agents.mark_deleted(
                agent.id, actor=str(actor), reason=f"provision failed at {step}"
            )
        else:
            cleanup.append(
                f"/deprovision {agent.id} removes machine {current.machine_id} and its volume"
            )
            await ctx.store.agents.update(
                agent.id, AgentChanges(last_error=short_error(error)), actor=str(actor)
            )
            with contextlib.suppress(StateTransitionError):
                await ctx.store.agents.set_status(
                    agent.id,
                    AgentStatus.ERROR,
                    actor=str(actor),
                    reason=f"provision failed at {step}",
                )
        await ctx.store.journal.finish(
            operation.id,
            OperationStatus.FAILED,
            error=short_error(error),
            result={"step": step, "rolled_back": [*rolled_back], "cleanup": [*cleanup]},
        )
        words_rolled_back = ", ".join(rolled_back)
        extra = list(getattr(error, "cleanup", ()))
        if isinstance(error, InsufficientCapacityError):
            extra.append("Fly has no capacity for this size in the region: try another region=")
        fixes = extra + cleanup
        await ctx.alert(
            error.alert_kind if isinstance(error, GatewayProblem) else AlertKind.PROVISION_FAILED,
            f"Provisioning {agent.tenant_id}/{agent.user_id} ({agent.id}) failed at step {step}: "
            f"{short_error(error)}"
            + (f" Rolled back: {words_rolled_back}." if rolled_back else "")
            + (f" Fix: {'; '.join(fixes)}." if fixes else ""),
            severity=AlertSeverity.CRITICAL,
            payload={"agent_id": agent.id, "operation_id": operation.id, "step": step},
        )
        await ctx.audit(
            actor,
            "agent.provision",
            agent.id,
            AuditOutcome.FAILED,
            {"step": step, "error": short_error(error)},
        )
        raise OperationFailed(
            f"Provisioning failed at step {step}: {short_error(error)}"
            + (f" Rolled back: {words_rolled_back}." if rolled_back else ""),
            cleanup=fixes,
        ) from error


def result_str(result: JsonValue | None, key: str) -> str | None:
    """`result[key]` when the journal's step result holds a string there."""
    if isinstance(result, dict):
        value = result.get(key)
        if isinstance(value, str):
            return value
    return None
