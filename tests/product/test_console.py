"""`python -m bot console`, driven the way a person (or a script) drives it: through stdin.

Each test runs the console as a subprocess with piped stdin and reads what it prints. The
first pipes a whole script in at once (the console handles one line at a time, each after the
bot has settled); the second types line by line and waits, with bounded polling, for what
arrives on its own (a monitor alert) before typing on.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from bot.demo.world import agent_bot_token

ROOT = Path(__file__).resolve().parents[2]
# Not the token the console's start hints print, so the transcript must never show it.
AGENT_TOKEN = agent_bot_token(7)
PROVISION = [
    f"/secret acme/uma TELEGRAM_BOT_TOKEN={AGENT_TOKEN}",
    "/provision tenant=acme user=uma",
]


def _console() -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "console"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"},
    )


def test_a_stdin_script_provisions_links_pairs_and_approves() -> None:
    script = [
        "/help",
        ":as uma",
        "/provision tenant=acme user=uma",  # an end user is no admin
        ":as admin",
        *PROVISION,
        ":as uma",
        ":open",
        ":code",
        ":forward",
        ":press 1",  # Uma may not approve her own code
        ":as admin",
        ":press 1",
        ":as uma",
        "/status",
        ":press 99",
        ":nonsense",
        ":quit",
    ]
    console = _console()

    out, err = console.communicate("\n".join(script) + "\n", timeout=120)

    assert console.returncode == 0, err
    for expected in (
        "Admin commands",  # /help as the admin
        "(you are now Uma, end user)",
        "This is a private bot",  # Uma's /provision was refused
        "the bot deleted Ann's message",
        "✅ Provisioned ag_",
        "👤 Uma (end user) → bot:\n     /start ",  # :open sent the invite's /start
        "✅ You are linked to your agent acme/uma.",
        "Pairing code:",
        "is waiting for an operator's approval",
        "🔑 Pairing request",
        "buttons: [1] ✅ Approve  [2] ✖️ Reject",
        "🔘 Uma presses [1] “✅ Approve”",
        "Sorry, only the operators of this bot can do that.",
        "🔘 Ann presses [1] “✅ Approve”",
        "Approving… this runs once.",
        "✅ succeeded (approved by Ann",
        "Paired: you can now talk to your agent.",
        "Your agent acme/uma",
        "Pairing: paired — you can talk to your agent",
        "No button [99].",
        "Unknown console command :nonsense",
        "Bye.",
    ):
        assert expected in out, expected
    assert out.index("Pairing request") < out.index("presses [1]") < out.index("succeeded")
    assert AGENT_TOKEN not in out


class _Typist:
    """Types into the console and waits (bounded) for what it prints."""

    def __init__(self, console: subprocess.Popen[str]) -> None:
        self.console = console
        self.seen = ""
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.console.stdout is not None
        for line in self.console.stdout:
            self._lines.put(line)

    def type(self, line: str) -> None:
        assert self.console.stdin is not None
        self.console.stdin.write(line + "\n")
        self.console.stdin.flush()

    def wait_for(self, text: str, within_s: float = 60.0) -> None:
        deadline = time.monotonic() + within_s
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"the console never printed {text!r}; it printed:\n{self.seen}"
            try:
                self.seen += self._lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue


def test_alerts_show_up_without_further_input_and_quit_ends_cleanly() -> None:
    console = _console()
    typist = _Typist(console)
    try:
        for line in PROVISION:
            typist.type(line)
        typist.wait_for("✅ Provisioned ag_")

        typist.type(":crash acme/uma")

        # Nothing more is typed: the monitor's alert reaches the ops chat and is printed.
        typist.wait_for("🚨 machine_unexpected_failed")
        typist.type("/wake acme/uma")
        typist.wait_for("is running.")
        typist.type(":quit")
        assert console.wait(timeout=60) == 0
        typist.wait_for("Bye.")
    finally:
        if console.poll() is None:
            console.kill()
            console.wait()
    assert "🤖 bot → ops chat:" in typist.seen
