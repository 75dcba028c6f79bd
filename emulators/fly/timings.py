"""Every delay the Fly emulator simulates, in one dataclass.

The defaults are brisk but realistic-looking (what the CLI uses: a machine is
`started` within about a second and a 240 s check grace period passes in about
two); tests pass tiny values. Changeable at run time through
`POST /_emulator/timings`. This module must never sleep or schedule anything.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass
class FlyTimings:
    """Delays in seconds (and two multipliers) used by the simulated platform."""

    launch: float = 0.2
    """A new machine stays `created` this long before it moves to `starting`."""
    start: float = 0.6
    """`starting` -> `started`."""
    stop: float = 0.4
    """`stopping` -> `stopped`."""
    suspend: float = 0.4
    """`suspending` -> `suspended`."""
    restart: float = 0.8
    """`restarting` -> `started` (a restart requested through the API)."""
    update: float = 0.8
    """`updating` -> `started`."""
    destroy: float = 0.3
    """`destroying` -> `destroyed`."""
    destroyed_retention: float = 20.0
    """How long a destroyed machine still answers GET with `state: "destroyed"` before 404."""
    gateway_boot: float = 0.5
    """Time after `started` until the simulated OpenClaw gateway logs its boot and listens."""
    restart_backoff: float = 1.0
    """Pause before flyd restarts a machine whose main process exited (restart policy)."""
    time_scale: float = 0.008
    """Multiplier on durations read from machine config (check `grace_period`, `interval`)."""
    snapshot_running: float = 0.2
    """A new snapshot is `waiting` this long, then `running`."""
    snapshot_created: float = 0.4
    """A snapshot is `running` this long, then `created`."""
    volume_restore: float = 0.5
    """A volume made from a snapshot or a fork stays `restoring`/`hydrating` this long."""
    cli: float = 0.3
    """Duration of one simulated `node ./openclaw.mjs ...` run."""
    request_timeout_scale: float = 1.0
    """Multiplier on client-given timeouts (wait, exec) so tests can reach a 408 quickly."""

    @classmethod
    def for_tests(cls) -> FlyTimings:
        """Tiny delays for test suites: everything settles within a few tens of milliseconds."""
        return cls(
            launch=0.005,
            start=0.01,
            stop=0.01,
            suspend=0.01,
            restart=0.01,
            update=0.01,
            destroy=0.01,
            destroyed_retention=0.5,
            gateway_boot=0.01,
            restart_backoff=0.02,
            time_scale=0.0001,
            snapshot_running=0.01,
            snapshot_created=0.02,
            volume_restore=0.02,
            cli=0.01,
            request_timeout_scale=0.05,
        )

    @classmethod
    def for_real_openclaw(cls) -> FlyTimings:
        """`for_tests`, but client timeouts (exec, wait) at full length: real CLI runs take
        seconds, and a scaled-down exec timeout would answer 408 while OpenClaw still works."""
        return dataclasses.replace(cls.for_tests(), request_timeout_scale=1.0)

    def as_dict(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def apply(self, changes: dict[str, Any]) -> None:
        """Change fields in place; unknown names or non-numbers raise ValueError."""
        known = {f.name for f in dataclasses.fields(self)}
        parsed: dict[str, float] = {}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown timing {name!r}; known: {sorted(known)}")
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"timing {name!r} must be a number >= 0")
            parsed[name] = float(value)
        for name, value in parsed.items():
            setattr(self, name, value)
