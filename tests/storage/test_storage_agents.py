"""Agents (one live per tenant and user, status history), snapshots and tenant profiles."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.errors import (
    AgentAlreadyExistsError,
    ConflictError,
    NotFoundError,
    StateTransitionError,
    UnsafeRecordError,
)
from storage.models import AgentChanges, AgentStatus, SnapshotStatus
from storage.store import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "agents.db")
    yield opened
    await opened.close()


async def test_an_agent_gets_a_stable_generated_id_and_its_fly_placement(store: Store) -> None:
    agent = await store.agents.create(
        tenant_id="acme",
        user_id="u1",
        actor="admin:1",
        fly_app="acme-agents",
        region="iad",
        image="registry.fly.io/linkhub-agents:openclaw-okr-v1",
        model="openai/gpt-4.1-mini",
        memory_mb=2048,
        allowed_skills=["linkhub-bridge"],
    )
    assert agent.id.startswith("ag_") and len(agent.id) == 15
    assert agent.status is AgentStatus.PROVISIONING
    assert agent.allowed_skills == ("linkhub-bridge",)
    updated = await store.agents.update(
        agent.id, AgentChanges(machine_id="m1", volume_id="vol_1"), actor="admin:1"
    )
    assert (updated.machine_id, updated.volume_id, updated.region) == ("m1", "vol_1", "iad")
    assert await store.agents.get_by_machine("m1") == updated
    assert await store.agents.get_live("acme", "u1") == updated
    cleared = await store.agents.update(agent.id, AgentChanges(machine_id=None), actor="admin:1")
    assert cleared.machine_id is None and cleared.volume_id == "vol_1"


async def test_only_one_live_agent_per_tenant_and_user_even_when_created_at_once(
    store: Store,
) -> None:
    results = await asyncio.gather(
        *(store.agents.create(tenant_id="acme", user_id="u1", actor="a") for _ in range(10)),
        return_exceptions=True,
    )
    created = [item for item in results if not isinstance(item, BaseException)]
    refused = [item for item in results if isinstance(item, AgentAlreadyExistsError)]
    assert len(created) == 1 and len(refused) == 9
    assert created[0].id in str(refused[0])
    other_tenant = await store.agents.create(tenant_id="globex", user_id="u1", actor="a")
    assert other_tenant.id != created[0].id


async def test_deleting_an_agent_keeps_its_record_and_frees_the_pair(store: Store) -> None:
    agent = await store.agents.create(tenant_id="acme", user_id="u1", actor="admin:1")
    await store.agents.update(agent.id, AgentChanges(machine_id="m1"), actor="admin:1")
    deleted = await store.agents.mark_deleted(agent.id, actor="admin:1", reason="deprovisioned")
    assert deleted.status is AgentStatus.DELETED and deleted.deleted_at is not None
    assert await store.agents.get_live("acme", "u1") is None
    assert await store.agents.get_by_machine("m1") is None
    replacement = await store.agents.create(tenant_id="acme", user_id="u1", actor="admin:1")
    await store.agents.update(replacement.id, AgentChanges(machine_id="m1"), actor="admin:1")
    assert (await store.agents.get(agent.id)).status is AgentStatus.DELETED
    with pytest.raises(StateTransitionError, match="deleted"):
        await store.agents.set_status(agent.id, AgentStatus.RUNNING, actor="admin:1")
    assert [a.id for a in await store.agents.live(tenant_id="acme")] == [replacement.id]


async def test_glances_are_the_live_agents_with_a_machine_as_the_full_records_say(
    store: Store,
) -> None:
    placed = await store.agents.create(
        tenant_id="acme", user_id="u1", actor="admin:1", fly_app="acme-agents"
    )
    await store.agents.update(placed.id, AgentChanges(machine_id="m1"), actor="admin:1")
    await store.agents.set_status(placed.id, AgentStatus.RUNNING, actor="admin:1")
    await store.agents.create(tenant_id="acme", user_id="u2", actor="admin:1")  # no machine yet
    gone = await store.agents.create(tenant_id="beta", user_id="u3", actor="admin:1")
    await store.agents.update(gone.id, AgentChanges(machine_id="m3"), actor="admin:1")
    await store.agents.mark_deleted(gone.id, actor="admin:1", reason="deprovisioned")

    glances = await store.agents.live_glances()
    full = await store.agents.get(placed.id)
    assert [(g.id, g.tenant_id, g.fly_app, g.machine_id, g.status) for g in glances] == [
        (full.id, full.tenant_id, full.fly_app, full.machine_id, full.status)
    ]
    assert glances[0].status is AgentStatus.RUNNING


async def test_every_status_change_is_appended_to_the_history(store: Store) -> None:
    agent = await store.agents.create(tenant_id="acme", user_id="u1", actor="admin:1")
    await store.agents.set_status(agent.id, AgentStatus.RUNNING, actor="fleet", reason="healthy")
    await store.agents.set_status(agent.id, AgentStatus.STOPPED, actor="admin:1")
    history = await store.agents.status_history(agent.id)
    assert [(h.from_status, h.to_status, h.actor) for h in history] == [
        (None, AgentStatus.PROVISIONING, "admin:1"),
        (AgentStatus.PROVISIONING, AgentStatus.RUNNING, "fleet"),
        (AgentStatus.RUNNING, AgentStatus.STOPPED, "admin:1"),
    ]
    assert history[1].reason == "healthy"


async def test_a_status_change_with_an_expected_status_is_a_compare_and_set(
    store: Store,
) -> None:
    agent = await store.agents.create(tenant_id="acme", user_id="u1", actor="admin:1")
    results = await asyncio.gather(
        *(
            store.agents.set_status(
                agent.id,
                AgentStatus.RECREATING,
                actor=f"admin:{n}",
                expected={AgentStatus.PROVISIONING},
            )
            for n in range(5)
        ),
        return_exceptions=True,
    )
    assert sum(not isinstance(item, BaseException) for item in results) == 1
    assert sum(isinstance(item, StateTransitionError) for item in results) == 4
    assert len(await store.agents.status_history(agent.id)) == 2


async def test_a_status_change_to_the_current_status_writes_nothing(store: Store) -> None:
    agent = await store.agents.create(tenant_id="acme", user_id="u1", actor="admin:1")
    running = await store.agents.set_status(agent.id, AgentStatus.RUNNING, actor="fleet")
    again = await store.agents.set_status(
        agent.id, AgentStatus.RUNNING, actor="fleet", expected={AgentStatus.RUNNING}
    )
    assert again == running
    assert len(await store.agents.status_history(agent.id)) == 2
    audited = await store.audit.entries(target=agent.id)
    assert [entry.action for entry in audited] == ["agent.create"]


async def test_a_refused_status_change_names_the_current_status_and_changes_nothing(
    store: Store,
) -> None:
    agent = await store.agents.create(tenant_id="acme", user_id="u1", actor="admin:1")
    with pytest.raises(
        StateTransitionError, match=r"is provisioning, expected one of \['stopped'\]"
    ):
        await store.agents.set_status(
            agent.id, AgentStatus.RUNNING, actor="fleet", expected={AgentStatus.STOPPED}
        )
    with pytest.raises(StateTransitionError) as refused:
        await store.agents.set_status(agent.id, AgentStatus.RUNNING, actor="fleet", expected=())
    assert refused.value.current == agent
    assert await store.agents.get(agent.id) == agent
    assert len(await store.agents.status_history(agent.id)) == 1


async def test_changing_a_missing_agent_is_not_found_and_a_deleted_one_is_refused(
    store: Store,
) -> None:
    with pytest.raises(NotFoundError, match="ag_missing"):
        await store.agents.set_status("ag_missing", AgentStatus.RUNNING, actor="fleet")
    with pytest.raises(NotFoundError, match="ag_missing"):
        await store.agents.update("ag_missing", AgentChanges(model="m"), actor="fleet")
    with pytest.raises(NotFoundError, match="ag_missing"):
        await store.agents.update("ag_missing", AgentChanges(), actor="fleet")
    agent = await store.agents.create(tenant_id="acme", user_id="u1", actor="admin:1")
    deleted = await store.agents.mark_deleted(agent.id, actor="admin:1")
    with pytest.raises(StateTransitionError, match="deleted") as refused:
        await store.agents.update(agent.id, AgentChanges(model="m"), actor="admin:1")
    assert refused.value.current == deleted
    with pytest.raises(StateTransitionError, match="deleted"):
        await store.agents.set_status(agent.id, AgentStatus.DELETED, actor="admin:1")
    assert await store.agents.get(agent.id) == deleted
    assert [h.to_status for h in await store.agents.status_history(agent.id)] == [
        AgentStatus.PROVISIONING,
        AgentStatus.DELETED,
    ]


async def test_a_status_change_inside_a_rolled_back_transaction_leaves_no_history(
    store: Store,
) -> None:
    agent = await store.agents.create(tenant_id="acme", user_id="u1", actor="admin:1")
    seen: list[AgentStatus] = []

    async def change_then_abandon() -> None:
        async with store.db.transaction() as tx:
            changed = await store.agents.set_status(
                agent.id, AgentStatus.RUNNING, actor="fleet", tx=tx
            )
            seen.append(changed.status)
            raise RuntimeError("abandoned")

    with pytest.raises(RuntimeError, match="abandoned"):
        await change_then_abandon()
    assert seen == [AgentStatus.RUNNING]
    assert (await store.agents.get(agent.id)).status is AgentStatus.PROVISIONING
    assert len(await store.agents.status_history(agent.id)) == 1


async def test_a_machine_belongs_to_at_most_one_live_agent(store: Store) -> None:
    first = await store.agents.create(tenant_id="acme", user_id="u1", actor="a")
    second = await store.agents.create(tenant_id="acme", user_id="u2", actor="a")
    await store.agents.update(first.id, AgentChanges(machine_id="m1"), actor="a")
    with pytest.raises(ConflictError, match="machine"):
        await store.agents.update(second.id, AgentChanges(machine_id="m1"), actor="a")


async def test_activity_is_recorded_and_never_moves_backwards(store: Store) -> None:
    agent = await store.agents.create(tenant_id="acme", user_id="u1", actor="a")
    later = agent.created_at.replace(year=agent.created_at.year + 1)
    await store.agents.touch_activity(agent.id, later)
    await store.agents.touch_activity(agent.id, agent.created_at)
    assert (await store.agents.get(agent.id)).last_activity_at == later


async def test_snapshots_record_the_fly_id_once_and_the_latest_usable_one_is_found(
    store: Store,
) -> None:
    agent = await store.agents.create(tenant_id="acme", user_id="u1", actor="a")
    first = await store.snapshots.record(
        agent_id=agent.id, source_volume_id="vol_1", fly_snapshot_id="vs_1", region="iad"
    )
    again = await store.snapshots.record(
        agent_id=agent.id, source_volume_id="vol_1", fly_snapshot_id="vs_1"
    )
    assert again.id == first.id
    failed = await store.snapshots.record(
        agent_id=agent.id,
        source_volume_id="vol_1",
        fly_snapshot_id=None,
        status=SnapshotStatus.FAILED,
        detail="volume busy",
    )
    latest = await store.snapshots.latest_usable(agent.id)
    assert latest is not None and latest.fly_snapshot_id == "vs_1"
    restored = await store.snapshots.set_status(first.id, SnapshotStatus.RESTORED)
    assert restored.status is SnapshotStatus.RESTORED
    assert [s.id for s in await store.snapshots.for_agent(agent.id)] == [first.id, failed.id]


async def test_tenant_profiles_hold_plain_overrides_and_refuse_secrets(store: Store) -> None:
    profile = await store.tenants.upsert(
        "acme",
        display_name="Acme",
        overrides={"fly_app": "acme-agents", "model": "openai/gpt-4.1-mini"},
        actor="admin:1",
    )
    assert profile.overrides["fly_app"] == "acme-agents"
    renamed = await store.tenants.upsert("acme", display_name="Acme Inc.", actor="admin:1")
    assert renamed.display_name == "Acme Inc." and renamed.overrides == {}
    assert renamed.created_at == profile.created_at
    with pytest.raises(UnsafeRecordError, match="fly_api_token"):
        await store.tenants.upsert(
            "acme", display_name="Acme", overrides={"fly_api_token": "x"}, actor="admin:1"
        )
    assert [p.tenant_id for p in await store.tenants.all()] == ["acme"]
