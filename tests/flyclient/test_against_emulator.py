"""FlyClient against the Fly emulator over real loopback HTTP.

The emulator runs in-process with tiny timings (started by the fixture below); faults, rate
limits and the request log are driven through its documented control API (`/_emulator/...`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from emulators.fly import FlyEmulator
from flyclient.client import FlyClient
from flyclient.errors import (
    FlyError,
    LeaseHeldError,
    NotFoundError,
    RateLimitedError,
    WaitTimeoutError,
)
from flyclient.machines import OP_ID_METADATA_KEY
from flyclient.models import (
    Machine,
    MachineConfig,
    MachineGuest,
    MachineMount,
    MachineRestart,
)
from flyclient.ratelimit import RateLimits
from flyclient.retry import RetryPolicy

CANARY = "fm2_CANARY-emulator-t0ken-9c1e"
FAST_RETRIES = RetryPolicy(max_attempts=6, base_delay_s=0.01, max_delay_s=0.05)
SETTLE_S = 30.0  # deadline for state changes that take milliseconds in the emulator


@pytest.fixture
async def emu(fly_emulator: FlyEmulator) -> FlyEmulator:
    """The shared emulator: every exchange of these tests is checked against the spec."""
    return fly_emulator


@pytest.fixture
async def fly(emu: FlyEmulator) -> AsyncIterator[FlyClient]:
    async with FlyClient(
        token=CANARY,
        app="agents",
        machines_url=emu.base_url,
        logs_url=emu.root_url,
        retry_policy=FAST_RETRIES,
    ) as client:
        yield client


async def control(emu: FlyEmulator, method: str, path: str, body: Any = None) -> Any:
    async with httpx.AsyncClient(base_url=emu.root_url) as http:
        response = await http.request(method, path, json=body)
        response.raise_for_status()
        return response.json()


async def exchanges(emu: FlyEmulator, since: int = 0) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = await control(emu, "GET", f"/_emulator/requests?since={since}")
    return records


async def last_seq(emu: FlyEmulator) -> int:
    records = await exchanges(emu)
    return max((record["seq"] for record in records), default=0)


def agent_config(**metadata: str) -> MachineConfig:
    return MachineConfig(
        image="registry.fly.io/openclaw:2026.9.6",
        env={"OPENCLAW_GATEWAY_TOKEN": "gateway-secret"},
        metadata=dict(metadata),
        guest=MachineGuest(cpu_kind="shared", cpus=1, memory_mb=1024),
        restart=MachineRestart(policy="on-failure", max_retries=3),
    )


async def started_machine(fly: FlyClient, **metadata: str) -> Machine:
    machine = await fly.create_machine(agent_config(**metadata), region="ams")
    await fly.wait_for_state(machine.id, "started", SETTLE_S)
    return machine


async def test_machine_lifecycle_round_trip(fly: FlyClient) -> None:
    machine = await fly.create_machine(agent_config(agent_id="a1"), region="ams", name="agent-a1")
    assert machine.state == "created"
    assert machine.config is not None
    assert machine.config.metadata["agent_id"] == "a1"
    assert OP_ID_METADATA_KEY in machine.config.metadata

    await fly.wait_for_state(machine.id, "started", SETTLE_S)
    assert (await fly.get_machine(machine.id)).state == "started"

    await fly.stop(machine.id, signal="SIGTERM", timeout_s=5)
    await fly.wait_for_state(machine.id, "stopped", SETTLE_S)
    assert (await fly.get_machine(machine.id)).state == "stopped"

    answer = await fly.start(machine.id)
    assert answer["previous_state"] == "stopped"
    await fly.wait_for_state(machine.id, "started", SETTLE_S)
    before_restart = (await fly.get_machine(machine.id)).instance_id

    await fly.restart(machine.id, timeout_s=1)
    await fly.wait_for_state(machine.id, "started", SETTLE_S)
    assert (await fly.get_machine(machine.id)).instance_id != before_restart

    await fly.destroy(machine.id, force=True)
    await fly.wait_for_state(machine.id, "destroyed", SETTLE_S)
    try:
        gone_state = (await fly.get_machine(machine.id)).state
    except NotFoundError:
        gone_state = "gone"
    assert gone_state in ("destroyed", "gone")
    assert machine.id not in {m.id for m in await fly.list_machines()}


async def test_list_filters_by_state_and_metadata(fly: FlyClient) -> None:
    first = await started_machine(fly, tenant="t1")
    second = await started_machine(fly, tenant="t2")
    await fly.stop(second.id)
    await fly.wait_for_state(second.id, "stopped", SETTLE_S)

    assert [m.id for m in await fly.list_machines(metadata={"tenant": "t1"})] == [first.id]
    assert [m.id for m in await fly.list_machines(state=["stopped"])] == [second.id]
    both = {m.id for m in await fly.list_machines(state=["started", "stopped"], summary=True)}
    assert both == {first.id, second.id}


async def test_wait_answers_false_when_fly_says_not_yet(fly: FlyClient) -> None:
    machine = await started_machine(fly)
    await fly.stop(machine.id)
    await fly.wait_for_state(machine.id, "stopped", SETTLE_S)
    assert await fly.wait(machine.id, "started", timeout_s=1) is False


async def test_wait_for_state_chains_long_polls_until_the_machine_gets_there(
    emu: FlyEmulator, fly: FlyClient
) -> None:
    machine = await started_machine(fly)
    await fly.stop(machine.id)
    await fly.wait_for_state(machine.id, "stopped", SETTLE_S)
    # With the emulator's request_timeout_scale a 5 s poll lasts 0.25 s, so a 0.6 s start
    # outlasts the first polls.
    await control(emu, "POST", "/_emulator/timings", {"start": 0.6})
    since = await last_seq(emu)
    await fly.start(machine.id)
    await fly.wait_for_state(machine.id, "started", deadline_s=5)
    waits = [r for r in await exchanges(emu, since) if r["path"].endswith("/wait")]
    assert [r["status"] for r in waits][-1] == 200
    assert 408 in [r["status"] for r in waits]
    assert (await fly.get_machine(machine.id)).state == "started"


async def test_wait_for_state_raises_at_its_deadline(fly: FlyClient) -> None:
    machine = await started_machine(fly)
    await fly.stop(machine.id)
    await fly.wait_for_state(machine.id, "stopped", SETTLE_S)
    with pytest.raises(WaitTimeoutError):
        await fly.wait_for_state(machine.id, "started", deadline_s=0.5)


async def test_exec_returns_a_non_zero_exit_as_a_result(fly: FlyClient) -> None:
    machine = await started_machine(fly)
    result = await fly.exec(machine.id, ["definitely-not-a-command", "--flag"], timeout_s=10)
    assert result.exit_code == 127
    assert "not found" in result.stderr
    version = await fly.exec(machine.id, ["node", "./openclaw.mjs", "--version"], timeout_s=10)
    assert version.exit_code == 0
    assert version.stdout.strip()


async def test_a_storm_of_429s_is_absorbed_by_retries(emu: FlyEmulator, fly: FlyClient) -> None:
    machine = await started_machine(fly)
    await control(
        emu,
        "POST",
        "/_emulator/faults",
        {
            "route": {"method": "GET", "path_regex": f"/machines/{machine.id}$"},
            "status": 429,
            "count": 4,
        },
    )
    since = await last_seq(emu)
    assert (await fly.get_machine(machine.id)).id == machine.id
    statuses = [r["status"] for r in await exchanges(emu, since)]
    assert statuses == [429, 429, 429, 429, 200]


async def test_the_limiter_keeps_a_200_machine_bulk_stop_free_of_429s(emu: FlyEmulator) -> None:
    async with httpx.AsyncClient() as pool:
        setup = FlyClient(
            token=CANARY,
            app="agents",
            machines_url=emu.base_url,
            http_client=pool,
            rate_limits=RateLimits.disabled(),
            retry_policy=FAST_RETRIES,
        )
        # Creating 200 machines would take Fly 200 s (app-level create limit): set up unlimited.
        await control(emu, "POST", "/_emulator/rate-limits", {"enabled": False})
        machines = await asyncio.gather(
            *(setup.create_machine(agent_config(batch="b1"), region="ams") for _ in range(200))
        )
        await asyncio.gather(*(setup.wait_for_state(m.id, "started", SETTLE_S) for m in machines))
        await control(emu, "POST", "/_emulator/rate-limits", {"enabled": True})
        since = await last_seq(emu)

        limited = FlyClient(
            token=CANARY,
            app="agents",
            machines_url=emu.base_url,
            http_client=pool,
            retry_policy=RetryPolicy.never(),  # a single 429 would surface as an error
        )

        async def stop_and_confirm(machine: Machine) -> str | None:
            await limited.stop(machine.id)
            await limited.wait_for_state(machine.id, "stopped", SETTLE_S)
            return (await limited.get_machine(machine.id)).state

        states = await asyncio.gather(*(stop_and_confirm(m) for m in machines))

    assert states == ["stopped"] * 200
    records = await exchanges(emu, since)
    assert len(records) >= 600
    assert [r for r in records if r["status"] == 429] == []


async def test_client_limits_match_fly_so_a_polling_burst_needs_no_retries(
    emu: FlyEmulator, fly: FlyClient
) -> None:
    polled_politely = await started_machine(fly)
    polled_greedily = await started_machine(fly)
    async with httpx.AsyncClient() as pool:
        common: dict[str, Any] = {
            "token": CANARY,
            "app": "agents",
            "machines_url": emu.base_url,
            "http_client": pool,
            "retry_policy": RetryPolicy.never(),  # a single 429 would surface as an error
        }
        limited = FlyClient(**common)
        unlimited = FlyClient(**common, rate_limits=RateLimits.disabled())
        polite = await asyncio.gather(*(limited.get_machine(polled_politely.id) for _ in range(14)))
        greedy = await asyncio.gather(
            *(unlimited.get_machine(polled_greedily.id) for _ in range(14)),
            return_exceptions=True,
        )
    assert [m.id for m in polite] == [polled_politely.id] * 14
    assert any(isinstance(outcome, RateLimitedError) for outcome in greedy), (
        "without the client limiter the same burst trips Fly's limit"
    )


async def test_create_that_failed_after_taking_effect_leaves_exactly_one_machine(
    emu: FlyEmulator, fly: FlyClient
) -> None:
    await control(
        emu,
        "POST",
        "/_emulator/faults",
        {
            "route": {"method": "POST", "path_regex": "/apps/agents/machines$"},
            "status": 500,
            "count": 1,
            "mode": "after",
        },
    )
    since = await last_seq(emu)
    machine = await fly.create_machine(agent_config(), region="ams", op_id="journal-op-1")
    assert machine.config is not None
    assert machine.config.metadata[OP_ID_METADATA_KEY] == "journal-op-1"
    tagged = await fly.list_machines(metadata={OP_ID_METADATA_KEY: "journal-op-1"})
    assert [m.id for m in tagged] == [machine.id]
    assert len(await fly.list_machines()) == 1
    creates = [
        r
        for r in await exchanges(emu, since)
        if r["method"] == "POST" and r["path"].endswith("/machines")
    ]
    assert [r["status"] for r in creates] == [500]


async def test_create_that_failed_before_taking_effect_is_sent_again(
    emu: FlyEmulator, fly: FlyClient
) -> None:
    await control(
        emu,
        "POST",
        "/_emulator/faults",
        {
            "route": {"method": "POST", "path_regex": "/apps/agents/machines$"},
            "status": 503,
            "count": 1,
            "mode": "before",
        },
    )
    machine = await fly.create_machine(agent_config(), region="ams", op_id="journal-op-2")
    assert [m.id for m in await fly.list_machines()] == [machine.id]


async def test_a_leased_machine_refuses_others_and_obeys_the_holder(fly: FlyClient) -> None:
    machine = await started_machine(fly)
    lease = await fly.acquire_lease(machine.id, 60, description="pairing")
    assert lease.nonce
    with pytest.raises(LeaseHeldError):
        await fly.acquire_lease(machine.id, 60)
    with pytest.raises(LeaseHeldError):
        await fly.stop(machine.id)
    assert (await fly.get_lease(machine.id)).nonce == lease.nonce
    refreshed = await fly.refresh_lease(machine.id, lease.nonce or "", 120)
    assert refreshed.nonce == lease.nonce
    await fly.stop(machine.id, lease_nonce=lease.nonce)
    await fly.wait_for_state(machine.id, "stopped", SETTLE_S)
    await fly.release_lease(machine.id, lease.nonce or "")
    with pytest.raises(NotFoundError):
        await fly.get_lease(machine.id)


async def test_metadata_round_trip(fly: FlyClient) -> None:
    machine = await started_machine(fly, agent_id="a1")
    await fly.set_metadata(machine.id, "tenant", "t9")
    assert (await fly.get_metadata(machine.id))["tenant"] == "t9"
    await fly.delete_metadata(machine.id, "tenant")
    assert "tenant" not in await fly.get_metadata(machine.id)


async def test_snapshot_restores_into_a_new_volume(fly: FlyClient) -> None:
    volume = await fly.create_volume("agent_a1", "ams", 1)
    assert volume.state == "created"
    snapshot = await fly.create_snapshot(volume.id)
    assert snapshot.id.startswith("vs_")

    usable = None
    for _ in range(200):
        usable = await fly.latest_usable_snapshot(volume.id)
        if usable is not None:
            break
        await asyncio.sleep(0.02)
    assert usable is not None
    assert usable.id == snapshot.id

    restored = await fly.create_volume("agent_a1_restored", "ams", 1, snapshot_id=usable.id)
    assert restored.state == "restoring"
    state: str | None = restored.state
    for _ in range(200):
        state = (await fly.get_volume(restored.id)).state
        if state == "created":
            break
        await asyncio.sleep(0.02)
    assert state == "created"
    assert {v.id for v in await fly.list_volumes()} == {volume.id, restored.id}


async def test_volume_in_use_cannot_be_deleted_until_its_machine_is_gone(fly: FlyClient) -> None:
    volume = await fly.create_volume("agent_data", "ams", 1)
    config = agent_config()
    config.mounts = [MachineMount(volume=volume.id, path="/data")]
    machine = await fly.create_machine(config, region="ams")
    await fly.wait_for_state(machine.id, "started", SETTLE_S)
    with pytest.raises(FlyError) as caught:
        await fly.delete_volume(volume.id)
    assert caught.value.status_code == 412
    await fly.destroy(machine.id, force=True)
    await fly.wait_for_state(machine.id, "destroyed", SETTLE_S)
    await fly.delete_volume(volume.id)


async def test_logs_page_forward_with_next_token(fly: FlyClient) -> None:
    machine = await started_machine(fly)
    first = None
    for _ in range(200):
        first = await fly.get_logs(machine.id)
        if first.entries:
            break
        await asyncio.sleep(0.02)
    assert first is not None
    assert first.entries
    assert first.next_token
    assert all(entry.instance == machine.id for entry in first.entries)

    await fly.restart(machine.id)
    await fly.wait_for_state(machine.id, "started", SETTLE_S)
    # The restart's boot lines arrive over time: page forward until a page comes back empty
    # after new lines were seen. Every page must hold only lines not seen before, and an empty
    # page must hand back the same token.
    seen = {entry.id for entry in first.entries}
    token: str | None = first.next_token
    new_lines = 0
    for _ in range(500):
        page = await fly.get_logs(machine.id, next_token=token)
        page_ids = {entry.id for entry in page.entries}
        assert page_ids.isdisjoint(seen)
        seen |= page_ids
        if page.entries:
            assert page.next_token != token
            token = page.next_token
            new_lines += len(page.entries)
            continue
        assert page.next_token == token
        if new_lines:
            break
        await asyncio.sleep(0.02)
    assert new_lines > 0


async def test_canary_token_never_reaches_logs_or_exception_text(
    emu: FlyEmulator, fly: FlyClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("flyclient", "httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    texts: list[str] = []

    machine = await started_machine(fly)
    await fly.exec(machine.id, ["node", "./openclaw.mjs", "--version"])
    await fly.get_logs(machine.id)
    await control(
        emu,
        "POST",
        "/_emulator/faults",
        {
            "route": {"method": "GET", "path_regex": f"/machines/{machine.id}$"},
            "status": 502,
            "count": 2,
        },
    )
    await fly.get_machine(machine.id)
    lease = await fly.acquire_lease(machine.id, 30)
    for failing in (
        fly.get_machine("00000000000000"),
        fly.acquire_lease(machine.id, 30),
        fly.stop(machine.id),
        fly.with_app("someone-elses-app").get_app(),
    ):
        try:
            await failing
        except FlyError as error:
            texts.extend([str(error), repr(error), error.message])
    await fly.release_lease(machine.id, lease.nonce or "")

    assert len(texts) == 12
    assert any(record.name.startswith("httpcore") for record in caplog.records)
    assert any(record.name == "flyclient" for record in caplog.records)
    for record in caplog.records:
        assert CANARY not in record.getMessage()
        assert CANARY not in repr(record.args)
    for text in texts:
        assert CANARY not in text
    recorded_tokens = {r["token"] for r in await exchanges(emu)}
    assert recorded_tokens == {CANARY[:4] + "…"}
