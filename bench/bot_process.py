"""`python -m bench.bot_process CONFIG.json`: the bot, or a trivial echo bot, in its own process.

Whole-bot scenarios run the bot here so it has a CPU core of its own, apart from the emulators
and the drivers in the bench process. Mode `bot` is `bot.runtime.Runtime`, exactly what
`python -m bot run` starts, except that the bench passes the tunables `python -m bot run` reads
only from code (`BotOptions`, `FleetTimings`, the Fly client's limits). Mode `echo` is the
baseline of scenario 5: python-telegram-bot with the same builder settings and one handler
that replies with the text it got. Prints `ready` once serving; stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import ContextTypes, MessageHandler, filters

from bot.fleet.defaults import FleetTimings
from bot.runtime import Runtime, configure_logging, load_run_settings
from bot.telegram import BotOptions
from bot.telegram.app import application_builder
from flyclient import RateLimits


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is not None and message.text:
        await message.reply_text(message.text)


async def serve_bot(config: dict[str, Any], stop: asyncio.Event) -> None:
    settings = load_run_settings(**config["settings"])
    configure_logging(settings)
    timings = config.get("fleet_timings")
    runtime = Runtime(
        settings,
        fleet_timings=FleetTimings(**timings) if timings else None,
        fly_rate_limits=RateLimits.disabled() if config.get("fly_limiter") == "off" else None,
        options=BotOptions(**config["options"]),
    )
    await runtime.start()
    try:
        print("ready", flush=True)
        await stop.wait()
    finally:
        await runtime.stop()


async def serve_echo(config: dict[str, Any], stop: asyncio.Event) -> None:
    settings = config["settings"]
    options = BotOptions(**config["options"])
    # The bot's own builder (same request class, pool, rate limiter and concurrency), so the
    # baseline differs from the bot only in what its one handler does.
    application = application_builder(
        token=settings["FLYAGENTS_TELEGRAM_TOKEN"],
        api_root=settings["FLYAGENTS_TELEGRAM_API_URL"],
        options=options,
    ).build()
    application.add_handler(MessageHandler(filters.TEXT, echo))
    await application.initialize()
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(
        poll_interval=0,
        timeout=int(options.poll_timeout_s),
        allowed_updates=["message", "callback_query"],
    )
    try:
        print("ready", flush=True)
        await stop.wait()
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()


async def serve(config: dict[str, Any]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if config["mode"] == "echo":
        await serve_echo(config, stop)
    else:
        await serve_bot(config, stop)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m bench.bot_process CONFIG.json", file=sys.stderr)
        return 2
    asyncio.run(serve(json.loads(Path(argv[0]).read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
