"""The outside world of one scenario: the Fly and Telegram emulators on loopback.

The Fly emulator runs in its own process (`python -m emulators.fly`), so the bot's work and
Fly's never share a CPU core; the Telegram emulator runs in this process, next to the
drivers that play every person (admins, end users) through its in-process helpers. The bot
runs in this process (fleet-level scenarios) or in its own (whole-bot scenarios). Identities
used everywhere (tokens, app, admins, ops chat) live here. This module never touches the bot.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.procs import child, child_env, process_cpu_s, python_argv
from emulators.fly import FlyTimings
from emulators.telegram import FloodLimits, TelegramEmulator

FLY_TOKEN = "fo1_bench_token_for_the_fly_emulator"
FLY_APP = "agents"
BOT_TOKEN = "5550001:AAbenchTokenForTheTelegramLayer_xyz12"
BOT_ID = 5550001
AGENT_BOT_TOKEN = "7000000001:AAAgentBotTokenForTheBench_abcdefgh"
OPS_CHAT_ID = -1009000
ADMIN_ID = 11
ADMIN = {"id": ADMIN_ID, "first_name": "Ann", "username": "ann"}
ADMIN_2 = {"id": 12, "first_name": "Bob"}
ADMINS = (ADMIN, ADMIN_2)


@dataclass
class World:
    fly_root_url: str
    fly_pid: int
    tg: TelegramEmulator
    http: httpx.AsyncClient
    workdir: Path
    # The Fly emulator's last known exchange number, so reading "what came after" never
    # fetches the whole log (a machine list answer alone can be megabytes).
    _seq_hint: int = 0

    @property
    def fly_base_url(self) -> str:
        """The Machines API base (with `/v1`)."""
        return f"{self.fly_root_url}/v1"

    def fly_cpu_s(self) -> float:
        """CPU seconds the Fly emulator process has used so far."""
        return process_cpu_s(self.fly_pid)

    async def fly_control(self, path: str, body: Any = None) -> Any:
        """POST to the Fly emulator's control API (`/_emulator/...`); the decoded answer."""
        answer = await self.http.post(f"{self.fly_root_url}/_emulator/{path}", json=body)
        answer.raise_for_status()
        return answer.json()

    async def fly_read(self, path: str, params: dict[str, str] | None = None) -> Any:
        answer = await self.http.get(f"{self.fly_root_url}/_emulator/{path}", params=params)
        answer.raise_for_status()
        return answer.json()

    async def fly_rate_limits(self, *, enabled: bool) -> None:
        await self.fly_control("rate-limits", {"enabled": enabled, "reset": True})

    async def fly_requests(self, since: int = 0) -> list[dict[str, Any]]:
        """The Fly emulator's log of Machines/logs API exchanges after `since`."""
        return list(await self.fly_read("requests", {"since": str(since)}))

    async def fly_last_seq(self) -> int:
        """The number of the last exchange so far (0 when none)."""
        records = await self.fly_requests(self._seq_hint)
        if records:
            self._seq_hint = int(records[-1]["seq"])
        return self._seq_hint

    async def fly_made_requests(self, count: int) -> None:
        """Record that exactly `count` exchanges were just made (checked, not trusted)."""
        expected = self._seq_hint + count
        if count > 0:
            records = await self.fly_requests(expected - 1)
            if [int(record["seq"]) for record in records] != [expected]:
                raise RuntimeError("the Fly emulator logged other exchanges than expected")
        self._seq_hint = expected

    async def tg_control(self, path: str, body: Any = None) -> Any:
        answer = await self.http.post(f"{self.tg.root_url}/_emulator/{path}", json=body)
        answer.raise_for_status()
        return answer.json()

    async def open_ops_chat(self, chat_id: int = OPS_CHAT_ID, bot_token: str = BOT_TOKEN) -> None:
        """The ops group exists before the bot starts, as a group the bot was added to."""
        await self.tg_control(
            "chats",
            {"chat": {"id": chat_id, "type": "supergroup", "title": "Ops"}, "bot": bot_token},
        )


@asynccontextmanager
async def open_world(
    workdir: Path, *, fly_timings: FlyTimings, flood_control: bool = True
) -> AsyncIterator[World]:
    """Fresh emulators for one scenario; both stop (and forget everything) on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    argv = python_argv("emulators.fly", "--port", "0", "--token", FLY_TOKEN, "--app", FLY_APP)
    async with child(argv, log_path=workdir / "fly-emulator.log", env=child_env()) as fly:
        fly_root = fly.first_line.removesuffix("/v1")
        http = httpx.AsyncClient(timeout=httpx.Timeout(120.0))
        try:
            answer = await http.post(f"{fly_root}/_emulator/timings", json=fly_timings.as_dict())
            answer.raise_for_status()
            async with TelegramEmulator(flood_limits=FloodLimits(enabled=flood_control)) as tg:
                yield World(
                    fly_root_url=fly_root, fly_pid=fly.pid, tg=tg, http=http, workdir=workdir
                )
        finally:
            await http.aclose()
