"""Gateway diagnostics: never listening, auth refusal, version mismatch — each a specific alert."""

from __future__ import annotations

import pytest
from fleet_harness import Fleet

from bot.fleet.errors import OperationFailed
from storage.models import AgentStatus


async def _provision_with_gateway_mode(fleet: Fleet, mode: str) -> OperationFailed:
    await fleet.fault({"gateway_mode": {"machine_id": "*", "mode": mode}})
    with pytest.raises(OperationFailed) as caught:
        await fleet.provision()
    return caught.value


async def _alerts(fleet: Fleet) -> list[str]:
    return [a.kind for a in await fleet.store.outbox.due(limit=100)]


async def test_a_gateway_that_never_listens_is_reported_with_its_fix(fleet: Fleet) -> None:
    error = await _provision_with_gateway_mode(fleet, "never_listen")
    assert "did not become ready" in str(error)
    assert "--dev" in str(error)
    assert "gateway_never_listening" in await _alerts(fleet)
    agent = (await fleet.store.agents.live())[0]
    assert agent.status is AgentStatus.ERROR
    # The machine is kept for inspection and the cleanup command is named.
    assert f"/deprovision {agent.id}" in str(error)
    assert len(await fleet.machines()) == 1


async def test_missing_gateway_token_is_diagnosed_as_the_auth_refusal(fleet: Fleet) -> None:
    error = await _provision_with_gateway_mode(fleet, "refuse_auth")
    assert "Refusing to bind gateway to lan without auth" in str(error)
    assert "OPENCLAW_GATEWAY_TOKEN" in str(error)
    assert "gateway_auth_refused" in await _alerts(fleet)


async def test_version_mismatch_is_diagnosed_naming_both_versions(fleet: Fleet) -> None:
    # The simulated volume was last written by OpenClaw 2026.10.1; the image runs 2026.9.6,
    # which prints OpenClaw's real refusal and exits 1.
    error = await _provision_with_gateway_mode(fleet, "version_mismatch")
    assert "version mismatch" in str(error)
    assert "OpenClaw 2026.9.6" in str(error) and "OpenClaw 2026.10.1" in str(error)
    alerts = await fleet.store.outbox.due(limit=100)
    (mismatch,) = [a for a in alerts if a.kind == "gateway_version_mismatch"]
    assert "2026.9.6" in mismatch.text and "2026.10.1" in mismatch.text
    assert "snapshot" in mismatch.text  # the way back for a rollback is named


async def test_dev_mode_is_an_opt_in(fly_emulator, store) -> None:  # type: ignore[no-untyped-def]
    from fleet_harness import build_fleet

    plain = await build_fleet(fly_emulator, store)
    await plain.provision(user="plain")
    dev = await build_fleet(fly_emulator, store, gateway_dev_mode=True)
    await dev.provision(user="dev")
    envs = {m["config"]["env"]["USER_ID"]: m["config"]["env"] for m in await plain.machines()}
    assert "OPENCLAW_GATEWAY_DEV_MODE" not in envs["plain"]
    assert envs["dev"]["OPENCLAW_GATEWAY_DEV_MODE"] == "true"
    for fleet in (plain, dev):
        await fleet.control.aclose()
        await fleet.service.aclose()


async def test_a_machine_create_failure_rolls_back_the_volume(fleet: Fleet) -> None:
    await fleet.fault(
        {
            "route": {"method": "POST", "path_regex": "/machines$"},
            "status": 422,
            "mode": "before",
            "body": {"error": "machine quota exceeded"},
        }
    )
    with pytest.raises(OperationFailed) as caught:
        await fleet.provision()
    assert "machine quota exceeded" in str(caught.value)
    assert "Rolled back: volume" in str(caught.value)
    assert await fleet.machines() == []
    assert await fleet.volumes() == []
    assert await fleet.store.agents.live() == []
    kinds = [a.kind for a in await fleet.store.outbox.due(limit=50)]
    assert "provision_failed" in kinds
    # Nothing is left behind, so provisioning again simply works.
    await fleet.control.post("/_emulator/faults", json={"clear": True})
    assert (await fleet.provision()).agent.status.value == "running"
