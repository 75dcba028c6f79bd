"""`python -m emulators.telegram`: prints its root URL first, serves, stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "5678901:" + "g" * 35


def test_the_command_line_prints_its_url_first_and_serves_until_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "emulators.telegram", "--port", "0", "--no-flood-control"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        root_url = process.stdout.readline().strip()
        with httpx.Client(base_url=root_url, timeout=10) as http:
            me = http.get(f"/bot{TOKEN}/getMe").json()
            flood = http.get("/_emulator/faults").json()["flood_control"]
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert root_url.startswith("http://127.0.0.1:")
    assert me["result"]["id"] == 5678901
    assert flood["enabled"] is False
    assert exit_code == 0
