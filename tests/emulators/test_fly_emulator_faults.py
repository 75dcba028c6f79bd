"""Fault injection in the Fly emulator, and its command-line entry point.

Each fault kind of `POST /_emulator/faults` is exercised over real HTTP: HTTP errors before and
after the operation takes effect, count/rate/retry_after/body, latency, exec hangs and slow
execs, gateway modes (see the OpenClaw tests too), crashes, and clearing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from test_fly_emulator_support import APP, OPENCLAW, Fly, agent_config, http_client, open_fly

from emulators.fly import FlyEmulator

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def fly(fly_emulator_factory: Any) -> AsyncIterator[Fly]:
    emulator: FlyEmulator = await fly_emulator_factory()
    async with open_fly(emulator) as client:
        yield client


async def _machine_ids(fly: Fly) -> list[str]:
    answer = await fly.api.get(f"/apps/{APP}/machines")
    return [m["id"] for m in answer.json()]


async def test_error_before_the_operation_leaves_nothing_behind(fly: Fly) -> None:
    rule = {
        "route": {"method": "POST", "path_regex": "/machines$"},
        "status": 503,
        "count": 1,
        "retry_after": 2,
    }
    assert (await fly.control_post("faults", rule)).status_code == 200
    failed = await fly.api.post(f"/apps/{APP}/machines", json={"config": agent_config()})
    assert failed.status_code == 503
    assert failed.headers["Retry-After"] == "2"
    assert failed.json() == {"error": "service unavailable"}
    assert await _machine_ids(fly) == []
    created = await fly.api.post(f"/apps/{APP}/machines", json={"config": agent_config()})
    assert created.status_code == 200
    assert (await fly.control.get("/_emulator/faults")).json()["http"] == []


async def test_error_after_the_operation_is_an_ambiguous_failure(fly: Fly) -> None:
    body = {"error": "upstream timed out"}
    await fly.control_post(
        "faults",
        {
            "route": {"method": "POST", "path_regex": "machines$"},
            "status": 500,
            "mode": "after",
            "count": 1,
            "body": body,
        },
    )
    answer = await fly.api.post(
        f"/apps/{APP}/machines",
        json={"config": agent_config(metadata={"operation_id": "op-42"})},
    )
    assert answer.status_code == 500
    assert answer.json() == body
    found = await fly.api.get(f"/apps/{APP}/machines", params={"metadata.operation_id": "op-42"})
    assert len(found.json()) == 1


async def test_zero_rate_never_fires_and_rules_with_one_identity_replace_each_other(
    fly: Fly,
) -> None:
    route = {"method": "GET", "path_regex": "/volumes$"}
    await fly.control_post("faults", {"route": route, "status": 500, "rate": 0.0})
    assert (await fly.api.get(f"/apps/{APP}/volumes")).status_code == 200
    await fly.control_post("faults", {"route": route, "status": 502})
    faults = (await fly.control.get("/_emulator/faults")).json()["http"]
    assert [f["status"] for f in faults] == [502]
    assert (await fly.api.get(f"/apps/{APP}/volumes")).status_code == 502


async def test_latency_fault_delays_but_answers(fly: Fly) -> None:
    await fly.control_post(
        "faults", {"route": {"path_regex": "/volumes$"}, "latency_s": 0.05, "count": 1}
    )
    assert (await fly.api.get(f"/apps/{APP}/volumes")).status_code == 200
    assert (await fly.control.get("/_emulator/faults")).json()["http"] == []


async def test_faults_also_hit_the_logs_api(fly: Fly) -> None:
    await fly.control_post("faults", {"route": {"path_regex": "/logs$"}, "status": 502})
    answer = await fly.root.get(f"/api/v1/apps/{APP}/logs")
    assert answer.status_code == 502


async def test_exec_hang_fault_hangs_matching_commands_until_restart(fly: Fly) -> None:
    machine = await fly.started_machine()
    await fly.control_post(
        "faults",
        {"exec_hang": {"machine_id": machine["id"], "match": "pairing approve", "count": 1}},
    )
    other = await fly.exec(machine["id"], [*OPENCLAW, "pairing", "list", "telegram"])
    assert other.status_code == 200
    hung = await fly.exec(
        machine["id"], [*OPENCLAW, "pairing", "approve", "telegram", "ABCDEFGH"], timeout=2
    )
    assert hung.status_code == 408
    assert (await fly.exec_records())[-1]["status"] == "hung"
    await fly.api.post(f"/apps/{APP}/machines/{machine['id']}/restart")
    await fly.wait(machine["id"])
    record = (await fly.exec_records())[-1]
    assert (record["status"], record["exit_code"]) == ("killed", None)
    retried = await fly.exec(machine["id"], [*OPENCLAW, "pairing", "approve", "telegram", "X"])
    assert retried.json()["exit_code"] == 1


async def test_exec_slow_fault_lets_the_timeout_fire_first(fly: Fly) -> None:
    machine = await fly.started_machine()
    await fly.control_post(
        "faults", {"exec_slow": {"machine_id": machine["id"], "match": "models", "seconds": 0.2}}
    )
    answer = await fly.exec(machine["id"], [*OPENCLAW, "models", "set", "groq/llama"], timeout=1)
    assert answer.status_code == 408

    async def completed() -> bool:
        return bool((await fly.exec_records())[-1]["status"] == "completed")

    await fly.eventually(completed)


async def test_crash_fault_moves_the_machine_to_failed_or_restarts_it(fly: Fly) -> None:
    kept_down = await fly.started_machine()
    answer = await fly.control_post(
        "faults", {"crash": {"machine_id": kept_down["id"], "to": "failed", "auto_restart": False}}
    )
    assert answer.status_code == 200
    assert (await fly.get_machine(kept_down["id"]))["state"] == "failed"
    assert not await fly.gateway_listening(kept_down["id"])
    started = await fly.api.post(f"/apps/{APP}/machines/{kept_down['id']}/start")
    assert started.json()["previous_state"] == "failed"

    restarted = await fly.started_machine()
    await fly.control_post("faults", {"crash": {"machine_id": restarted["id"], "to": "stopped"}})
    assert (await fly.get_machine(restarted["id"]))["state"] == "stopped"
    assert (await fly.wait(restarted["id"])).status_code == 200
    await fly.eventually(lambda: fly.gateway_listening(restarted["id"]))


async def test_invalid_fault_rules_are_refused_and_clear_removes_everything(fly: Fly) -> None:
    assert (await fly.control_post("faults", {"status": 700})).status_code == 400
    assert (await fly.control_post("faults", {"nonsense": True})).status_code == 400
    crash_unknown = await fly.control_post("faults", {"crash": {"machine_id": "0" * 14}})
    assert crash_unknown.status_code == 404
    await fly.control_post(
        "faults",
        [
            {"route": {"path_regex": "."}, "status": 500},
            {"gateway_mode": {"machine_id": "*", "mode": "never_listen"}},
        ],
    )
    assert (await fly.api.get(f"/apps/{APP}")).status_code == 500
    cleared = await fly.control_post("faults", {"clear": True})
    assert cleared.json()["faults"] == {"http": [], "exec": [], "gateway_modes": {}}
    assert (await fly.api.get(f"/apps/{APP}")).status_code == 200


async def test_default_gateway_mode_applies_to_every_machine(fly: Fly) -> None:
    await fly.control_post("faults", {"gateway_mode": {"machine_id": "*", "mode": "never_listen"}})
    machine = await fly.create_machine()
    await fly.wait(machine["id"])

    async def booted() -> bool:
        return any("agent model" in m for m in await fly.log_messages(machine["id"]))

    await fly.eventually(booted)
    assert not await fly.gateway_listening(machine["id"])


# ----- command line ----------------------------------------------------------------------


async def test_command_line_prints_the_base_url_first_and_serves_until_terminated() -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    process = subprocess.Popen(
        [sys.executable, "-m", "emulators.fly", "--port", "0", "--token", "T", "--app", "a"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline().strip()
        assert first_line.startswith("http://127.0.0.1:")
        assert first_line.endswith("/v1")
        async with http_client(first_line) as client:
            allowed = await client.get("/apps/a", headers={"Authorization": "Bearer T"})
            refused = await client.get("/apps/a", headers={"Authorization": "Bearer nope"})
        assert allowed.status_code == 200
        assert allowed.json()["name"] == "a"
        assert refused.status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(timeout=10)
    assert exit_code == 0
