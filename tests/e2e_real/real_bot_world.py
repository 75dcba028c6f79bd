"""The whole bot against the real OpenClaw runtime (no tests here).

`real_world` runs the Telegram emulator and the Fly emulator in real-OpenClaw mode (through
`openclaw_real_support.running_fleet`, which checks both emulators' traffic against the specs
at the end) and `RealWorld.start_bot` runs the real `bot.runtime.Runtime` against them, as
`python -m bot run` would, with a SQLite file that outlives a bot restart. Everything is driven
the way people would: admins and end users write to our bot and press its buttons through the
Telegram emulator's control API, an end user DMs the agent's own bot (which the real gateway
polls), and what the bots said is read back from the emulator's chats. The only direct
Machines API calls are an operator's own (`config get` on a machine, a machine update).

The timings are the real runtime's: CLI runs take seconds, a gateway boots in 8–30 s. Waits
bound how long something may take; they never assert how long it took. Nothing is mocked.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from openclaw_real_support import OpenClawRuntime, RealFleet, running_fleet
from tg_harness import (
    ADMIN,
    AGENT_ID_RE,
    BOT_TOKEN,
    INVITE_RE,
    OPS_CHAT,
    BotHarness,
    run_settings,
    unpaced_options,
    until,
)

from bot.fleet.defaults import FleetTimings
from bot.runtime import Runtime
from flyclient import RateLimits, RetryPolicy
from storage import VaultKeyring

AGENT_MODEL = "anthropic/claude-sonnet-4-5"
"""Not an `openai/…` model: with one as the default every CLI run tries to install a plugin."""
PAIRING_MESSAGE_START = "OpenClaw: access not configured."
PROVISION_DEADLINE_S = 240.0
CLI_DEADLINE_S = 120.0
"""A pairing (`pairing list`, maybe `config set`, `pairing approve`) on a busy host."""

REAL_FLEET_TIMINGS = FleetTimings(
    gateway_poll_s=0.5,
    wait_slice_s=5,
    snapshot_poll_s=0.2,
    stop_deadline_s=60,
    start_deadline_s=60,
)


def agent_bot_token(number: int) -> str:
    """The token of an agent's own Telegram bot (each token is a bot of its own)."""
    return f"{7100000000 + number}:AAAgentBotOfTheRealE2eTests_{number:04d}xyz"


def agent_bot_user(token: str) -> dict[str, Any]:
    """The agent's bot as Telegram names it in a forwarded message's origin."""
    bot_id = int(token.split(":", 1)[0])
    return {
        "id": bot_id,
        "is_bot": True,
        "first_name": f"Bot {bot_id}",
        "username": f"bot{bot_id}_bot",
    }


@dataclass(frozen=True)
class Provisioned:
    agent_id: str
    machine_id: str
    invite: str
    agent_token: str
    reply: str
    """The admin's provisioning message as it ended."""


