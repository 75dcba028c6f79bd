"""Scenario 7 — admin reply latency during a stranger's flood (issue 14, defect 3).

A stranger (no admin, no linked agent) sends `flood_messages` messages — commands and plain
text, half in their private chat and half in the ops group — in `flood_admin_commands` equal
bursts, each handed to Telegram at once; right behind each burst an admin sends `/list` in
their private chat and waits for the answer, then a second (`THINK_S`: Telegram lets a bot
send about one message a second in one chat, so a faster admin would only measure the bot's
own per-chat pacing). Latency is from the moment the admin's update was handed to the Telegram
emulator to the moment the emulator answered the bot's reply. The fleet has `FLEET` running
agents, so `/list` reads and renders something real.

Everything runs as in production: Telegram's flood control on in the emulator, the bot's own
pacing (1 message/s per private chat, 20 a minute in the ops group, 30 requests/s) and its
default `BotOptions`. Baseline, same run, same bot process: the same admin commands before the
flood. Target: p99 under 2 s during the flood. The stranger's refusals are counted too (one
per person and window is the design; before it, each message got its own).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bench import bot_config, fleet_seed
from bench.bot_launch import bot_process
from bench.fleet_stack import open_store
from bench.report import Row
from bench.sizes import Size
from bench.stats import percentile
from bench.telegram_watch import BotWatch
from bench.world import ADMIN, ADMIN_ID, BOT_TOKEN, OPS_CHAT_ID, World, open_world
from bot.telegram import BotOptions
from emulators.fly import FlyTimings

NAME = "7 stranger flood"
TARGET_P99_S = 2.0
FLEET = 20
THINK_S = 1.0
STRANGER_ID = 4_000_004
STRANGER = {"id": STRANGER_ID, "first_name": "Sam"}
OPS_CHAT = {"id": OPS_CHAT_ID, "type": "supergroup", "title": "Ops"}
FLOOD_TEXTS = ("/list", "hello", "/provision tenant=evil user=x", "/tenant add evil", "F864XLAV")


async def admin_commands(
    world: World, watch: BotWatch, count: int, flood_messages: int = 0
) -> list[float]:
    """The admin sends `/list` and waits for the answer, `count` times, each right behind a
    burst of the stranger's flood (if any); the latencies (s)."""
    latencies: list[float] = []
    sent_by_stranger = 0
    for index in range(count):
        burst_end = flood_messages * (index + 1) // count
        flood(world, sent_by_stranger, burst_end)
        sent_by_stranger = burst_end
        reply = watch.expect(ADMIN_ID, lambda seen: seen.method == "sendmessage")
        sent_at = time.time()
        world.tg.send_from_user("/list", ADMIN, bot=BOT_TOKEN)
        seen = await asyncio.wait_for(reply, timeout=600)
        latencies.append(seen.at - sent_at)
        await asyncio.sleep(THINK_S)
    return latencies


def flood(world: World, first: int, end: int) -> None:
    """The stranger's messages `first` to `end` - 1, all handed to Telegram at once."""
    for index in range(first, end):
        text = FLOOD_TEXTS[index % len(FLOOD_TEXTS)]
        chat = OPS_CHAT if index % 2 else None
        world.tg.send_from_user(text, STRANGER, chat=chat, bot=BOT_TOKEN)


async def run(size: Size, workdir: Path) -> list[Row]:
    timings = FlyTimings(launch=0.0, start=0.0, gateway_boot=0.0)
    async with open_world(workdir, fly_timings=timings, flood_control=True) as world:
        await world.open_ops_chat()
        db_path = workdir / "bot.db"
        async with open_store(db_path) as store:
            await fleet_seed.running_fleet(world, store, FLEET)
        await world.fly_rate_limits(enabled=True)
        values = bot_config.settings_values(world, db_path)
        watch = BotWatch.install(world.tg)
        async with bot_process(world.workdir, values, options=BotOptions()):
            # One command first, so connections and caches are warm (and the admin's menu set).
            await admin_commands(world, watch, 1)
            quiet = await admin_commands(world, watch, size.flood_admin_commands)
            during = await admin_commands(
                world, watch, size.flood_admin_commands, size.flood_messages
            )
            refusals_private = len(watch.sent_to(STRANGER_ID))
            refusals_ops = len(watch.sent_to(OPS_CHAT_ID))

    notes = (
        f"{size.flood_messages} messages from one stranger (half in their private chat, half "
        f"in the ops group) in {size.flood_admin_commands} bursts, each burst followed at once "
        f"by /list from an admin in private (then {THINK_S:g} s); {FLEET} running agents",
        "production settings: Telegram emulator flood control ON, the bot's default "
        "BotOptions (per-chat and ops-group pacing on)",
        f"refusals the stranger got by the end of the admin's commands: {refusals_private} in "
        f"private, {refusals_ops} in the ops group",
    )
    baseline_is = "same commands, no flood"
    return [
        Row(
            NAME,
            f"p99 admin reply latency during a {size.flood_messages}-message flood (s)",
            percentile(during, 0.99),
            percentile(quiet, 0.99),
            baseline_is,
            f"< {TARGET_P99_S:g} s",
            percentile(during, 0.99) < TARGET_P99_S,
            notes,
        ),
        Row(
            NAME,
            "p50 admin reply latency (s)",
            percentile(during, 0.5),
            percentile(quiet, 0.5),
            baseline_is,
            "",
            None,
            notes,
        ),
    ]
