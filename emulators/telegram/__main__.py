"""Command line: run the Telegram Bot API emulator until SIGINT or SIGTERM.

`python -m emulators.telegram --port 0 [--host 127.0.0.1] [--no-flood-control]` prints
the root URL (`http://127.0.0.1:PORT`) as the first line of stdout, flushed, then serves.
It never reads configuration from anywhere but its arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from .flood import FloodLimits
from .server import DEFAULT_CALLBACK_ANSWER_WINDOW, TelegramEmulator


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m emulators.telegram", description="Local Telegram Bot API emulator"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--no-flood-control",
        action="store_true",
        help="start with Telegram's flood control switched off",
    )
    parser.add_argument(
        "--callback-answer-window",
        type=float,
        default=DEFAULT_CALLBACK_ANSWER_WINDOW,
        help="seconds a callback query can be answered in",
    )
    return parser.parse_args(argv)


async def _serve(arguments: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
    emulator = TelegramEmulator(
        arguments.host,
        arguments.port,
        flood_limits=FloodLimits(enabled=not arguments.no_flood_control),
        callback_answer_window=arguments.callback_answer_window,
    )
    async with emulator:
        sys.stdout.write(f"{emulator.root_url}\n")
        sys.stdout.flush()
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(_arguments(argv)))


if __name__ == "__main__":
    main()
