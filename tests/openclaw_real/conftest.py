"""Fixtures for the tests that run the real OpenClaw runtime inside the Fly emulator.

``openclaw_install`` finds the runtime that ``scripts/install-openclaw.sh`` installs: a Node 24
binary and the OpenClaw version pinned in ``.ci/openclaw-version``, in
``$FLYAGENTS_OPENCLAW_CACHE`` or the repository's ``.openclaw-cache/``. When either is missing (or
the wrong version) every test here is skipped with the reason and the command that fixes it;
with ``FLYAGENTS_REQUIRE_OPENCLAW=1`` (set by CI) the same absence fails them instead.

A real gateway takes about 0.8 GB of memory and a CLI run several seconds of CPU: the tests here
keep at most three machines running at once (``MAX_RUNNING_GATEWAYS``) and share one booted
machine per module where they can. Nothing here mocks or patches the code under test.
"""

from __future__ import annotations

from openclaw_real_support import openclaw_install, openclaw_older_install

__all__ = ["openclaw_install", "openclaw_older_install"]
