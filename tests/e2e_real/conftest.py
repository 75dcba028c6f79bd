"""Fixtures of the bot-level tests against the real OpenClaw runtime.

These tests drive the whole bot (real PTB, real SQLite) the way `tests/telegram` does, against
the Fly emulator in real-OpenClaw mode the way `tests/openclaw_real` does, so they reuse both
suites' helpers: their folders are put on the import path when pytest did not collect them
(``pytest tests/e2e_real`` alone). ``openclaw_install`` is the same runtime lookup as
``tests/openclaw_real``'s: a missing Node 24 / OpenClaw skips every test here with the reason
and the install command, and ``FLYAGENTS_REQUIRE_OPENCLAW=1`` (set by CI) fails them instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
for helpers in (TESTS / "openclaw_real", TESTS / "telegram"):
    if str(helpers) not in sys.path:
        sys.path.insert(0, str(helpers))

from openclaw_real_support import openclaw_install  # noqa: E402 - needs the folder on the path first

__all__ = ["openclaw_install"]
