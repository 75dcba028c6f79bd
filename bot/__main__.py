"""`python -m bot <command>`: the bot's command line, a small dispatcher of subcommands.

`run` starts the bot (settings from the environment and an optional `.env`). A missing or
malformed setting stops it before anything starts, with one message listing every problem
and exit status 2 (`check` lists them too, with the same exit status). `demo` plays the whole
story offline against the emulators (with `--real-openclaw`, the pairing story on the
installed real OpenClaw runtime, or how to install it and exit status 2) and `console` opens
the same world for typing (both need no settings).
Each subcommand is one function in `SUBCOMMANDS`, its own options in `OPTIONS`. This module
parses arguments and dispatches; it holds no logic of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence

from bot.settings import SettingsError

EXIT_SETTINGS = 2
EXIT_START = 1


def run(arguments: argparse.Namespace) -> int:
    from telegram.error import InvalidToken, TelegramError

    from bot.runtime import Runtime, configure_logging, load_run_settings
    from storage import StorageError

    try:
        settings = load_run_settings()
    except SettingsError as error:
        print(error, file=sys.stderr)
        return EXIT_SETTINGS
    configure_logging(settings)
    try:
        asyncio.run(Runtime(settings).serve())
    except InvalidToken:
        # PTB's own message repeats the token; this one does not.
        print("Telegram refused FLYAGENTS_TELEGRAM_TOKEN.", file=sys.stderr)
        return EXIT_START
    except (TelegramError, StorageError, OSError) as error:
        print(f"The bot could not start: {error}", file=sys.stderr)
        return EXIT_START
    return 0


def check(arguments: argparse.Namespace) -> int:
    from bot.check import run_checks

    lines = asyncio.run(run_checks())
    for line in lines:
        print(line.render())
    if any(line.what == "settings" and not line.ok for line in lines):
        return EXIT_SETTINGS
    return 0 if all(line.ok for line in lines) else 1


def health(arguments: argparse.Namespace) -> int:
    from bot.health import healthy
    from bot.settings import load_settings

    try:
        settings = load_settings()
    except SettingsError as error:
        print(error, file=sys.stderr)
        return EXIT_SETTINGS
    ok, detail = healthy(settings.heartbeat_path)
    print(detail)
    return 0 if ok else 1


def rotate_keys(arguments: argparse.Namespace) -> int:
    from bot.rotate_keys import rotate_keys as rotate
    from storage.errors import VaultError

    try:
        report = asyncio.run(rotate())
    except SettingsError as error:
        print(error, file=sys.stderr)
        return EXIT_SETTINGS
    except VaultError as error:
        print(f"Rotation failed: {error}", file=sys.stderr)
        return 1
    print(
        f"Re-encrypted {report.re_encrypted} secret(s) under key {report.current_key_id}; "
        f"{report.already_current} were already under it. Older keys can now be removed."
    )
    return 0


def demo(arguments: argparse.Namespace) -> int:
    if arguments.real_openclaw:
        from bot.demo.real_story import main as play_real_demo

        return play_real_demo(verbose=arguments.verbose)
    from bot.demo.story import main as play_demo

    return play_demo(verbose=arguments.verbose)


def console(arguments: argparse.Namespace) -> int:
    from bot.demo.console import main as open_console

    return open_console(verbose=arguments.verbose)


def _demo_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--real-openclaw",
        action="store_true",
        help="tell the pairing story on the real OpenClaw runtime "
        "(installed by scripts/install-openclaw.sh; see the README)",
    )
    command.add_argument("--verbose", action="store_true", help="show the bot's logs on stderr")


def _console_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--verbose", action="store_true", help="show the bot's logs on stderr")


SUBCOMMANDS: dict[str, tuple[str, Callable[[argparse.Namespace], int]]] = {
    "run": ("run the bot (long polling, or a webhook when FLYAGENTS_WEBHOOK_URL is set)", run),
    "check": ("check the settings and that Telegram and Fly answer; name every problem", check),
    "health": ("exit 0 if the running bot's heartbeat is recent (container HEALTHCHECK)", health),
    "rotate-keys": ("re-encrypt every stored secret under the current vault key", rotate_keys),
    "demo": ("play the whole story offline against local emulators, with a transcript", demo),
    "console": ("the demo's world, interactive: type as the admin or an end user", console),
}
OPTIONS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "demo": _demo_options,
    "console": _console_options,
}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m bot", description="The fly-agents bot.")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (summary, _) in SUBCOMMANDS.items():
        command = commands.add_parser(name, help=summary, description=summary)
        configure = OPTIONS.get(name)
        if configure is not None:
            configure(command)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    _, handler = SUBCOMMANDS[arguments.command]
    return handler(arguments)


if __name__ == "__main__":
    sys.exit(main())
