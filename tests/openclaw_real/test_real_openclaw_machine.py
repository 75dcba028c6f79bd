"""The real OpenClaw runtime as a Fly machine's main process: refusals, restarts, exec forms.

Each test runs its own emulators and at most one real gateway at a time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openclaw_real_support import (
    AUTH,
    OpenClawRuntime,
    RealFleet,
    agent_config,
    bot_token,
    eventually,
    live_members_of_group,
    plain,
    real_timings,
    running_fleet,
)

from emulators.fly import FlyEmulator
from emulators.fly.real_openclaw import RealOpenClawError

REFUSAL = "Refusing to bind gateway to lan without auth."
AUTH_EXIT = " INFO Main child exited normally with code: 78"


@pytest.fixture
async def fleet(openclaw_install: OpenClawRuntime) -> AsyncIterator[RealFleet]:
    async with running_fleet(openclaw_install) as running:
        yield running


async def test_empty_gateway_token_loops_on_the_real_refusal_until_an_update_sets_one(
    fleet: RealFleet,
) -> None:
    volume = await fleet.create_volume("agent_no_token")
    bot = bot_token(7302)
    machine = await fleet.create_machine(
        agent_config(volume_id=volume["id"], bot=bot, gateway_token="")
    )
    statuses: set[str] = set()

    async def two_refusals() -> list[str] | None:
        statuses.add(await fleet.check_status(machine["id"]))
        lines = [plain(message) for _, message in await fleet.log_lines(machine["id"])]
        return lines if lines.count(AUTH_EXIT) >= 2 else None

    lines = await eventually(two_refusals, deadline_s=90, what="two boots refused with exit 78")
    assert lines.count(REFUSAL) >= 2
    assert any(
        line.startswith("Set OPENCLAW_GATEWAY_TOKEN or OPENCLAW_GATEWAY_PASSWORD") for line in lines
    )
    assert "[gateway] ready" not in lines
    assert statuses == {"critical"}
    current = await fleet.machine(machine["id"])
    events = [(e["type"], e["status"]) for e in current["events"]]
    assert events.count(("exit", "stopped")) >= 2
    assert ("restart", "starting") in events

    answer = await fleet.api.post(
        f"/machines/{machine['id']}",
        json={
            "config": agent_config(volume_id=volume["id"], bot=bot),
            "current_version": current["instance_id"],
        },
    )
    assert answer.status_code == 200, answer.text
    await fleet.wait_check_passing(machine["id"])
    await fleet.wait_for_log(machine["id"], "[gateway] ready")
    await fleet.stop(machine["id"])
    stopped = [plain(message) for _, message in await fleet.log_lines(machine["id"])]
    assert any(line.startswith(" INFO Sending signal SIGTERM to main child") for line in stopped)
    assert "[gateway] received SIGTERM; shutting down" in stopped
    assert " INFO Main child exited normally with code: 0" in stopped[-4:]


async def test_exec_runs_only_the_openclaw_cli_from_the_configured_app_dir(
    openclaw_install: OpenClawRuntime, fly_emulator_factory: Any
) -> None:
    emulator: FlyEmulator = await fly_emulator_factory(
        timings=real_timings(),
        openclaw=openclaw_install.script,
        node=openclaw_install.node,
        telegram_api_root="http://127.0.0.1:9",
        openclaw_dir="/srv/openclaw",
    )
    async with httpx.AsyncClient(
        base_url=f"{emulator.base_url}/apps/agents", headers=AUTH, timeout=90
    ) as api:
        # Several quick execs in a row: Fly's 1/s-per-machine limit is not what this pins.
        limits = await api.post(
            f"{emulator.root_url}/_emulator/rate-limits", json={"enabled": False}
        )
        assert limits.status_code == 200, limits.text
        created = await api.post("/machines", json={"config": {"image": "agents:openclaw"}})
        machine_id = created.json()["id"]

        async def started() -> bool:
            return bool((await api.get(f"/machines/{machine_id}")).json()["state"] == "started")

        await eventually(started, deadline_s=30, what="machine started")

        async def run(argv: list[str]) -> dict[str, Any]:
            answer = await api.post(
                f"/machines/{machine_id}/exec", json={"command": argv, "timeout": 60}
            )
            assert answer.status_code == 200, answer.text
            body: dict[str, Any] = answer.json()
            return body

        script = 'cd /srv/openclaw && exec node ./openclaw.mjs "$1"'
        version = await run(["sh", "-lc", script, "openclaw", "--version"])
        assert version["exit_code"] == 0, version
        assert version["stdout"].startswith(f"OpenClaw {openclaw_install.version} (")
        direct = await run(["node", "/srv/openclaw/openclaw.mjs", "--version"])
        assert direct["stdout"] == version["stdout"]
        elsewhere = await run(["sh", "-lc", "cd /app && exec node ./openclaw.mjs --version"])
        assert elsewhere["exit_code"] == 1
        assert "Error: Cannot find module '/app/openclaw.mjs'" in elsewhere["stderr"]
        assert (await run(["sh", "-lc", "cd /nowhere && node ./openclaw.mjs"]))["stderr"] == (
            "sh: 1: cd: can't cd to /nowhere\n"
        )
        # Any other JavaScript is never evaluated on the host (it would have exited 3).
        other_script = await run(["node", "-e", "process.exit(3)"])
        assert (
            other_script["exit_code"],
            "evaluates no such script" in other_script["stderr"],
        ) == (
            1,
            True,
        )
        assert (await run(["rm", "-rf", "/"]))["exit_code"] == 127
        destroyed = await api.delete(f"/machines/{machine_id}", params={"force": "true"})
        assert destroyed.status_code == 200


def test_real_mode_refuses_a_missing_openclaw_script_before_starting(tmp_path: Path) -> None:
    with pytest.raises(RealOpenClawError, match=r"openclaw\.mjs not found"):
        FlyEmulator(openclaw=tmp_path / "openclaw.mjs", telegram_api_root="http://127.0.0.1:1")


async def test_stopping_the_emulator_ends_every_real_process_and_removes_its_folders(
    openclaw_install: OpenClawRuntime,
) -> None:
    async with running_fleet(openclaw_install) as fleet:
        volume = await fleet.create_volume("agent_shutdown")
        machine = await fleet.create_machine(
            agent_config(volume_id=volume["id"], bot=bot_token(7304))
        )

        async def gateway_pid() -> int | None:
            state = (await fleet.root.get("/_emulator/state")).json()
            [listed] = [m for m in state["apps"][0]["machines"] if m["id"] == machine["id"]]
            real = listed["emulator"]["real_gateway"]
            return int(real["pid"]) if real else None

        pid = await eventually(gateway_pid, deadline_s=30, what="gateway spawned")
        assert pid in live_members_of_group(pid)
        assert fleet.fly.runtime is not None and fleet.fly.runtime.real is not None
        folder = fleet.fly.runtime.real.disks.root
        assert (folder / "volumes" / volume["id"]).is_dir()
    assert live_members_of_group(pid) == []
    assert not folder.exists()
