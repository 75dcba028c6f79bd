"""Tenant profiles: each tenant in its own Fly app with its own token and defaults."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from fleet_harness import ADMIN, Fleet, build_fleet, make_defaults
from pydantic import SecretStr

from bot.fleet.defaults import FleetDefaults
from bot.fleet.errors import AgentBusy, InvalidRequest, OperationFailed
from bot.fleet.monitor import Monitor
from bot.fleet.resolve import AgentOverrides, resolve_agent_config
from bot.fleet.validation import InvalidInput
from storage import Store

TOKEN_A = "tokA_fly_token_of_tenant_acme_0000"
TOKEN_B = "tokB_fly_token_of_tenant_beta_0000"
CANARY = "CANARY-tenant-llm-key-7f3a9c"


@pytest.fixture
async def two_apps(fly_emulator_factory, store: Store):  # type: ignore[no-untyped-def]
    emulator = await fly_emulator_factory(
        apps=("app-a", "app-b"), app_tokens={"app-a": TOKEN_A, "app-b": TOKEN_B}
    )
    fleet = await build_fleet(emulator, store, fly_app=None, fly_token=None)
    tenants = fleet.service.tenants
    await tenants.add("acme", "Acme Corp", actor=ADMIN)
    await tenants.set_values(
        "acme", {"fly_app_name": "app-a", "FLY_API_TOKEN": TOKEN_A}, actor=ADMIN
    )
    await tenants.add("beta", None, actor=ADMIN)
    await tenants.set_values(
        "beta",
        {"FLY_APP_NAME": "app-b", "fly_api_token": TOKEN_B, "LLM_MODEL": "anthropic/claude-x"},
        actor=ADMIN,
    )
    yield fleet
    await fleet.control.aclose()
    await fleet.service.aclose()


async def _requests(fleet: Fleet) -> list[dict[str, Any]]:
    return list((await fleet.control.get("/_emulator/requests")).json())


async def test_each_tenant_lands_in_its_own_app_with_its_own_token(two_apps: Fleet) -> None:
    fleet = two_apps
    a = (await fleet.provision(user="alice", tenant="acme")).agent
    b = (await fleet.provision(user="bob", tenant="beta")).agent
    assert [m["id"] for m in await fleet.machines("app-a")] == [a.machine_id]
    assert [m["id"] for m in await fleet.machines("app-b")] == [b.machine_id]
    assert a.fly_app == "app-a"
    assert b.fly_app == "app-b"
    assert b.model == "anthropic/claude-x"
    for record in await _requests(fleet):
        if "/apps/app-a/" in record["path"]:
            assert record["token"] == TOKEN_A[:4] + "…"
        if "/apps/app-b/" in record["path"]:
            assert record["token"] == TOKEN_B[:4] + "…"
    report = await Monitor(fleet.service.ctx).sweep()
    assert report.apps == 2
    assert report.api_calls == 2


async def test_a_revoked_tenant_token_fails_clearly_and_the_other_tenant_goes_on(
    two_apps: Fleet,
) -> None:
    fleet = two_apps
    a = (await fleet.provision(user="alice", tenant="acme")).agent
    await fleet.provision(user="bob", tenant="beta")
    await fleet.service.tenants.set_values(
        "beta", {"FLY_API_TOKEN": "tokB_revoked_000000"}, actor=ADMIN
    )
    with pytest.raises(OperationFailed) as caught:
        await fleet.provision(user="carol", tenant="beta")
    assert "tokB_revoked" not in str(caught.value)
    report = await Monitor(fleet.service.ctx).sweep()
    assert report.failed_apps == ["app-b"]
    alerts = [a for a in await fleet.store.outbox.due(limit=50) if a.kind == "fly_token_refused"]
    assert len(alerts) == 1
    assert "beta" in alerts[0].text
    stopped = await fleet.service.stop_agent_machine(a.id, actor=ADMIN)
    assert stopped.status.value == "stopped"


async def test_the_app_of_a_tenant_with_live_agents_cannot_change(two_apps: Fleet) -> None:
    fleet = two_apps
    await fleet.provision(user="alice", tenant="acme")
    with pytest.raises(AgentBusy):
        await fleet.service.tenants.set_values("acme", {"FLY_APP_NAME": "app-b"}, actor=ADMIN)
    with pytest.raises(AgentBusy):
        await fleet.service.tenants.unset("acme", "FLY_APP_NAME", actor=ADMIN)
    with pytest.raises(AgentBusy):
        await fleet.service.tenants.remove("acme", actor=ADMIN)
    view = await fleet.service.tenants.show("acme")
    assert next(s for s in view.settings if s.key == "FLY_APP_NAME").value == "app-a"


async def test_remove_without_live_agents_clears_profile_and_secrets(two_apps: Fleet) -> None:
    fleet = two_apps
    await fleet.service.tenants.remove("beta", actor=ADMIN)
    assert [t.tenant_id for t in await fleet.service.tenants.list()] == ["acme"]
    from storage.models import SecretScope

    assert await fleet.store.secrets.meta(SecretScope.tenant("beta")) == []


@pytest.mark.parametrize(
    "values",
    [
        {"NOT_A_SETTING": "x"},
        {"LLM_MODEL": "openai/gpt-5-mini"},
        {"LLM_MODEL": "no-provider"},
        {"AGENT_BRIDGE_URL": "http://plain.example.com"},
        {"FLY_APP_NAME": "Bad App!"},
        {"FLY_REGION": "narnia"},
        {"ALLOWED_SKILLS_JSON": "[1,2]"},
        {"FLYAGENTS_AGENT_VM": "huge"},
        {"FLYAGENTS_AGENT_IMAGE": "$(reboot)"},
        {"LLM_API_KEY": "two words"},
        {"LLM_MODEL": "openai/ok", "FLY_REGION": "bad region"},
    ],
)
async def test_bad_keys_and_values_are_refused_and_nothing_is_stored(
    two_apps: Fleet, values: dict[str, str]
) -> None:
    before = await two_apps.service.tenants.show("acme")
    with pytest.raises(InvalidRequest):
        await two_apps.service.tenants.set_values("acme", values, actor=ADMIN)
    after = await two_apps.service.tenants.show("acme")
    assert after.profile.overrides == before.profile.overrides
    assert [s.fingerprint for s in after.settings] == [s.fingerprint for s in before.settings]


async def test_without_a_fleet_app_a_tenant_without_its_own_is_refused_before_any_fly_call(
    two_apps: Fleet,
) -> None:
    fleet = two_apps
    await fleet.service.tenants.add("gamma", None, actor=ADMIN)
    calls_before = len(await _requests(fleet))
    with pytest.raises(InvalidRequest) as refused:
        await fleet.provision(user="gina", tenant="gamma")
    assert "FLY_APP_NAME: is required but not set" in refused.value.problems
    assert "FLY_API_TOKEN: is required but not set" in refused.value.problems
    assert len(await _requests(fleet)) == calls_before
    assert await fleet.store.agents.live(tenant_id="gamma") == []


@pytest.mark.parametrize("tenant_id", ["", "a b", "../x", "x;y", "ä", "x" * 100, "-x"])
async def test_hostile_tenant_ids_are_refused(two_apps: Fleet, tenant_id: str) -> None:
    with pytest.raises(InvalidInput):
        await two_apps.service.tenants.add(tenant_id, None, actor=ADMIN)


async def test_tenant_secrets_never_appear_in_plain_text(
    two_apps: Fleet, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fleet = two_apps
    view = await fleet.service.tenants.set_values("acme", {"LLM_API_KEY": CANARY}, actor=ADMIN)
    setting = next(s for s in view.settings if s.key == "LLM_API_KEY")
    assert setting.value is None
    assert setting.fingerprint
    assert setting.effective_level == "tenant"
    shown = repr(view)
    assert CANARY not in shown
    entries = await fleet.store.audit.entries(limit=100)
    assert all(CANARY not in repr(e) for e in entries)
    assert all(CANARY not in r.getMessage() for r in caplog.records)
    await fleet.store.close()
    for path in Path(fleet.store.db.path).parent.glob("*"):
        assert CANARY.encode() not in path.read_bytes(), path


def test_resolution_order_agent_then_tenant_then_fleet_for_every_field() -> None:
    defaults: FleetDefaults = make_defaults()
    tenant = {
        "FLY_APP_NAME": "tenant-app",
        "FLYAGENTS_AGENT_IMAGE": "registry.fly.io/tenant:1",
        "FLY_REGION": "ams",
        "FLYAGENTS_AGENT_VM": "performance-cpu-2x",
        "LLM_MODEL": "tenant/model",
        "OPENCLAW_APP_KEY": "tenant-key",
        "ALLOWED_SKILLS_JSON": '["tenant-skill"]',
        "AGENT_BRIDGE_URL": "https://tenant.example.com",
        "OPENCLAW_SERVICE_ID": "tenant-svc",
    }
    tenant_secrets = {
        name: SecretStr(f"tenant-{name}")
        for name in ("FLY_API_TOKEN", "LLM_API_KEY", "OPENAI_API_KEY", "OPENCLAW_SERVICE_KEY")
    }
    agent_secrets = {name: SecretStr(f"agent-{name}") for name in tenant_secrets}
    agent = AgentOverrides(
        model="agent/model",
        allowed_skills=("agent-skill",),
        region="fra",
        fly_app="agent-app",
        image="registry.fly.io/agent:1",
    )
    only_fleet = resolve_agent_config(
        defaults, agent=AgentOverrides(), tenant_overrides={}, tenant_secrets={}, agent_secrets={}
    )
    with_tenant = resolve_agent_config(
        defaults,
        agent=AgentOverrides(),
        tenant_overrides=tenant,
        tenant_secrets=tenant_secrets,
        agent_secrets={},
    )
    with_agent = resolve_agent_config(
        defaults,
        agent=agent,
        tenant_overrides=tenant,
        tenant_secrets=tenant_secrets,
        agent_secrets=agent_secrets,
    )
    assert (only_fleet.fly_app, with_tenant.fly_app, with_agent.fly_app) == (
        "agents",
        "tenant-app",
        "agent-app",
    )
    assert (only_fleet.model, with_tenant.model, with_agent.model) == (
        defaults.model,
        "tenant/model",
        "agent/model",
    )
    assert (only_fleet.region, with_tenant.region, with_agent.region) == ("iad", "ams", "fra")
    assert (only_fleet.image, with_tenant.image, with_agent.image) == (
        defaults.image,
        "registry.fly.io/tenant:1",
        "registry.fly.io/agent:1",
    )
    assert (only_fleet.allowed_skills, with_tenant.allowed_skills, with_agent.allowed_skills) == (
        ("linkhub-bridge",),
        ("tenant-skill",),
        ("agent-skill",),
    )
    assert (only_fleet.cpu_kind, with_tenant.cpu_kind) == ("shared", "performance")
    assert (only_fleet.bridge_url, with_tenant.bridge_url) == (
        "https://bridge.example.com",
        "https://tenant.example.com",
    )
    assert (only_fleet.app_key, with_tenant.app_key) == ("linkhub-w4", "tenant-key")
    assert (only_fleet.service_id, with_tenant.service_id) == ("svc-1", "tenant-svc")
    for name in tenant_secrets:
        assert with_tenant.secrets[name].get_secret_value() == f"tenant-{name}"
        assert with_agent.secrets[name].get_secret_value() == f"agent-{name}"
        assert with_tenant.sources[name] == "tenant"
        assert with_agent.sources[name] == "agent"
    assert only_fleet.sources["LLM_MODEL"] == "fleet"
    assert with_tenant.sources["LLM_MODEL"] == "tenant"
    assert with_agent.sources["LLM_MODEL"] == "agent"
    assert only_fleet.sources["FLY_API_TOKEN"] == "fleet"
