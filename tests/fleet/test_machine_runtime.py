"""From an agent's record to its machine: record → overrides → effective config → runtime.

Each hop has one constructor (`AgentOverrides.of_agent`, `resolve_agent_config`,
`AgentRuntime.from_effective`), so a value set at any level reaches the machine's
environment without being copied by hand on the way.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from fleet_harness import make_defaults
from pydantic import SecretStr

from bot.fleet import machine_spec
from bot.fleet.machine_spec import AgentRuntime
from bot.fleet.resolve import AgentOverrides, resolve_agent_config
from storage.models import Agent, AgentStatus


def _agent() -> Agent:
    moment = datetime(2026, 1, 2, tzinfo=UTC)
    return Agent(
        id="ag_0000000000001",
        tenant_id="acme",
        user_id="alice",
        telegram_user_id=None,
        fly_app="agents-acme",
        machine_id=None,
        volume_id=None,
        region="ams",
        image="registry.fly.io/acme:v2",
        model="anthropic/claude-sonnet-4",
        memory_mb=2048,
        allowed_skills=("calendar",),
        status=AgentStatus.PROVISIONING,
        last_error=None,
        last_activity_at=None,
        created_at=moment,
        updated_at=moment,
        deleted_at=None,
    )


def test_the_agent_record_reaches_the_machine_through_one_constructor_per_hop() -> None:
    defaults = dataclasses.replace(make_defaults(), gateway_dev_mode=True, startup_timeout_s=90)
    agent = _agent()
    overrides = AgentOverrides.of_agent(agent)
    assert overrides == AgentOverrides(
        model=agent.model,
        allowed_skills=agent.allowed_skills,
        region=agent.region,
        fly_app=agent.fly_app,
        image=agent.image,
    )
    config = resolve_agent_config(
        defaults,
        agent=overrides,
        tenant_overrides={"FLYAGENTS_AGENT_VM": "performance-cpu-2x"},
        tenant_secrets={},
        agent_secrets={"TELEGRAM_BOT_TOKEN": SecretStr("123:agent-bot-token")},
    )
    runtime = AgentRuntime.from_effective(agent, config, defaults)
    assert (runtime.agent_id, runtime.tenant_id, runtime.user_id) == (
        "ag_0000000000001",
        "acme",
        "alice",
    )
    assert (runtime.image, runtime.region, runtime.model) == (agent.image, "ams", agent.model)
    assert (runtime.cpu_kind, runtime.cpus, runtime.memory_mb) == ("performance", 2, 2048)
    assert runtime.allowed_skills == ("calendar",)
    assert (runtime.bridge_url, runtime.app_key, runtime.service_id) == (
        "https://bridge.example.com",
        "linkhub-w4",
        "svc-1",
    )
    assert (runtime.startup_timeout_s, runtime.gateway_dev_mode) == (90, True)
    assert runtime.secrets == config.secret_values()
    env = machine_spec.machine_config(runtime, volume_id="vol_1").env
    assert env["LLM_MODEL"] == agent.model and env["TELEGRAM_BOT_TOKEN"] == "123:agent-bot-token"
    assert env["OPENCLAW_GATEWAY_DEV_MODE"] == "true"
