"""Scenario 6 — memory: peak RSS of the bot with N agents in its database and the monitor on.

The bot runs as `python -m bot run`, configured by environment variables alone (as in
production), against the emulators, with N running agents in its database and N started
machines on Fly, the monitor sweeping every second. Once it has logged `memory_sweeps` sweeps
of all N machines, the bench reads the process's peak resident set size (`VmHWM` in
/proc/PID/status: the kernel's high-water mark, so no peak between samples is missed).
Baseline, same run: `python -m bench.idle_imports`, a process that imports everything the bot
imports and does nothing (its peak RSS as `getrusage` reports it).
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

from bench import bot_config, fleet_seed
from bench.fleet_stack import open_store
from bench.procs import child, child_env, peak_rss_mib, python_argv
from bench.report import Row
from bench.sizes import Size
from bench.world import open_world
from emulators.fly import FlyTimings

NAME = "6 memory"
TARGET_MIB = 150.0
SWEEP_LINE = re.compile(r"monitor sweep: (\d+) apps, (\d+) calls, (\d+) machines, (\d+) alerts")


def sweeps_logged(log: Path, machines: int) -> int:
    text = log.read_text(errors="replace") if log.exists() else ""
    return sum(1 for match in SWEEP_LINE.finditer(text) if int(match.group(3)) == machines)


async def idle_baseline_mib(workdir: Path) -> float:
    argv = python_argv("bench.idle_imports")
    async with child(argv, log_path=workdir / "idle-imports.log", env=child_env()) as idle:
        return float(idle.first_line)


async def run(size: Size, workdir: Path) -> list[Row]:
    agents = size.memory_agents
    timings = FlyTimings(launch=0.0, start=0.0, gateway_boot=0.0)
    async with open_world(workdir, fly_timings=timings) as world:
        db_path = workdir / "bot.db"
        async with open_store(db_path) as store:
            await fleet_seed.running_fleet(world, store, agents)
        await world.fly_rate_limits(enabled=True)
        await world.open_ops_chat()
        values = bot_config.settings_values(
            world, db_path, FLYAGENTS_MONITOR_INTERVAL_SEC=1, FLYAGENTS_LOG_LEVEL="INFO"
        )
        log = workdir / "bot-run.log"
        argv = python_argv("bot", "run")
        async with child(
            argv, log_path=log, env=child_env(**values), cwd=workdir, wait_for_line=False
        ) as bot:
            started = time.perf_counter()
            async with asyncio.timeout(300):
                while sweeps_logged(log, agents) < size.memory_sweeps:
                    if bot.process.returncode is not None:
                        raise RuntimeError(f"the bot exited:\n{bot.log_tail()}")
                    await asyncio.sleep(0.1)
            watched_s = time.perf_counter() - started
            ours_mib = peak_rss_mib(bot.pid)
        idle_mib = await idle_baseline_mib(workdir)

    notes = (
        f"`python -m bot run` with {agents} running agents in SQLite and {agents} started "
        f"machines on the Fly emulator, monitor every 1 s; peak RSS (VmHWM) after "
        f"{size.memory_sweeps} full sweeps ({watched_s:.1f} s after start)",
        "baseline: `python -m bench.idle_imports`, the bot's imports and nothing else",
    )
    return [
        Row(
            NAME,
            "peak RSS (MiB)",
            ours_mib,
            idle_mib,
            "idle process, same imports",
            f"< {TARGET_MIB:.0f} MiB",
            ours_mib < TARGET_MIB,
            notes,
        )
    ]
