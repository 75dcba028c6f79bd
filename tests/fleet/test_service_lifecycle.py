"""Every seed function's happy path, against the Fly emulator over HTTP and real SQLite."""

from __future__ import annotations

import pytest
from fleet_harness import ADMIN, AGENT_BOT_TOKEN, Fleet

from bot.fleet.errors import AgentBusy, NoSnapshot
from bot.fleet.progress import Progress
from bot.fleet.provisioning import PROVISION_STEPS
from storage.models import AgentStatus, AuditOutcome


async def test_provision_creates_volume_machine_waits_for_gateway_and_forces_the_model(
    fleet: Fleet,
) -> None:
    seen: list[str] = []

    async def listener(progress: Progress) -> None:
        seen.append(progress.render())

    progress = Progress("provision", PROVISION_STEPS, listener)
    result = await fleet.service.provision_agent_machine(
        __import__("bot.fleet.service", fromlist=["ProvisionRequest"]).ProvisionRequest(
            tenant_id="acme",
            user_id="alice",
            model="moonshotai/kimi-k2.5",
            secrets={"TELEGRAM_BOT_TOKEN": AGENT_BOT_TOKEN},
        ),
        actor=ADMIN,
        progress=progress,
    )
    agent = result.agent
    assert agent.status is AgentStatus.RUNNING
    assert agent.model == "moonshotai/kimi-k2.5"
    machines = await fleet.machines()
    assert [m["id"] for m in machines] == [agent.machine_id]
    machine = machines[0]
    env = machine["config"]["env"]
    assert env["LLM_MODEL"] == "moonshotai/kimi-k2.5"
    assert env["TENANT_ID"] == "acme"
    assert env["OPENCLAW_GATEWAY_TOKEN"]  # generated per agent
    assert machine["config"]["checks"]["gateway"]["grace_period"] == "3s"
    assert machine["config"]["metadata"]["fly_agents_agent_id"] == agent.id
    assert machine["config"]["mounts"][0]["path"] == "/data"
    assert [v["id"] for v in await fleet.volumes()] == [agent.volume_id]
    # The model was forced with the CLI and verified, once each, owners set first.
    labels = [" ".join(e["argv"][2:3]) for e in await fleet.execs()]
    assert len(labels) == 3
    assert "config set commands.ownerAllowFrom" in labels[0]
    assert "models set" in labels[1]
    assert "models status --plain" in labels[2]
    assert "verify ✓" in seen[-1]
    # The generated gateway token went into the vault, never into the agent record.
    names = [m.name for m in await fleet.service.get_agent_secrets_meta(agent.id)]
    assert "OPENCLAW_GATEWAY_TOKEN" in names
    assert "TELEGRAM_BOT_TOKEN" in names


async def test_a_second_provision_for_the_same_user_is_refused(fleet: Fleet) -> None:
    await fleet.provision()
    with pytest.raises(AgentBusy):
        await fleet.provision()
    assert len(await fleet.machines()) == 1


async def test_stop_wake_restart_round_trip(fleet: Fleet) -> None:
    agent = (await fleet.provision()).agent
    stopped = await fleet.service.stop_agent_machine(agent.id, actor=ADMIN)
    assert stopped.status is AgentStatus.STOPPED
    assert (await fleet.machines())[0]["state"] == "stopped"
    woken = await fleet.service.start_agent_machine(agent.id, actor=ADMIN)
    assert woken.status is AgentStatus.RUNNING
    assert (await fleet.machines())[0]["state"] == "started"
    restarted, recovery = await fleet.service.restart_agent_machine("acme/alice", actor=ADMIN)
    assert restarted.status is AgentStatus.RUNNING
    assert recovery.resolution is None


async def test_deprovision_removes_machine_and_volume_and_frees_the_user(fleet: Fleet) -> None:
    agent = (await fleet.provision()).agent
    removed = await fleet.service.deprovision_agent_machine(agent.id, actor=ADMIN)
    assert any(agent.machine_id in item for item in removed)
    assert any(agent.volume_id in item for item in removed)
    assert await fleet.machines() == []
    assert await fleet.volumes() == []
    record = await fleet.store.agents.get(agent.id)
    assert record.status is AgentStatus.DELETED
    again = await fleet.provision()
    assert again.agent.id != agent.id


async def test_snapshot_and_recreate_switch_to_a_new_machine_and_remove_the_old(
    fleet: Fleet,
) -> None:
    agent = (await fleet.provision()).agent
    snapshot = await fleet.service.create_agent_snapshot(agent.id, actor=ADMIN)
    assert snapshot.fly_snapshot_id
    assert snapshot.detail == "fly status created"  # waited for Fly, so recreate can use it
    result = await fleet.service.recreate_agent_from_latest_snapshot(agent.id, actor=ADMIN)
    new = result.agent
    assert new.machine_id != agent.machine_id
    assert new.volume_id != agent.volume_id
    assert new.status is AgentStatus.RUNNING
    assert [m["id"] for m in await fleet.machines()] == [new.machine_id]
    assert [v["id"] for v in await fleet.volumes()] == [new.volume_id]


