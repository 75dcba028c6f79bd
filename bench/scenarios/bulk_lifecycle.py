"""Scenario 2 — bulk stop, then wake, of N machines under Fly's rate limits.

Ours: the product's bulk path, `FleetService.bulk_lifecycle` — stop every agent, then wake
every agent (each wake waits for a healthy gateway), at most the fleet's `bulk_concurrency`
agents in flight (or `BULK_CONCURRENCY` when set), with the Fly client's production limiter
and retry policy, against the emulator enforcing Fly's limits (1 request/s per action per
machine, burst 3; get-machine 5/s, burst 10). The concurrency must stay bounded: with all
1,000 at once the store's write queue exceeds its 10 s timeout (see RESULTS.md).

The bound: the least time the platform and the limits allow at the concurrency the bulk path
actually used (it reports it). Every machine must go through the emulator's stop, start and
check grace times; and for each machine and action, the calls our flow made need at least
(calls − burst) / rate seconds. With C machines in flight, each phase takes at least
ceil(N / C) times its per-machine floor.
Baseline, same run: a naive bulk client (no limiter, no retry, every machine at once, polling
the machine every 50 ms for the state it waits for) — the 429s per machine Fly sends it. It
runs on `NAIVE_MACHINES` of the machines: one emulator process answers a few hundred requests
a second, so with more machines at once it could not even deliver the per-machine request
rate a real Fly would see (and refuse).
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from bench import fleet_seed
from bench.fleet_stack import fleet_service, open_store
from bench.report import Row
from bench.sizes import Size
from bench.world import FLY_APP, FLY_TOKEN, open_world
from bot.fleet.bulk import BulkAction, BulkReport
from emulators.fly import FlyTimings
from flyclient import FlyClient, FlyError, RateLimits, RetryPolicy
from storage.models import Actor

NAME = "2 bulk stop+wake"
# None: the product's default (`FleetDefaults.bulk_concurrency`); a number overrides it.
BULK_CONCURRENCY: int | None = None
MAX_BOUND_RATIO = 1.3
NAIVE_POLL_S = 0.05
NAIVE_MACHINES = 20
# Fly's published limits, as the emulator enforces them: (per second, burst).
DEFAULT_LIMIT = (1.0, 3.0)
ACTION_LIMITS = {"machine_get": (5.0, 10.0)}
_MACHINE_PATH = re.compile(r"^/v1/apps/[^/]+/machines/([^/]+)(?:/([a-z_]+))?$")


def action_of(method: str, path: str) -> tuple[str, str] | None:
    """(emulator action, machine id) of a machine-level request; None for anything else."""
    match = _MACHINE_PATH.match(path)
    if match is None:
        return None
    machine_id, verb = match.groups()
    if verb is None:
        action = {"GET": "machine_get", "POST": "machine_update", "DELETE": "machine_destroy"}
        return action[method], machine_id
    return f"machine_{verb}", machine_id


def rate_floor_s(records: Sequence[dict[str, object]]) -> tuple[float, Counter[str]]:
    """The least time Fly's buckets need for these calls, machine by machine (the slowest)."""
    calls: Counter[tuple[str, str]] = Counter()
    per_action: Counter[str] = Counter()
    for record in records:
        found = action_of(str(record["method"]), str(record["path"]))
        if found is not None:
            calls[found] += 1
            per_action[found[0]] += 1
    floor = 0.0
    for (action, _machine), count in calls.items():
        rate, burst = ACTION_LIMITS.get(action, DEFAULT_LIMIT)
        floor = max(floor, max(0.0, count - burst) / rate)
    return floor, per_action


def count_429(records: Sequence[dict[str, object]]) -> int:
    return sum(1 for record in records if record["status"] == 429)


def failures_of(report: BulkReport) -> list[str]:
    return [f"{outcome.agent_ref}: {outcome.error}" for outcome in report.failed]


async def naive_bulk(fly: FlyClient, machine_ids: Sequence[str]) -> tuple[float, int]:
    """Stop all, poll until stopped, start all, poll until started; (seconds, machines failed)."""

    async def until(machine_id: str, state: str) -> None:
        while (await fly.get_machine(machine_id)).state != state:
            await asyncio.sleep(NAIVE_POLL_S)

    async def cycle(machine_id: str) -> bool:
        try:
            await fly.stop(machine_id)
            await until(machine_id, "stopped")
            await fly.start(machine_id)
            await until(machine_id, "started")
        except FlyError:
            return False
        return True

    started = time.perf_counter()
    results = await asyncio.gather(*(cycle(machine_id) for machine_id in machine_ids))
    return time.perf_counter() - started, sum(1 for ok in results if not ok)


