"""Scenario 5 — update throughput: `/status` end to end (emulator → PTB → handler → reply).

The bot runs in its own process; `update_users` linked end users each send `/status`, wait for
the reply, and send again (a closed loop), until `updates` replies came back. Every `/status`
reads the store (the caller's agents, then the agent's pairing requests) and answers with the
state the fleet monitor recorded, as it does in production; it makes no Fly call. Throughput is
replies per second over the run; latency is from the moment the update was handed to the
Telegram emulator to the moment the emulator answered the bot's reply.

Telegram's flood control is switched off in the emulator for this scenario, and the bot's own
pacing (1 message/s per private chat, 30 requests/s in all) is lifted: both exist to keep one
bot under Telegram's limits, which cap any bot at about 30 messages a second; this scenario
measures what the bot itself can handle. Baseline, same run, same settings: a python-telegram-
bot application with one handler that echoes the text back (`bench.bot_process` mode `echo`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

from bench import bot_config, fleet_seed
from bench.bot_launch import Mode, bot_process
from bench.fleet_stack import open_store
from bench.report import Row
from bench.sizes import Size
from bench.stats import percentile
from bench.telegram_watch import BotWatch
from bench.world import BOT_TOKEN, World, open_world
from bot.telegram import BotOptions
from emulators.fly import FlyTimings

NAME = "5 update throughput"
TARGET_PER_S = 300.0
FIRST_USER_ID = 500_000
UNPACED = dataclasses.replace(
    BotOptions(),
    private_messages_per_second=10_000.0,
    private_burst=10_000,
    overall_requests_per_second=10_000.0,
)


def user(index: int) -> dict[str, object]:
    return {"id": FIRST_USER_ID + index, "first_name": f"User{index}"}


async def closed_loop(
    world: World, watch: BotWatch, users: int, total: int
) -> tuple[float, list[float]]:
    """Every user sends `/status` and waits for the answer, again, until `total` answers."""
    latencies: list[float] = []
    remaining = total

    async def one_user(index: int) -> None:
        nonlocal remaining
        person = user(index)
        chat_id = int(FIRST_USER_ID + index)
        while remaining > 0:
            remaining -= 1
            reply = watch.expect(chat_id, lambda seen: seen.method == "sendmessage")
            sent_at = time.time()
            world.tg.send_from_user("/status", person, bot=BOT_TOKEN)
            seen = await asyncio.wait_for(reply, timeout=60)
            latencies.append(seen.at - sent_at)

    started = time.perf_counter()
    await asyncio.gather(*(one_user(index) for index in range(users)))
    return time.perf_counter() - started, latencies


async def measure(
    world: World, values: dict[str, str], size: Size, mode: Mode
) -> tuple[float, list[float]]:
    watch = BotWatch.install(world.tg)
    async with bot_process(world.workdir, values, options=UNPACED, mode=mode):
        # One round first, so connections and caches are warm on both sides.
        await closed_loop(world, watch, size.update_users, size.update_users)
        return await closed_loop(world, watch, size.update_users, size.updates)


async def run(size: Size, workdir: Path) -> list[Row]:
    timings = FlyTimings(launch=0.0, start=0.0, gateway_boot=0.0)
    async with open_world(workdir, fly_timings=timings, flood_control=False) as world:
        db_path = workdir / "bot.db"
        async with open_store(db_path) as store:
            user_ids = [FIRST_USER_ID + index for index in range(size.update_users)]
            await fleet_seed.running_fleet(
                world, store, size.update_users, telegram_user_ids=user_ids
            )
        await world.fly_rate_limits(enabled=True)
        values = bot_config.settings_values(world, db_path)
        ours_s, ours = await measure(world, values, size, "bot")
        echo_s, echo = await measure(world, values, size, "echo")

    ours_rate = size.updates / ours_s
    echo_rate = size.updates / echo_s
    notes = (
        f"{size.updates} × /status from {size.update_users} users at once (closed loop); "
        "each reads the store (own agents, pairing requests) and answers with the state the "
        "monitor recorded, no Fly call",
        "Telegram emulator flood control OFF and the bot's own per-chat and global pacing "
        "lifted for this scenario (Telegram itself would cap a bot near 30 messages/s)",
        f"ours {len(ours)} and echo {len(echo)} latency samples",
    )
    return [
        Row(
            NAME,
            "updates handled per second",
            ours_rate,
            echo_rate,
            "PTB echo handler",
            f"≥ {TARGET_PER_S:.0f}/s",
            ours_rate >= TARGET_PER_S,
            notes,
        ),
        Row(
            NAME,
            "p50 latency (ms)",
            percentile(ours, 0.5) * 1000,
            percentile(echo, 0.5) * 1000,
            "PTB echo handler",
            "",
            None,
            notes,
        ),
        Row(
            NAME,
            "p99 latency (ms)",
            percentile(ours, 0.99) * 1000,
            percentile(echo, 0.99) * 1000,
            "PTB echo handler",
            "",
            None,
            notes,
        ),
    ]
