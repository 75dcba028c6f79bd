"""Reading the fleet: the live agents (of a tenant), one agent with its live Fly state and
where its configuration came from, its gateway's health; and marking an agent active.

Nothing here changes a machine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from bot.fleet import owners
from bot.fleet.context import FleetContext
from bot.fleet.errors import FleetError
from bot.fleet.fly_boundary import fly_errors_become_fleet_errors
from bot.fleet.gateway import GatewayHealth, current_health
from flyclient import FlyError, Machine
from storage.models import Agent


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


@fly_errors_become_fleet_errors
class FleetViews:
    def __init__(self, ctx: FleetContext) -> None:
        self.ctx = ctx

    async def list_agent_machines_by_tenant(self, tenant_id: str | None = None) -> list[Agent]:
        return await self.ctx.live_agents(tenant_id)

    async def get_agent_machine(self, ref: str, *, live: bool = True) -> AgentView:
        ctx = self.ctx
        agent = await ctx.find_agent(ref)
        config = await ctx.config_for(agent)
        machine: Machine | None = None
        machine_error: str | None = None
        if live and agent.machine_id:
            try:
                machine = await ctx.fly_for_config(config).get_machine(agent.machine_id)
            except FlyError as error:
                machine_error = error.message
            except FleetError as error:
                machine_error = error.message
        wanted = ctx.defaults.owner_entries
        if agent.machine_id:
            record = await owners.recorded(ctx, agent.machine_id)
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
        agent = await self.ctx.find_agent(ref)
        fly, _ = await self.ctx.fly_for(agent)
        return await current_health(fly, self.ctx.machine_of(agent))

    async def touch_agent_activity(self, ref: str) -> None:
        agent = await self.ctx.find_agent(ref)
        await self.ctx.store.agents.touch_activity(agent.id)
