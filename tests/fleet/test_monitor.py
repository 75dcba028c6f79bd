"""The monitor reads Fly with one list call per app per sweep and alerts each condition once."""

from __future__ import annotations

from typing import Any

from fleet_harness import ADMIN, FLY_TOKEN, Fleet, build_fleet

from bot.fleet.monitor import Monitor
from emulators.fly import FlyEmulator
from flyclient import FlyClient, MachineCheck, MachineConfig, RateLimits
from storage import Store
from storage.models import AgentChanges, AgentStatus


async def _populate(fleet: Fleet, count: int, config: MachineConfig | None = None) -> list[str]:
    await fleet.control.post("/_emulator/rate-limits", json={"enabled": False})
    async with FlyClient(
        token=FLY_TOKEN,
        app="agents",
        machines_url=fleet.emulator.base_url,
        logs_url=fleet.emulator.root_url,
        rate_limits=RateLimits.disabled(),
    ) as fly:
        ids = []
        for index in range(count):
            machine = await fly.create_machine(
                config or MachineConfig(image="img", env={"OPENCLAW_GATEWAY_TOKEN": "t"}),
                region="iad",
            )
            agent = await fleet.store.agents.create(
                tenant_id="acme",
                user_id=f"u{index}",
                actor=str(ADMIN),
                status=AgentStatus.RUNNING,
                fly_app="agents",
            )
            await fleet.store.agents.update(
                agent.id, AgentChanges(machine_id=machine.id), actor=str(ADMIN)
            )
            ids.append(machine.id)
    await fleet.control.post("/_emulator/rate-limits", json={"enabled": True})
    return ids


async def _requests_since(fleet: Fleet, seq: int) -> list[dict[str, Any]]:
    answer = await fleet.control.get("/_emulator/requests", params={"since": seq})
    return list(answer.json())


async def test_a_sweep_of_500_machines_uses_one_list_call(fleet: Fleet) -> None:
    await _populate(fleet, 500)
    before = await _requests_since(fleet, 0)
    last = before[-1]["seq"] if before else 0
    monitor = Monitor(fleet.service.ctx)
    report = await monitor.sweep()
    calls = await _requests_since(fleet, last)
    assert report.api_calls == 1
    assert len(calls) == 1
    assert calls[0]["path"] == "/v1/apps/agents/machines"
    assert report.agents_checked == 500
    assert report.alerts == 0


async def test_unexpected_stops_are_alerted_once_and_nothing_is_restarted(fleet: Fleet) -> None:
    ids = await _populate(fleet, 5)
    monitor = Monitor(fleet.service.ctx)
    await monitor.sweep()
    await fleet.fault({"crash": {"machine_id": ids[0], "to": "failed", "auto_restart": False}})
    await fleet.fault({"crash": {"machine_id": ids[1], "to": "stopped", "auto_restart": False}})
    first = await monitor.sweep()
    assert first.alerts == 2
    second = await monitor.sweep()
    assert second.alerts == 0
    kinds = sorted(a.kind for a in await fleet.store.outbox.due(limit=50))
    assert kinds == ["machine_unexpected_failed", "machine_unexpected_stopped"]
    states = {m["id"]: m["state"] for m in await fleet.machines()}
    assert states[ids[0]] == "failed"
    assert states[ids[1]] == "stopped"
    agent = await fleet.store.agents.get_by_machine(ids[0])
    assert agent is not None
    assert agent.status is AgentStatus.ERROR


async def test_a_machine_gone_from_fly_is_alerted_and_its_agent_marked_error(
    fleet: Fleet,
) -> None:
    ids = await _populate(fleet, 3)
    monitor = Monitor(fleet.service.ctx)
    assert (await monitor.sweep()).alerts == 0
    async with FlyClient(
        token=FLY_TOKEN, app="agents", machines_url=fleet.emulator.base_url
    ) as fly:
        await fly.destroy(ids[2], force=True)
        await fly.wait_for_state(ids[2], "destroyed", 10)
    report = await monitor.sweep()
    assert report.machines_seen == 2
    assert report.alerts == 1
    alerts = await fleet.store.outbox.due(limit=50)
    assert [a.kind for a in alerts] == ["machine_gone"]
    assert ids[2] in alerts[0].text
    gone = await fleet.store.agents.get_by_machine(ids[2])
    assert gone is not None
    assert gone.status is AgentStatus.ERROR


async def test_a_check_still_critical_after_the_grace_period_is_alerted_once(
    fly_emulator: FlyEmulator, store: Store
) -> None:
    fleet = await build_fleet(fly_emulator, store, startup_timeout_s=0)
    try:
        # Nothing listens on port 9: the check stays critical while the machine runs.
        checked = MachineConfig(
            image="img",
            env={"OPENCLAW_GATEWAY_TOKEN": "t"},
            checks={"gateway": MachineCheck(type="tcp", port=9, interval="15s")},
        )
        [machine_id] = await _populate(fleet, 1, checked)
        async with FlyClient(
            token=FLY_TOKEN, app="agents", machines_url=fleet.emulator.base_url
        ) as fly:
            await fly.wait_for_state(machine_id, "started", 10)
        monitor = Monitor(fleet.service.ctx)
        first = await monitor.sweep()  # first sight while started: the grace period starts now
        second = await monitor.sweep()
        third = await monitor.sweep()
        assert (first.alerts, second.alerts, third.alerts) == (0, 1, 0)
        alerts = await fleet.store.outbox.due(limit=50)
        assert [a.kind for a in alerts] == ["machine_check_critical"]
        assert machine_id in alerts[0].text
        assert "check gateway is still critical" in alerts[0].text
    finally:
        await fleet.control.aclose()
        await fleet.service.aclose()


async def test_a_revoked_token_is_alerted_and_other_apps_go_on(fly_emulator_factory, store) -> None:  # type: ignore[no-untyped-def]
    emulator = await fly_emulator_factory(apps=("agents",), app_tokens={"agents": FLY_TOKEN})
    fleet = await build_fleet(emulator, store, fly_token="fo1_revoked_token_value")
    try:
        agent = await fleet.store.agents.create(
            tenant_id="acme",
            user_id="u1",
            actor=str(ADMIN),
            status=AgentStatus.RUNNING,
            fly_app="agents",
        )
        await fleet.store.agents.update(
            agent.id, AgentChanges(machine_id="0123456789abcd"), actor=str(ADMIN)
        )
        report = await Monitor(fleet.service.ctx).sweep()
        assert report.failed_apps == ["agents"]
        alerts = [
            a for a in await fleet.store.outbox.due(limit=50) if a.kind == "fly_token_refused"
        ]
        assert len(alerts) == 1
        assert "acme" in alerts[0].text
        assert "fo1_revoked" not in alerts[0].text
    finally:
        await fleet.control.aclose()
        await fleet.service.aclose()
