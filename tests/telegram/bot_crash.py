"""The whole bot in a process of its own, to be killed with SIGKILL where a crash is the point.

The process is `python -m bench.bot_process CONFIG.json`: `bot.runtime.Runtime`, exactly what
`python -m bot run` starts, with the test tunables (tiny fleet timings, `BotOptions.for_tests`).
Two processes started with the same `CrashableBot` settings share the SQLite file and the vault
key, as a restart of the real bot does. The emulators run in the test process; users act
through the Telegram emulator's control API, as in `tg_harness`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tg_harness import (
    ADMIN,
    AGENT_BOT_TOKEN,
    BOT_TOKEN,
    FLY_TOKEN,
    OPS_CHAT,
    harness_driver,
    prepare_world,
    tiny_fleet_timings,
)

from bot.demo.driver import BotDriver
from bot.telegram import BotOptions
from emulators.fly import FlyEmulator
from emulators.telegram import TelegramEmulator
from storage import VaultKeyring

REPO = Path(__file__).resolve().parents[2]


@dataclass
class CrashableBot:
    tg: TelegramEmulator
    fly: FlyEmulator
    workdir: Path
    tg_http: httpx.AsyncClient
    fly_http: httpx.AsyncClient
    vault_key: str = field(default_factory=VaultKeyring.generate_env_value)
    process: asyncio.subprocess.Process | None = None
    runs: int = 0
    # No runtime in this process: the driver sends and reads, it cannot wait for idleness.
    driver: BotDriver = field(init=False)

    def __post_init__(self) -> None:
        self.driver = harness_driver(self.tg, self.tg_http, self.fly_http)

    @property
    def db_path(self) -> Path:
        return self.workdir / "bot.db"

    def settings(self) -> dict[str, Any]:
        return {
            "FLYAGENTS_TELEGRAM_TOKEN": BOT_TOKEN,
            "FLYAGENTS_TELEGRAM_API_URL": self.tg.root_url,
            "FLYAGENTS_ADMIN_IDS": str(ADMIN["id"]),
            "FLYAGENTS_OPS_CHAT_ID": OPS_CHAT,
            "FLYAGENTS_DB_PATH": str(self.db_path),
            "FLYAGENTS_HEARTBEAT_PATH": str(self.workdir / "heartbeat"),
            "AGENT_SECRETS_ENCRYPTION_KEY": self.vault_key,
            "FLY_API_TOKEN": FLY_TOKEN,
            "FLY_APP_NAME": "agents",
            "FLYAGENTS_FLY_API_URL": self.fly.base_url,
            "FLYAGENTS_FLY_LOGS_URL": self.fly.root_url,
            "AGENT_BRIDGE_URL": "https://bridge.example.com",
            "OPENCLAW_SERVICE_ID": "svc-1",
            "OPENCLAW_SERVICE_KEY": "service-key-secret",
            "LLM_API_KEY": "sk-llm-key-for-tests-0000000000",
            "OPENCLAW_STARTUP_TIMEOUT_SEC": 5,
            "FLYAGENTS_EXEC_TIMEOUT_SEC": 10,
            "FLYAGENTS_MONITOR_INTERVAL_SEC": 3600,
        }

    async def start(self) -> None:
        """Start the bot process and wait until it serves."""
        assert self.process is None
        self.runs += 1
        config = self.workdir / "bot-config.json"
        config.write_text(
            json.dumps(
                {
                    "mode": "bot",
                    "settings": self.settings(),
                    "fleet_timings": dataclasses.asdict(tiny_fleet_timings()),
                    "fly_limiter": "off",
                    "options": dataclasses.asdict(BotOptions.for_tests()),
                }
            )
        )
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        log = (self.workdir / f"bot-{self.runs}.log").open("wb")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.bot_process",
            str(config),
            cwd=self.workdir,  # no stray .env
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
        )
        assert self.process.stdout is not None
        async with asyncio.timeout(60):
            line = await self.process.stdout.readline()
        assert line.strip() == b"ready", f"bot did not start: {line!r} (see {log.name})"

    async def kill(self) -> None:
        """SIGKILL: no shutdown code of the bot runs."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        self.process = None

    async def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(20):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
            self.process = None

    # --- the users' side ------------------------------------------------------------------

    async def send(
        self, user: dict[str, Any], text: str, chat: dict[str, Any] | None = None
    ) -> int:
        return await self.driver.send(user, text, chat=chat)

    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        return [m for m in self.tg.messages(chat_id, bot=BOT_TOKEN) if m["from"]["is_bot"]]

    async def reply_to(self, chat_id: int, after: int, text: str, timeout: float = 30) -> Any:
        return await self.driver.reply_to(chat_id, after, text, timeout)

    async def store_agent_token(self, tenant: str = "acme", user: str = "alice") -> None:
        sent = await self.send(
            ADMIN, f"/secret {tenant}/{user} TELEGRAM_BOT_TOKEN={AGENT_BOT_TOKEN}"
        )
        await self.reply_to(ADMIN["id"], sent, "Stored")

    # --- Fly ------------------------------------------------------------------------------

    async def fly_fault(self, rule: dict[str, Any]) -> None:
        await self.driver.fly_fault(rule)

    async def in_flight(self, method: str, path_end: str) -> bool:
        answer = await self.fly_http.get("/_emulator/requests/in-flight")
        return any(r["method"] == method and r["path"].endswith(path_end) for r in answer.json())

    async def answered(self, method: str, path_end: str) -> int:
        answer = await self.fly_http.get("/_emulator/requests")
        return sum(
            1 for r in answer.json() if r["method"] == method and r["path"].endswith(path_end)
        )

    async def live(self, kind: str) -> list[dict[str, Any]]:
        state = (await self.fly_http.get("/_emulator/state")).json()
        return [
            item
            for app in state["apps"]
            if app["name"] == "agents"
            for item in app[kind]
            if item.get("state") not in ("destroyed", "destroying")
        ]


async def open_world(tg: TelegramEmulator, fly: FlyEmulator, workdir: Path) -> CrashableBot:
    """The ops group exists and Fly's rate limits are off (as `tg_harness.start_bot` does)."""
    tg_http = httpx.AsyncClient(base_url=tg.root_url, timeout=10)
    fly_http = httpx.AsyncClient(base_url=fly.root_url, timeout=10)
    world = CrashableBot(tg, fly, workdir, tg_http, fly_http)
    await prepare_world(world.driver)
    return world
