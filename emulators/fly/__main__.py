"""Command line: run the Fly emulator until SIGINT/SIGTERM.

`python -m emulators.fly --port 0 [--host 127.0.0.1] [--token T] [--app NAME]...
[--app-token APP=TOKEN]... [--openclaw-dir /app] [--openclaw PATH/TO/openclaw.mjs
[--node PATH] --telegram-api-root URL]` prints the Machines API base URL
(`http://127.0.0.1:PORT/v1`) as the first line of stdout, flushed, then serves.
`--openclaw` runs the real OpenClaw runtime in every machine (see
`emulators.fly.real_openclaw`); without it OpenClaw is simulated. Uses the
default (brisk but realistic) timings. Never prints a token.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from .emulator import FlyEmulator
from .real_openclaw import DEFAULT_APP_DIR, RealOpenClawError


def _app_token(raw: str) -> tuple[str, str]:
    app, sep, token = raw.partition("=")
    if not sep or not app or not token:
        raise argparse.ArgumentTypeError("expected APP=TOKEN")
    return app, token


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m emulators.fly",
        description="Emulated Fly Machines API (and logs API) on a loopback port.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", default=None, help="the only token accepted (every app)")
    parser.add_argument(
        "--app", action="append", default=[], help="app created up front (repeatable)"
    )
    parser.add_argument(
        "--app-token",
        action="append",
        default=[],
        type=_app_token,
        help="APP=TOKEN: a token valid only for that app (repeatable)",
    )
    parser.add_argument(
        "--openclaw-dir",
        default=DEFAULT_APP_DIR,
        help="the image's folder holding openclaw.mjs (where exec'd commands cd)",
    )
    real = parser.add_argument_group("real OpenClaw mode")
    real.add_argument(
        "--openclaw",
        type=Path,
        default=None,
        metavar="PATH",
        help="openclaw.mjs of an installed OpenClaw: machines run it for real",
    )
    real.add_argument(
        "--node",
        type=Path,
        default=None,
        metavar="PATH",
        help="the Node 24 binary (default: the one installed next to OpenClaw, else PATH)",
    )
    real.add_argument(
        "--telegram-api-root",
        default=None,
        metavar="URL",
        help="Bot API root the machines' gateways poll (e.g. the Telegram emulator's URL)",
    )
    args = parser.parse_args(argv)
    if args.openclaw is None and (args.node is not None or args.telegram_api_root):
        parser.error("--node and --telegram-api-root need --openclaw")
    if args.openclaw is not None and not args.telegram_api_root:
        parser.error("--openclaw needs --telegram-api-root URL")
    return args


async def serve(args: argparse.Namespace) -> None:
    app_tokens = dict(args.app_token)
    apps = list(dict.fromkeys([*args.app, *app_tokens]))
    try:
        emulator = FlyEmulator(
            token=args.token,
            apps=tuple(apps) if apps else ("agents",),
            app_tokens=app_tokens,
            host=args.host,
            port=args.port,
            openclaw=args.openclaw,
            node=args.node,
            telegram_api_root=args.telegram_api_root,
            openclaw_dir=args.openclaw_dir,
        )
    except RealOpenClawError as error:
        sys.stderr.write(f"python -m emulators.fly: {error}\n")
        raise SystemExit(2) from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await emulator.start()
    try:
        sys.stdout.write(emulator.base_url + "\n")
        sys.stdout.flush()
        await stop.wait()
    finally:
        await emulator.stop()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
