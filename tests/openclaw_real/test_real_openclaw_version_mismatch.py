"""A real rollback: an older OpenClaw started on a config a newer one wrote (issue 14, defect 15).

The pinned release (.ci/openclaw-version) writes the config of a state folder; the older release
(.ci/openclaw-older-version, installed by scripts/install-openclaw.sh into its own prefix) then
runs `gateway run` on the same folder. What it really prints is fed to the bot's gateway
diagnosis, which must name a version mismatch and both versions.

Seen from 2026.6.11 on a config 2026.9.6 wrote (stderr, no timestamp or colour, exit code 1):

    Refusing to run automatic gateway startup migrations because this OpenClaw binary
    (2026.6.11) is older than the config last written by OpenClaw 2026.9.6.
    Run the newer openclaw binary on PATH, or reinstall the intended gateway service from the
    newer install.
    Set OPENCLAW_ALLOW_OLDER_BINARY_DESTRUCTIVE_ACTIONS=1 only for an intentional downgrade or
    recovery action.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from openclaw_real_support import OpenClawRuntime

from bot.fleet.gateway import diagnose
from bot.fleet.gateway_signals import VersionMismatch, summarize

RUN_TIMEOUT_S = 180
GATEWAY_TOKEN = "gateway-secret-for-the-version-test"


def _openclaw(runtime: OpenClawRuntime, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One run of `node ./openclaw.mjs ARGS` in the package folder, as the image runs it, with
    every state path inside HOME (nothing of the user's own OpenClaw is read or written)."""
    env = {
        "PATH": f"{runtime.node.parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "OPENCLAW_HOME": str(home),
        "OPENCLAW_STATE_DIR": str(home / "state"),
        "OPENCLAW_CONFIG_PATH": str(home / "config.json"),
    }
    return subprocess.run(
        [str(runtime.node), str(runtime.script), *args],
        cwd=runtime.script.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def test_an_older_openclaw_on_a_newer_config_is_diagnosed_as_a_version_mismatch(
    openclaw_install: OpenClawRuntime, openclaw_older_install: OpenClawRuntime, tmp_path: Path
) -> None:
    newer, older = openclaw_install, openclaw_older_install
    home = tmp_path / "openclaw"
    home.mkdir()
    written = _openclaw(newer, home, "config", "set", "gateway.mode", "local")
    assert written.returncode == 0, written.stderr
    config = json.loads((home / "config.json").read_text(encoding="utf-8"))
    assert config["meta"]["lastTouchedVersion"] == newer.version

    refused = _openclaw(
        older, home, "gateway", "run", "--port", "41977", "--bind", "loopback",
        "--token", GATEWAY_TOKEN,
    )  # fmt: skip

    output = refused.stdout + refused.stderr
    assert refused.returncode == 1, output
    report = summarize(output.splitlines())
    assert report.version_mismatch and not report.ready
    assert report.versions == VersionMismatch(binary=older.version, config=newer.version)
    problem = diagnose(report, "m-rollback")
    assert problem is not None and problem.kind == "version_mismatch"
    assert f"OpenClaw {older.version}" in str(problem)
    assert f"OpenClaw {newer.version}" in str(problem)
