"""Scenario 1 — monitor sweep of N machines in one app: API calls and wall time per sweep.

Ours: `Monitor.sweep()` (one machine list per app and token). Baseline, same run, same store
and emulator: a loop that reads every agent's machine with one `GET /machines/{id}` each — what
checking every agent through the seed's per-agent functions amounts to. API calls are counted
by the Fly emulator's request log, not by the code under measurement. The Fly emulator's rate
limits are on and the Fly client's limiter has its production settings.
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path

from bench import fleet_seed
from bench.fleet_stack import fleet_service, open_store
from bench.report import Row
from bench.sizes import Size
from bench.world import FLY_APP, FLY_TOKEN, World, open_world
from bot.fleet.monitor import Monitor
from emulators.fly import FlyTimings
from flyclient import FlyClient

NAME = "1 monitor sweep"
MAX_CALLS_RATIO = 1 / 50


async def api_calls_since(world: World, seq: int) -> int:
    records = await world.fly_requests(seq)
    await world.fly_last_seq()
    return sum(1 for record in records if str(record["path"]).startswith("/v1/"))


async def run(size: Size, workdir: Path) -> list[Row]:
    machines = size.sweep_machines
    timings = FlyTimings(launch=0.0, start=0.0, gateway_boot=0.0)
    async with (
        open_world(workdir, fly_timings=timings) as world,
        open_store(workdir / "bot.db") as store,
    ):
        agents = await fleet_seed.running_fleet(world, store, machines)
        await world.fly_rate_limits(enabled=True)
        async with fleet_service(world, store) as service:
            monitor = Monitor(service.ctx)
            sweep_calls: list[int] = []
            sweep_seconds: list[float] = []
            reported_calls: list[int] = []
            checked: list[int] = []
            for _ in range(size.sweeps):
                seq = await world.fly_last_seq()
                started = time.perf_counter()
                report = await monitor.sweep()
                sweep_seconds.append(time.perf_counter() - started)
                sweep_calls.append(await api_calls_since(world, seq))
                reported_calls.append(report.api_calls)
                checked.append(report.agents_checked)

            fly: FlyClient = service.ctx.pool.client(FLY_APP, FLY_TOKEN)
            seq = await world.fly_last_seq()
            started = time.perf_counter()
            for agent in agents:
                await fly.get_machine(str(agent.machine_id))
            loop_seconds = time.perf_counter() - started
            loop_calls = await api_calls_since(world, seq)

    # Fly answers a machine list whole (no pages), so one page holds all N machines.
    allowed_calls = math.ceil(machines / machines) + 1
    calls = max(sweep_calls)
    notes = (
        f"{machines} machines and agents; {size.sweeps} sweeps; every sweep checked "
        f"{min(checked)}–{max(checked)} agents; the monitor itself reported "
        f"{max(reported_calls)} call(s) per sweep",
        "Fly's list-machines answer is not paginated, so ceil(N / page size) + 1 = 2",
        "baseline: one GET /machines/{id} per agent, one after another",
    )
    return [
        Row(
            NAME,
            "Fly API calls per sweep",
            calls,
            loop_calls,
            "per-machine GET loop",
            f"≤ {allowed_calls} and ratio ≤ {MAX_CALLS_RATIO:.2f}",
            calls <= allowed_calls and calls / loop_calls <= MAX_CALLS_RATIO,
            notes,
        ),
        Row(
            NAME,
            "wall time per sweep (s)",
            statistics.median(sweep_seconds),
            loop_seconds,
            "per-machine GET loop",
            "",
            None,
            notes,
        ),
    ]
