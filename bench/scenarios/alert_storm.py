"""Scenario 4 — alert storm: N machine failures within a few seconds, told to the ops chat.

N running agents; the bot runs in its own process with production settings (the ops chat a
group, Telegram's flood control on, the bot's ops budget of 20 messages a minute), the
monitor sweeping every `MONITOR_INTERVAL_S`. The bench crashes the N machines through the
Fly emulator's fault API (`crash` to `failed`, no automatic restart) in batches spread over
`alert_failure_window_s`, then watches the ops chat for `alert_watch_s` (at least a minute,
so a whole window of Telegram's group limit is seen) or until every failure is named.

Checked: ops-chat messages in the busiest 60 s (target ≤ 20); each failed machine named
(its id, or the id of the agent it runs, appears in a message Telegram accepted: digests list
agent ids, which the commands take) or still pending in the bot's outbox; none lost (neither).
Baseline, same run and same window: a naive sender — a second bot with its own group, one
message per failure as it happens, waiting out every 429 and resending (so nothing is lost).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from bench import bot_config, fleet_seed
from bench.bot_launch import bot_process
from bench.fleet_stack import open_store
from bench.report import Row
from bench.scenarios.memory import sweeps_logged
from bench.sizes import Size
from bench.stats import busiest_window
from bench.telegram_watch import BotWatch
from bench.world import BOT_ID, OPS_CHAT_ID, World, open_world
from bot.telegram import BotOptions
from emulators.fly import FlyTimings
from storage import AlertStatus

NAME = "4 alert storm"
GROUP_LIMIT_PER_MIN = 20
MONITOR_INTERVAL_S = 2
CRASH_BATCHES = 10
ALERT_KIND = "machine_unexpected_failed"
NAIVE_BOT_TOKEN = "5550002:AAnaiveAlertSenderForTheBench_abcdef"
NAIVE_CHAT_ID = -1009001


class NaiveSender:
    """One message per failure, in order; waits out each 429 and resends the same message."""

    def __init__(self, world: World) -> None:
        self._url = f"{world.tg.root_url}/bot{NAIVE_BOT_TOKEN}/sendMessage"
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self.sent_at: list[float] = []
        self.named: set[str] = set()
        self.refused = 0
        self._sending: str | None = None

    @property
    def pending(self) -> int:
        """Failures told to the sender and not sent yet (kept, not lost)."""
        return self._queue.qsize() + (1 if self._sending is not None else 0)

    def failed(self, machine_id: str) -> None:
        self._queue.put_nowait(machine_id)

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            while True:
                machine_id = self._sending = await self._queue.get()
                text = f"Machine {machine_id} failed although nobody stopped it."
                while True:
                    answer = await http.post(
                        self._url, json={"chat_id": NAIVE_CHAT_ID, "text": text}
                    )
                    if answer.status_code == 200:
                        break
                    self.refused += 1
                    retry_after = answer.json().get("parameters", {}).get("retry_after", 1)
                    await asyncio.sleep(float(retry_after))
                self.sent_at.append(time.time())
                self.named.add(machine_id)
                self._sending = None


def named_in(texts: Sequence[str], names: Mapping[str, Sequence[str]]) -> set[str]:
    """The machines (keys of `names`) one of whose identifiers appears in one of `texts`."""
    everything = "\n".join(texts)
    return {
        machine_id
        for machine_id, identifiers in names.items()
        if any(identifier in everything for identifier in identifiers)
    }


async def crash_all(
    world: World, machine_ids: Sequence[str], window_s: float, naive: NaiveSender
) -> None:
    per_batch = math.ceil(len(machine_ids) / CRASH_BATCHES)
    for start in range(0, len(machine_ids), per_batch):
        batch = machine_ids[start : start + per_batch]
        rules: list[dict[str, Any]] = [
            {"crash": {"machine_id": machine_id, "to": "failed", "auto_restart": False}}
            for machine_id in batch
        ]
        await world.fly_control("faults", {"rules": rules})
        for machine_id in batch:
            naive.failed(machine_id)
        await asyncio.sleep(window_s / CRASH_BATCHES)


async def run(size: Size, workdir: Path) -> list[Row]:
    failures = size.alert_failures
    timings = FlyTimings(launch=0.0, start=0.0, gateway_boot=0.0)
    async with open_world(workdir, fly_timings=timings, flood_control=True) as world:
        db_path = workdir / "bot.db"
        async with open_store(db_path) as store:
            agents = await fleet_seed.running_fleet(world, store, failures)
        machine_ids = [str(agent.machine_id) for agent in agents]
        # A failure is named by its machine id or by its agent's id (both are unique ids).
        names = {str(agent.machine_id): (str(agent.machine_id), agent.id) for agent in agents}
        await world.fly_rate_limits(enabled=True)
        await world.open_ops_chat()
        await world.open_ops_chat(NAIVE_CHAT_ID, NAIVE_BOT_TOKEN)
        watch = BotWatch.install(world.tg)
        values = bot_config.settings_values(
            world,
            db_path,
            FLYAGENTS_MONITOR_INTERVAL_SEC=MONITOR_INTERVAL_S,
            FLYAGENTS_LOG_LEVEL="INFO",
        )
        log = workdir / "bot-bot.log"
        naive = NaiveSender(world)
        async with bot_process(workdir, values, options=BotOptions()):
            async with asyncio.timeout(120):
                while sweeps_logged(log, failures) < 1:
                    await asyncio.sleep(0.1)
            naive_task = asyncio.create_task(naive.run())
            first_crash = time.time()
            await crash_all(world, machine_ids, size.alert_failure_window_s, naive)
            deadline = first_crash + size.alert_watch_s
            while time.time() < deadline:
                texts = [seen.text for seen in watch.sent_to(OPS_CHAT_ID)]
                if len(named_in(texts, names)) == failures:
                    break
                await asyncio.sleep(0.5)
            watched_s = time.time() - first_crash
            naive_task.cancel()
        ours = [seen for seen in watch.sent_to(OPS_CHAT_ID) if seen.at >= first_crash]
        ours_429 = watch.refusals(BOT_ID, 429)
        async with open_store(db_path) as store:
            alerts = await store.outbox.recent(kind=ALERT_KIND, limit=10 * failures + 10)

    named = named_in([seen.text for seen in ours], names)
    pending = {
        str(alert.payload.get("machine_id"))
        for alert in alerts
        if alert.status is AlertStatus.PENDING
    }
    lost = set(machine_ids) - named - pending
    ours_busiest = busiest_window([seen.at for seen in ours], 60.0)
    naive_busiest = busiest_window(naive.sent_at, 60.0)
    per_message = len(named) / len(ours) if ours else 0.0
    remaining_minutes = (
        math.ceil(len(pending - named) / per_message) / GROUP_LIMIT_PER_MIN
        if per_message
        else math.inf
    )
    # When each message went (seconds after the first crash) and how many failures it named.
    timeline = " ".join(
        f"+{seen.at - first_crash:.1f}s:{len(named_in([seen.text], names))}" for seen in ours
    )
    notes = (
        f"{failures} machines crashed within {size.alert_failure_window_s:.0f} s; watched "
        f"{watched_s:.0f} s; monitor every {MONITOR_INTERVAL_S} s; production BotOptions and "
        "Telegram flood control on",
        f"ours: {len(ours)} messages naming {len(named)} failures ({per_message:.1f} per "
        f"message), {len(pending)} still pending in the outbox ({len(pending - named)} of "
        f"them not named yet), {len(lost)} lost, "
        f"{ours_429} × 429 from Telegram; at this pace the rest needs "
        f"{remaining_minutes:.1f} more minutes",
        f"ours, each message as +seconds after the first crash:failures named: {timeline}",
        f"naive sender (own bot and group): {len(naive.sent_at)} messages, {naive.refused} × "
        f"429, {len(naive.named)} failures named; all {failures} need {failures} messages = "
        f"{failures / GROUP_LIMIT_PER_MIN:.0f} minutes at Telegram's limit",
    )
    return [
        Row(
            NAME,
            "ops messages in the busiest minute",
            ours_busiest,
            naive_busiest,
            "naive one message per failure",
            f"≤ {GROUP_LIMIT_PER_MIN}",
            ours_busiest <= GROUP_LIMIT_PER_MIN,
            notes,
        ),
        Row(
            NAME,
            f"failures named within the watch ({failures} failed)",
            len(named),
            len(naive.named),
            "naive one message per failure",
            f"all {failures}",
            len(named) == failures,
            notes,
        ),
        Row(
            NAME,
            "failures lost (neither named nor pending)",
            len(lost),
            len(set(machine_ids) - naive.named) - naive.pending,
            "naive one message per failure",
            "0",
            not lost,
            notes,
        ),
    ]
