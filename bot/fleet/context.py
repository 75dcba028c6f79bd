"""What every part of the fleet service shares: the store, Fly clients, defaults, CLI runner.

Also the small lookups they all need — an agent by id or `tenant/user`, its effective
configuration (agent → tenant → fleet), the Fly client for its app and token, its machine —
and the per-agent lock that keeps two provisionings or recreates of one agent apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import SecretStr

from bot.fleet import validation
from bot.fleet.cli_runner import CliOutcome, MachineCli
from bot.fleet.defaults import FleetDefaults
from bot.fleet.errors import AgentBusy, AgentNotFound, FleetError
from bot.fleet.fly_pool import FlyPool
from bot.fleet.openclaw import CliCommand
from bot.fleet.resolve import AgentOverrides, EffectiveConfig, resolve_agent_config
from flyclient import FlyClient
from storage import Store
from storage.models import Actor, Agent, AlertKind, AlertSeverity, AuditOutcome, SecretScope


def agent_key(tenant_id: str, user_id: str) -> str:
    return f"{tenant_id}/{user_id}"


@dataclass
class FleetContext:
    store: Store
    pool: FlyPool
    defaults: FleetDefaults
    cli: MachineCli = field(init=False)
    _agent_locks: dict[str, asyncio.Lock] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        # One runner per service: its per-machine locks and the store's marks of machines
        # whose last command never answered.
        self.cli = MachineCli(self.store)

    def agent_lock(self, tenant_id: str, user_id: str) -> asyncio.Lock:
        """The lock of the agent `tenant_id/user_id`: provision and recreate hold it."""
        return self._agent_locks.setdefault(agent_key(tenant_id, user_id), asyncio.Lock())

    # --- agents -------------------------------------------------------------------------------

    async def find_agent(self, ref: str) -> Agent:
        """An agent by id (`ag_…`) or by `tenant/user`; `AgentNotFound` otherwise."""
        text = ref.strip()
        if "/" in text:
            tenant, _, user = text.partition("/")
            tenant = validation.entity_id(tenant, "The tenant id")
            user = validation.entity_id(user, "The user id")
            agent = await self.store.agents.get_live(tenant, user)
            if agent is None:
                raise AgentNotFound(f"No live agent for {tenant}/{user}.")
            return agent
        if not validation.ENTITY_ID_RE.fullmatch(text):
            raise AgentNotFound("That is not an agent id; use the id from /list or tenant/user.")
        agent = await self.store.agents.find(text)
        if agent is None or agent.deleted_at is not None:
            raise AgentNotFound(f"No live agent {text}.")
        return agent

    async def live_agents(self, tenant_id: str | None = None) -> list[Agent]:
        """The live agents, of one tenant when given, oldest first."""
        if tenant_id is not None:
            tenant_id = validation.entity_id(tenant_id, "The tenant id")
        return await self.store.agents.live(tenant_id=tenant_id)

    # --- configuration ------------------------------------------------------------------------

    async def agent_secrets(self, agent_id: str) -> dict[str, SecretStr]:
        return await self.store.secrets.get_all(SecretScope.agent(agent_id))

    async def tenant_inputs(
        self, tenant_id: str
    ) -> tuple[Mapping[str, object], dict[str, SecretStr]]:
        profile = await self.store.tenants.get(tenant_id)
        overrides: Mapping[str, object] = profile.overrides if profile else {}
        secrets: dict[str, SecretStr] = {}
        if profile is not None:
            secrets = await self.store.secrets.get_all(SecretScope.tenant(tenant_id))
        return overrides, secrets

    async def effective_config(
        self,
        tenant_id: str,
        *,
        overrides: AgentOverrides,
        agent_secrets: Mapping[str, SecretStr],
        generate_gateway_token: bool = False,
    ) -> EffectiveConfig:
        tenant_overrides, tenant_secrets = await self.tenant_inputs(tenant_id)
        return resolve_agent_config(
            self.defaults,
            agent=overrides,
            tenant_overrides=tenant_overrides,  # type: ignore[arg-type]
            tenant_secrets=tenant_secrets,
            agent_secrets=agent_secrets,
            generate_gateway_token=generate_gateway_token,
        )

    async def config_for(self, agent: Agent) -> EffectiveConfig:
        return await self.effective_config(
            agent.tenant_id,
            overrides=AgentOverrides.of_agent(agent),
            agent_secrets=await self.agent_secrets(agent.id),
        )

    def fly_for_config(self, config: EffectiveConfig) -> FlyClient:
        if not config.fly_app or config.fly_token is None:
            raise FleetError("No Fly app or Fly API token is configured for this agent.")
        return self.pool.client(config.fly_app, config.fly_token.get_secret_value())

    async def fly_for(self, agent: Agent) -> tuple[FlyClient, EffectiveConfig]:
        config = await self.config_for(agent)
        return self.fly_for_config(config), config

    # --- machines -----------------------------------------------------------------------------

    @staticmethod
    def machine_of(agent: Agent) -> str:
        """The agent's machine id; `AgentBusy` when it has none (yet, or any more)."""
        if agent.machine_id is None:
            raise AgentBusy(f"Agent {agent.id} has no machine ({agent.status.value}).")
        return agent.machine_id

    async def run_cli(
        self,
        fly: FlyClient,
        machine_id: str,
        command: CliCommand,
        *,
        config: EffectiveConfig,
    ) -> CliOutcome:
        return await self.cli.run(
            fly,
            machine_id,
            command,
            timeout_s=self.defaults.exec_timeout_s,
            secrets=config.secret_values().values(),
        )

    # --- records ------------------------------------------------------------------------------

    async def alert(
        self,
        kind: AlertKind,
        text: str,
        *,
        severity: AlertSeverity = AlertSeverity.WARNING,
        dedupe_key: str | None = None,
        payload: Mapping[str, object] | None = None,
    ) -> None:
        await self.store.outbox.enqueue(
            kind, text, severity=severity, dedupe_key=dedupe_key, payload=payload
        )

    async def audit(
        self,
        actor: Actor,
        action: str,
        target: str | None,
        outcome: AuditOutcome,
        detail: Mapping[str, object] | None = None,
    ) -> None:
        await self.store.audit.record(
            actor=str(actor), action=action, target=target, outcome=outcome, detail=detail
        )
