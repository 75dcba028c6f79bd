"""Start the bot (or the echo baseline) in its own process for one scenario, and stop it after.

The configuration goes to `bench.bot_process` as a JSON file in the scenario's folder; the
bot's log goes next to it (`bot-<mode>.log`). The child runs in that folder, so no stray
`.env` of the caller's working directory is read.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

from bench.procs import Child, ChildFailed, child, child_env, python_argv
from bot.fleet.defaults import FleetTimings
from bot.telegram import BotOptions

Mode = Literal["bot", "echo"]


@asynccontextmanager
async def bot_process(
    workdir: Path,
    settings_values: dict[str, str],
    *,
    options: BotOptions,
    fleet_timings: FleetTimings | None = None,
    fly_limiter: bool = True,
    mode: Mode = "bot",
) -> AsyncIterator[Child]:
    config = {
        "mode": mode,
        "settings": settings_values,
        "options": dataclasses.asdict(options),
        "fleet_timings": dataclasses.asdict(fleet_timings) if fleet_timings else None,
        "fly_limiter": "on" if fly_limiter else "off",
    }
    path = workdir / f"bot-{mode}.json"
    path.write_text(json.dumps(config))
    argv = python_argv("bench.bot_process", str(path))
    async with child(
        argv, log_path=workdir / f"bot-{mode}.log", env=child_env(), cwd=workdir
    ) as running:
        if running.first_line != "ready":
            raise ChildFailed(f"the bot said {running.first_line!r}:\n{running.log_tail()}")
        yield running
