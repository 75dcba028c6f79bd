"""What an agent runs: its model (`openclaw models set`, then verified) and its skills.

A model that OpenClaw does not confirm is an alert and a `ModelMismatch`, never a success.
New skills are recorded first, then put on the running machine (an update restarts it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.fleet import openclaw, validation
from bot.fleet.context import FleetContext
from bot.fleet.errors import ModelMismatch, OperationFailed
from bot.fleet.fly_boundary import fly_call, fly_errors_become_fleet_errors
from bot.fleet.gateway import wait_until_ready
from flyclient import FlyError
from storage.models import Actor, Agent, AgentChanges, AlertKind, AlertSeverity, AuditOutcome


@fly_errors_become_fleet_errors
class ModelControl:
    def __init__(self, ctx: FleetContext) -> None:
        self.ctx = ctx

    async def set_model(self, ref: str, model: str, *, actor: Actor) -> str:
        """`models set` then `models status --plain`; a mismatch is an alert, not a success."""
        ctx = self.ctx
        chosen = validation.model_id(model)
        agent = await ctx.find_agent(ref)
        machine_id = ctx.machine_of(agent)
        fly, config = await ctx.fly_for(agent)
        outcome = await ctx.run_cli(
            fly, machine_id, openclaw.set_model(ctx.defaults.openclaw_dir, chosen), config=config
        )
        parsed = openclaw.parse_models_set(outcome.exit_code, outcome.stdout, outcome.stderr)
        if not parsed.ok:
            await ctx.audit(
                actor,
                "agent.model",
                agent.id,
                AuditOutcome.FAILED,
                {"model": chosen, "reason": parsed.reason},
            )
            raise OperationFailed(f"OpenClaw refused the model {chosen}: {parsed.reason}")
        await ctx.store.agents.update(agent.id, AgentChanges(model=chosen), actor=str(actor))
        effective = await self.verify_model(agent.id, actor=actor, expected=chosen)
        await ctx.audit(actor, "agent.model", agent.id, AuditOutcome.OK, {"model": chosen})
        return effective

    async def verify_model(self, ref: str, *, actor: Actor, expected: str | None = None) -> str:
        ctx = self.ctx
        agent = await ctx.find_agent(ref)
        machine_id = ctx.machine_of(agent)
        fly, config = await ctx.fly_for(agent)
        wanted = expected or agent.model or config.model
        outcome = await ctx.run_cli(
            fly, machine_id, openclaw.model_status(ctx.defaults.openclaw_dir), config=config
        )
        parsed = openclaw.parse_models_status(outcome.exit_code, outcome.stdout, outcome.stderr)
        if not parsed.ok or parsed.model != wanted:
            seen = parsed.model or parsed.reason
            await ctx.alert(
                AlertKind.MODEL_MISMATCH,
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

    async def update_allowed_skills(
        self, ref: str, skills: Sequence[str], *, actor: Actor
    ) -> Agent:
        """Record the new skills AND put them on the running machine (an update restarts it)."""
        ctx = self.ctx
        cleaned = tuple(validation.skills(skills))
        agent = await ctx.find_agent(ref)
        agent = await ctx.store.agents.update(
            agent.id, AgentChanges(allowed_skills=cleaned), actor=str(actor)
        )
        if agent.machine_id:
            machine_id = agent.machine_id
            fly, _ = await ctx.fly_for(agent)

            def failure(error: FlyError) -> OperationFailed:
                # The new skills are already recorded: say so, and keep it as the agent's error.
                return OperationFailed(
                    f"The skills of {agent.id} are recorded, but updating machine "
                    f"{machine_id} failed ({error}): it may still run with its previous skills.",
                    cleanup=(f"send the same /skills {agent.id} again once Fly answers",),
                )

            async with fly_call(
                ctx,
                actor=actor,
                action="agent.skills",
                agent_id=agent.id,
                failure=failure,
                keep_as_last_error=True,
            ):
                machine = await fly.get_machine(machine_id)
                if machine.config is None:
                    raise OperationFailed(f"Machine {machine_id} has no config to update.")
                config = machine.config.model_copy(deep=True)
                config.env["ALLOWED_SKILLS_JSON"] = json.dumps(list(cleaned), separators=(",", ":"))
                since = datetime.now(UTC)
                await fly.update_machine(machine_id, config, current_version=machine.instance_id)
                if machine.state == "started":
                    await fly.wait_for_state(
                        machine_id, "started", ctx.defaults.timings.start_deadline_s
                    )
                    await wait_until_ready(
                        fly,
                        machine_id,
                        deadline_s=ctx.defaults.startup_timeout_s,
                        poll_s=ctx.defaults.timings.gateway_poll_s,
                        since=since,
                    )
        await ctx.audit(actor, "agent.skills", agent.id, AuditOutcome.OK, {"skills": list(cleaned)})
        return agent
