"""Bringing a new agent machine up, step by journaled step: shared by provision and recreate.

The machine is created with its operation's tag (`find_machine_by_op_id` finds it again after
a crash instead of creating a second one), then: started → gateway ready → owner policy →
model set → model verified. Each operation picks the steps it needs, in order
(`MachineBoot.steps`), and skips those its journal already records as done.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from bot.fleet import machine_spec, openclaw, owners
from bot.fleet.cli_runner import CliOutcome
from bot.fleet.context import FleetContext
from bot.fleet.errors import ModelMismatch, OperationFailed
from bot.fleet.gateway import wait_until_ready
from bot.fleet.machine_spec import AgentRuntime
from bot.fleet.resolve import EffectiveConfig
from bot.fleet.steps import JournaledSteps
from flyclient import ExecOutcomeUnknownError, FlyClient, Machine
from storage.models import Actor, Agent, Operation


class MachineBoot:
    def __init__(self, ctx: FleetContext) -> None:
        self.ctx = ctx

    async def machine_for(
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
        runtime = AgentRuntime.from_effective(agent, config, self.ctx.defaults)
        return await fly.create_machine(
            machine_spec.machine_config(runtime, volume_id=volume_id),
            region=agent.region or config.region,
            op_id=operation.id,
        )

    def steps(
        self,
        names: Sequence[str],
        fly: FlyClient,
        steps: JournaledSteps,
        machine_id: str,
        config: EffectiveConfig,
        actor: Actor,
    ) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
        """The steps that bring a created machine up, by name, in the order asked for; the
        caller skips those its journal already records as done."""
        runners: dict[str, Callable[[], Awaitable[None]]] = {
            "started": lambda: self._started(fly, steps, machine_id),
            "gateway": lambda: self._gateway(fly, steps, machine_id),
            "owner": lambda: self._owner(fly, steps, machine_id, config, actor),
            "model": lambda: self._model(fly, steps, machine_id, config),
            "verify": lambda: self._verify(fly, steps, machine_id, config),
        }
        return [(name, runners[name]) for name in names]

    async def _started(self, fly: FlyClient, steps: JournaledSteps, machine_id: str) -> None:
        async with steps.step("started"):
            await fly.wait_for_state(
                machine_id, "started", self.ctx.defaults.timings.start_deadline_s
            )

    async def _gateway(self, fly: FlyClient, steps: JournaledSteps, machine_id: str) -> None:
        async with steps.step("gateway", "waiting for [gateway] ready") as step:
            report = await wait_until_ready(
                fly,
                machine_id,
                deadline_s=self.ctx.defaults.startup_timeout_s,
                poll_s=self.ctx.defaults.timings.gateway_poll_s,
            )
            step.result = {"agent_model": report.agent_model}

    async def _owner(
        self,
        fly: FlyClient,
        steps: JournaledSteps,
        machine_id: str,
        config: EffectiveConfig,
        actor: Actor,
    ) -> None:
        if self.ctx.defaults.owner_entries is None:
            await steps.skipped("owner", "owner policy: user", {"policy": "user"})
            return
        async with steps.step("owner") as step:
            try:
                applied = await owners.apply_policy(self.ctx, fly, machine_id, config, actor=actor)
            except ExecOutcomeUnknownError as error:
                raise did_not_answer(
                    "openclaw config set commands.ownerAllowFrom …", machine_id
                ) from error
            step.result = {"owners": list(applied or ())}

    async def _model(
        self, fly: FlyClient, steps: JournaledSteps, machine_id: str, config: EffectiveConfig
    ) -> None:
        async with steps.step("model", f"models set {config.model}") as step:
            outcome = await self._cli(
                fly,
                machine_id,
                openclaw.set_model(self.ctx.defaults.openclaw_dir, config.model),
                config,
            )
            parsed = openclaw.parse_models_set(outcome.exit_code, outcome.stdout, outcome.stderr)
            if not parsed.ok:
                raise OperationFailed(f"OpenClaw refused the model {config.model}: {parsed.reason}")
            step.result = {"model": parsed.model}

    async def _verify(
        self, fly: FlyClient, steps: JournaledSteps, machine_id: str, config: EffectiveConfig
    ) -> None:
        async with steps.step("verify") as step:
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
            step.result = {"model": parsed.model}

    async def _cli(
        self, fly: FlyClient, machine_id: str, command: openclaw.CliCommand, config: EffectiveConfig
    ) -> CliOutcome:
        try:
            return await self.ctx.run_cli(fly, machine_id, command, config=config)
        except ExecOutcomeUnknownError as error:
            raise did_not_answer(command.label, machine_id) from error


def did_not_answer(label: str, machine_id: str) -> OperationFailed:
    return OperationFailed(
        f"{label} did not answer in time on {machine_id}; its outcome is unknown.",
        cleanup=("restart the machine with /restart AGENT and check it",),
    )
