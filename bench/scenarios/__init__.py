"""The scenarios of the issues, one module each, in the order the table lists them.

Every scenario is `async def run(size, workdir) -> list[Row]`: it opens its own world (fresh
emulators), builds what it needs, measures our figure and its baseline in the same run, and
returns its rows. Scenarios share nothing with each other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.report import Row
from bench.scenarios import (
    alert_storm,
    bulk_lifecycle,
    memory,
    monitor_sweep,
    pairing_storm,
    stranger_flood,
    update_throughput,
)
from bench.sizes import Size

Scenario = Callable[[Size, Path], Awaitable[list[Row]]]

SCENARIOS: dict[str, Scenario] = {
    "monitor-sweep": monitor_sweep.run,
    "bulk-stop-wake": bulk_lifecycle.run,
    "pairing-storm": pairing_storm.run,
    "alert-storm": alert_storm.run,
    "update-throughput": update_throughput.run,
    "memory": memory.run,
    "stranger-flood": stranger_flood.run,
}
