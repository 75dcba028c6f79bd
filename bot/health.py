"""A liveness heartbeat: the running bot touches a file; `python -m bot health` checks its age.

A polling bot serves no HTTP, so the container's HEALTHCHECK reads this file instead. The
file holds only a timestamp.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

DEFAULT_MAX_AGE_S = 180.0
BEAT_EVERY_S = 30.0


def beat(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(f"{time.time():.0f}\n", encoding="ascii")
    temporary.replace(path)


def age_s(path: Path) -> float | None:
    """Seconds since the last beat, or None when there never was one."""
    try:
        written = float(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None
    return max(0.0, time.time() - written)


def healthy(path: Path, max_age_s: float = DEFAULT_MAX_AGE_S) -> tuple[bool, str]:
    age = age_s(path)
    if age is None:
        return False, f"no heartbeat at {path}"
    if age > max_age_s:
        return False, f"last heartbeat {age:.0f}s ago (limit {max_age_s:.0f}s)"
    return True, f"last heartbeat {age:.0f}s ago"


async def keep_beating(path: Path, every_s: float = BEAT_EVERY_S) -> None:
    """Run until cancelled; a failing disk is logged by the caller's task handling."""
    while True:
        with contextlib.suppress(OSError):
            beat(path)
        await asyncio.sleep(every_s)