async def test_recreate_without_a_snapshot_touches_nothing(fleet: Fleet) -> None:
    agent = (await fleet.provision()).agent
    before = await fleet.state()
    with pytest.raises(NoSnapshot):
        await fleet.service.recreate_agent_from_latest_snapshot(agent.id, actor=ADMIN)
    assert [m["id"] for m in await fleet.machines()] == [agent.machine_id]
    assert (await fleet.store.agents.get(agent.id)).status is AgentStatus.RUNNING
    assert len((await fleet.state())["apps"][0]["volumes"]) == len(before["apps"][0]["volumes"])


async def test_list_get_touch_and_skills(fleet: Fleet) -> None:
    agent = (await fleet.provision()).agent
    await fleet.provision(user="bob")
    await fleet.provision(user="carol", tenant="other")
    listed = await fleet.service.list_agent_machines_by_tenant("acme")
    assert sorted(a.user_id for a in listed) == ["alice", "bob"]
    view = await fleet.service.get_agent_machine(agent.id)
    assert view.machine is not None
    assert view.machine.state == "started"
    assert view.config_sources["LLM_MODEL"] == "fleet"
    assert view.config_sources["TELEGRAM_BOT_TOKEN"] == "agent"
    await fleet.service.touch_agent_activity(agent.id)
    assert (await fleet.store.agents.get(agent.id)).last_activity_at is not None
    updated = await fleet.service.update_allowed_skills(
        agent.id, ["linkhub-bridge", "calendar"], actor=ADMIN
    )
    assert updated.allowed_skills == ("linkhub-bridge", "calendar")
    machine = next(m for m in await fleet.machines() if m["id"] == agent.machine_id)
    assert machine["config"]["env"]["ALLOWED_SKILLS_JSON"] == '["linkhub-bridge","calendar"]'


async def test_set_and_verify_model(fleet: Fleet) -> None:
    agent = (await fleet.provision()).agent
    effective = await fleet.service.set_model(agent.id, "anthropic/claude-sonnet-4", actor=ADMIN)
    assert effective == "anthropic/claude-sonnet-4"
    assert (await fleet.store.agents.get(agent.id)).model == "anthropic/claude-sonnet-4"
    assert await fleet.service.verify_model(agent.id, actor=ADMIN) == "anthropic/claude-sonnet-4"


async def test_secrets_upsert_merge_meta_and_clear(fleet: Fleet) -> None:
    await fleet.service.upsert_agent_secrets(
        "acme/dave", {"LLM_API_KEY": "sk-staged-key-000000000000"}, actor=ADMIN
    )
    staged = await fleet.service.get_agent_secrets_meta("acme/dave")
    assert [m.name for m in staged] == ["LLM_API_KEY"]
    agent = (await fleet.provision(user="dave")).agent
    names = sorted(m.name for m in await fleet.service.get_agent_secrets_meta(agent.id))
    assert names == ["LLM_API_KEY", "OPENCLAW_GATEWAY_TOKEN", "TELEGRAM_BOT_TOKEN"]
    machine = (await fleet.machines())[0]
    assert machine["config"]["env"]["LLM_API_KEY"] == "sk-staged-key-000000000000"
    await fleet.service.upsert_agent_secrets(
        agent.id, {"openai_api_key": "sk-openai-0000000000000"}, actor=ADMIN
    )
    assert len(await fleet.service.get_agent_secrets_meta(agent.id)) == 4
    assert await fleet.service.clear_agent_secrets(agent.id, actor=ADMIN) == 4
    assert await fleet.service.get_agent_secrets_meta(agent.id) == []


async def test_every_mutating_call_is_audited(fleet: Fleet) -> None:
    agent = (await fleet.provision()).agent
    await fleet.service.stop_agent_machine(agent.id, actor=ADMIN)
    await fleet.service.start_agent_machine(agent.id, actor=ADMIN)
    await fleet.service.create_agent_snapshot(agent.id, actor=ADMIN)
    await fleet.service.deprovision_agent_machine(agent.id, actor=ADMIN)
    entries = await fleet.store.audit.entries(limit=200)
    actions = {(e.action, e.outcome) for e in entries if e.actor == str(ADMIN)}
    for action in (
        "agent.provision",
        "agent.stop",
        "agent.start",
        "agent.snapshot",
        "agent.deprovision",
    ):
        assert (action, AuditOutcome.OK) in actions, action
