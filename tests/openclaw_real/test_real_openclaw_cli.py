"""`python -m emulators.fly --openclaw …`: real mode from the command line, and its refusals."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from openclaw_real_support import AUTH, REPO_ROOT, OpenClawRuntime, live_members_of_group


def _fly_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "emulators.fly", "--port", "0", *args]


def test_openclaw_without_a_telegram_api_root_is_refused(tmp_path: Path) -> None:
    answer = subprocess.run(
        _fly_cli("--openclaw", str(tmp_path / "openclaw.mjs")),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert answer.returncode == 2
    assert "--openclaw needs --telegram-api-root URL" in answer.stderr


def test_a_missing_openclaw_script_is_refused_before_serving(tmp_path: Path) -> None:
    missing = tmp_path / "openclaw.mjs"
    answer = subprocess.run(
        _fly_cli("--openclaw", str(missing), "--telegram-api-root", "http://127.0.0.1:9"),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (answer.returncode, answer.stdout) == (2, "")
    assert f"OpenClaw's openclaw.mjs not found at {missing}" in answer.stderr


def test_the_command_line_runs_real_gateways_and_ends_them_on_sigterm(
    openclaw_install: OpenClawRuntime,
) -> None:
    process = subprocess.Popen(
        _fly_cli(
            "--openclaw",
            str(openclaw_install.script),
            "--node",
            str(openclaw_install.node),
            "--telegram-api-root",
            "http://127.0.0.1:9",
        ),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        with httpx.Client(base_url=base_url, headers=AUTH, timeout=90) as http:
            config = {"image": "agents:openclaw", "env": {"OPENCLAW_GATEWAY_TOKEN": "t"}}
            machine_id = http.post("/apps/agents/machines", json={"config": config}).json()["id"]
            root = base_url.removesuffix("/v1")
            pid = None
            deadline = time.monotonic() + 60
            while pid is None and time.monotonic() < deadline:
                listed = http.get(f"{root}/_emulator/state").json()["apps"][0]["machines"]
                real = listed[0]["emulator"]["real_gateway"]
                pid = real["pid"] if real else None
                time.sleep(0.2)
            version = http.post(
                f"/apps/agents/machines/{machine_id}/exec",
                json={"command": ["node", "./openclaw.mjs", "--version"], "timeout": 60},
            ).json()
        assert pid is not None
        assert pid in live_members_of_group(pid)
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert version["exit_code"] == 0
    assert version["stdout"].startswith(f"OpenClaw {openclaw_install.version} (")
    assert exit_code == 0
    assert live_members_of_group(pid) == []