@dataclass
class RealWorld:
    fleet: RealFleet
    folder: Path
    bot: BotHarness | None = None
    # One vault key for every bot started here: a restarted bot reads the secrets it stored.
    vault_key: str = dataclasses.field(default_factory=VaultKeyring.generate_env_value)

    @property
    def db_path(self) -> Path:
        return self.folder / "bot.db"

    # --- our bot ----------------------------------------------------------------------------

    async def start_bot(self, *, owner_policy: str) -> BotHarness:
        """The real bot with FLYAGENTS_AGENT_OWNER=OWNER_POLICY on this world's database."""
        assert self.bot is None, "stop the running bot first"
        tg, fly = self.fleet.telegram, self.fleet.fly
        tg_http = httpx.AsyncClient(base_url=tg.root_url, timeout=30)
        fly_http = httpx.AsyncClient(base_url=fly.root_url, timeout=30)
        answer = await tg_http.post(
            "/_emulator/chats",
            json={
                "chat": {"id": OPS_CHAT, "type": "supergroup", "title": "Ops"},
                "bot": BOT_TOKEN,
            },
        )
        assert answer.status_code == 200, answer.text
        # Fly's per-machine rate limits are the Fly client's concern, tested on their own.
        answer = await fly_http.post("/_emulator/rate-limits", json={"enabled": False})
        assert answer.status_code == 200, answer.text
        settings = run_settings(
            tg,
            fly,
            self.db_path,
            FLYAGENTS_AGENT_OWNER=owner_policy,
            AGENT_SECRETS_ENCRYPTION_KEY=self.vault_key,
            LLM_MODEL=AGENT_MODEL,
            OPENCLAW_STARTUP_TIMEOUT_SEC=int(PROVISION_DEADLINE_S),
            FLYAGENTS_EXEC_TIMEOUT_SEC=60,
        )
        runtime = Runtime(
            settings,
            fleet_timings=REAL_FLEET_TIMINGS,
            fly_retry_policy=RetryPolicy(base_delay_s=0.05, max_delay_s=0.5, max_elapsed_s=10),
            fly_rate_limits=RateLimits.disabled(),
            options=dataclasses.replace(unpaced_options(), pairing_attempts_per_window=1000),
        )
        await runtime.start()
        self.bot = BotHarness(runtime, tg, fly, tg_http, fly_http, self.db_path)
        return self.bot

    async def stop_bot(self) -> None:
        if self.bot is not None:
            await self.bot.close()
            self.bot = None

    @property
    def running_bot(self) -> BotHarness:
        assert self.bot is not None, "no bot running"
        return self.bot

    async def say(
        self, user: dict[str, Any], text: str, done: Callable[[str], bool], deadline_s: float = 30
    ) -> dict[str, Any]:
        """USER writes TEXT to our bot; the bot's reply once its text satisfies DONE."""
        bot = self.running_bot
        sent = await bot.send(user, text)
        return await bot.reply_to(
            user["id"], sent, lambda message: done(message.get("text", "")), timeout=deadline_s
        )

    # --- whole steps ------------------------------------------------------------------------

    async def provision(self, tenant: str, user: str, agent_token: str) -> Provisioned:
        """`/secret` the agent's bot token, then `/provision`, as an admin does."""
        await self.say(
            ADMIN,
            f"/secret {tenant}/{user} TELEGRAM_BOT_TOKEN={agent_token}",
            lambda text: "Stored" in text,
        )
        done = await self.say(
            ADMIN,
            f"/provision tenant={tenant} user={user}",
            lambda text: "Provisioned" in text or "❌" in text,
            deadline_s=PROVISION_DEADLINE_S,
        )
        text = done["text"]
        agent_id, invite = AGENT_ID_RE.search(text), INVITE_RE.search(text)
        assert agent_id and invite and "❌" not in text, text
        agent = await self.running_bot.agent(agent_id.group(0))
        assert agent.machine_id is not None
        return Provisioned(
            agent_id=agent.id,
            machine_id=agent.machine_id,
            invite=invite.group(1),
            agent_token=agent_token,
            reply=text,
        )

    async def dm_agent(self, agent_token: str, user: dict[str, Any], text: str) -> dict[str, Any]:
        """USER writes to the agent's own bot; the agent's next answer in that chat."""
        before = len(await self._agent_messages(agent_token, user["id"]))
        await self.fleet.dm(agent_token, user["id"], user["first_name"], text)
        answers = await self.fleet.bot_replies(agent_token, user["id"], before + 1)
        return answers[-1]

    async def _agent_messages(self, agent_token: str, chat_id: int) -> list[dict[str, Any]]:
        return [m for m in await self.fleet.chat(agent_token, chat_id) if m["from"]["is_bot"]]

    async def forward(self, user: dict[str, Any], message: dict[str, Any], agent_token: str) -> int:
        """USER forwards the agent's MESSAGE, whole, to our bot; returns its message id."""
        return await self.running_bot.send(
            user, message["text"], forward_from=agent_bot_user(agent_token)
        )

    async def card_outcome(self, message_id: int, *words: str) -> dict[str, Any]:
        """The ops card once its (edited) text shows one of WORDS."""
        bot = self.running_bot

        def settled() -> dict[str, Any] | None:
            card = bot.message(OPS_CHAT, message_id)
            return card if any(word in card.get("text", "") for word in words) else None

        found: dict[str, Any] = await until(
            settled, CLI_DEADLINE_S, f"the card {message_id} to show one of {words}"
        )
        return found

    async def ops_alert(self, kind: str) -> dict[str, Any]:
        """The ops chat message that carries an alert of KIND."""
        bot = self.running_bot

        def alert() -> dict[str, Any] | None:
            for message in bot.bot_messages(OPS_CHAT):
                if kind in message.get("text", ""):
                    return message
            return None

        found: dict[str, Any] = await until(alert, CLI_DEADLINE_S, f"a {kind} alert")
        return found

    # --- the machine, as an operator sees it ------------------------------------------------

    async def execs_on(self, machine_id: str, match: str = "") -> list[dict[str, Any]]:
        """Every command Fly's exec ran on the machine (oldest first) whose argv has MATCH."""
        return [e for e in await self.running_bot.execs(match) if e["machine_id"] == machine_id]

    async def owners_on(self, machine_id: str) -> Any:
        """`config get commands.ownerAllowFrom`, run for real on the machine."""
        result = await self.fleet.openclaw(machine_id, "config", "get", "commands.ownerAllowFrom")
        assert result["exit_code"] == 0, result
        return json.loads(result["stdout"])


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


@asynccontextmanager
async def real_world(runtime: OpenClawRuntime, folder: Path) -> AsyncIterator[RealWorld]:
    """Both emulators (the Fly one running the real OpenClaw); the bot is started by the test."""
    async with running_fleet(runtime) as fleet:
        world = RealWorld(fleet=fleet, folder=folder)
        try:
            yield world
        finally:
            await world.stop_bot()