async def run(size: Size, workdir: Path) -> list[Row]:
    timings = FlyTimings()  # the emulator's brisk, realistic-looking defaults
    async with (
        open_world(workdir, fly_timings=timings) as world,
        open_store(workdir / "bot.db") as store,
    ):
        agents = await fleet_seed.running_fleet(world, store, size.bulk_machines)
        await world.fly_rate_limits(enabled=True)
        async with fleet_service(world, store) as service:
            seq = await world.fly_last_seq()
            fly_cpu_before = world.fly_cpu_s()
            agent_ids = [agent.id for agent in agents]
            started = time.perf_counter()
            stopped = await service.bulk_lifecycle(
                BulkAction.STOP, agent_ids, actor=Actor.admin(11), concurrency=BULK_CONCURRENCY
            )
            stopped_at = time.perf_counter()
            woken = await service.bulk_lifecycle(
                BulkAction.WAKE, agent_ids, actor=Actor.admin(11), concurrency=BULK_CONCURRENCY
            )
            ours_s = time.perf_counter() - started
            stop_s = stopped_at - started
            fly_busy_s = world.fly_cpu_s() - fly_cpu_before
            ours_records = await world.fly_requests(seq)
            gateway_poll_s = service.defaults.timings.gateway_poll_s
            grace_s = service.defaults.startup_timeout_s

        # Full buckets for the baseline too (switching the limits on again resets them).
        await world.fly_rate_limits(enabled=True)
        seq = await world.fly_last_seq()
        naive = FlyClient(
            token=FLY_TOKEN,
            app=FLY_APP,
            machines_url=world.fly_base_url,
            logs_url=world.fly_root_url,
            rate_limits=RateLimits.disabled(),
            retry_policy=RetryPolicy.never(),
        )
        async with naive:
            machine_ids = [agent.machine_id for agent in agents if agent.machine_id]
            machine_ids = machine_ids[:NAIVE_MACHINES]
            naive_s, naive_failed = await naive_bulk(naive, machine_ids)
        naive_records = await world.fly_requests(seq)

    floor_s, per_action = rate_floor_s(ours_records)
    concurrency = stopped.concurrency
    assert woken.concurrency == concurrency
    waves = math.ceil(size.bulk_machines / concurrency)
    stop_floor_s = timings.stop
    wake_floor_s = timings.start + max(timings.gateway_boot, grace_s * timings.time_scale)
    bound_s = waves * max(floor_s, stop_floor_s + wake_floor_s)
    ours_429 = count_429(ours_records)
    naive_429 = count_429(naive_records)
    naive_machines = min(NAIVE_MACHINES, size.bulk_machines)
    failures = failures_of(stopped) + failures_of(woken)
    peak = max(stopped.peak_in_flight, woken.peak_in_flight)
    machines = size.bulk_machines
    calls = ", ".join(f"{action} {count}" for action, count in sorted(per_action.items()))
    notes = (
        f"{machines} machines through FleetService.bulk_lifecycle, at most {concurrency} in "
        f"flight (peak {peak}); stop took {stop_s:.2f} s, wake {ours_s - stop_s:.2f} s; "
        f"{len(failures)} operations failed" + (f" (first: {failures[0]})" if failures else ""),
        f"bound = {waves} waves × max(platform {stop_floor_s + wake_floor_s:.2f} s = stop "
        f"{timings.stop} + start {timings.start} + check grace {grace_s} s × "
        f"{timings.time_scale}; rate floor {floor_s:.2f} s from our calls per machine and "
        "action)",
        f"our machine-level calls: {calls}; gateway polled every {gateway_poll_s} s; we got "
        f"{ours_429} × 429 in all",
        f"the Fly emulator (one process) was busy {fly_busy_s:.1f} s of our {ours_s:.1f} s",
        f"baseline (naive: no limiter, no retry, all at once, {NAIVE_POLL_S * 1000:.0f} ms "
        f"polling) on {naive_machines} machines took {naive_s:.2f} s, got {naive_429} × 429 "
        f"and failed {naive_failed} of them",
    )
    return [
        Row(
            NAME,
            "wall time (s)",
            ours_s,
            bound_s,
            "lower bound (limits + platform)",
            f"ratio ≤ {MAX_BOUND_RATIO}, no failure",
            ours_s / bound_s <= MAX_BOUND_RATIO and not failures,
            notes,
        ),
        Row(
            NAME,
            "429s received per machine",
            ours_429 / machines,
            naive_429 / naive_machines,
            "naive unlimited client",
            "0 unhandled 429s",
            not any("rate limit" in failure.lower() for failure in failures),
            notes,
        ),
    ]
