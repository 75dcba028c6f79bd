"""`python -m bench.idle_imports`: the memory baseline of scenario 6, an idle bot-sized process.

It imports what `python -m bot run` imports before it starts (the whole bot: runtime, Telegram
layer, fleet service, Fly client, store) and does nothing else, then prints its peak resident
set size in MiB (`VmHWM`). The difference to the running bot is what the bot's data and work cost.
"""

from __future__ import annotations

from pathlib import Path

import telegram.error

import bot.__main__
import bot.runtime
import storage

# Referenced so each import is plainly used.
IMPORTED = (bot.__main__.main, bot.runtime.Runtime, storage.Store, telegram.error.TelegramError)


def main() -> None:
    # VmHWM, not getrusage: Linux carries a parent's peak across fork and exec into
    # ru_maxrss, so a child of a big process would report the parent's peak.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            print(f"{int(line.split()[1]) / 1024:.1f}", flush=True)


if __name__ == "__main__":
    main()
