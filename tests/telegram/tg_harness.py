"""The whole bot in-process: real PTB over HTTP to the Telegram emulator, the Fly emulator, SQLite.

`start_bot` builds the real `bot.runtime.Runtime` from settings (as `python -m bot run` does),
with tiny fleet timings, and drives it the way people would: users' messages and button presses
go in through the Telegram emulator's control API, and what the bot said is read back from the
emulator's chats. Nothing of the bot is mocked; waiting is bounded polling (`until`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, overload

import httpx
import pytest

from bot.demo.driver import BotDriver, group_chat, poll_until
from bot.fleet.defaults import FleetTimings
from bot.runtime import Runtime, load_run_settings
from bot.telegram import BotOptions
from emulators.fly import FlyEmulator
from emulators.telegram import FloodLimits, TelegramEmulator
from flyclient import RateLimits, RetryPolicy
from storage import Store, VaultKeyring
from storage.clock import Clock, utc_now

T = TypeVar("T")

# The tests look twice as often as the demo does: most of them wait for a few milliseconds.
POLL_S = 0.01

BOT_TOKEN = "5550001:AAbotTokenForTheTelegramLayerTests_xyz"
BOT_USERNAME = "bot5550001_bot"
OPS_CHAT = -1009000
# Telegram `User` objects as the emulator takes them (JSON: values of several types).
ADMIN: dict[str, Any] = {"id": 11, "first_name": "Ann", "username": "ann"}
ADMIN_2: dict[str, Any] = {"id": 12, "first_name": "Bob"}
END_USER: dict[str, Any] = {"id": 2002, "first_name": "Uma"}
OTHER_USER: dict[str, Any] = {"id": 3003, "first_name": "Olga"}
STRANGER: dict[str, Any] = {"id": 4004, "first_name": "Sam"}
AGENT_BOT_TOKEN = "7000000001:AAAgentBotTokenForTestsOnly_abcdefgh"
FLY_TOKEN = "fo1_test_token_for_the_emulator"
INVITE_RE = re.compile(r"https://t\.me/" + BOT_USERNAME + r"\?start=([A-Za-z0-9_-]+)")
AGENT_ID_RE = re.compile(r"\bag_[a-z0-9]{12}\b")
REQUEST_ID_RE = re.compile(r"\bpr_[a-z0-9]{12}\b")


def tiny_fleet_timings() -> FleetTimings:
    return FleetTimings(
        gateway_poll_s=0.02,
        wait_slice_s=5,
        snapshot_poll_s=0.02,
        stop_deadline_s=10,
        start_deadline_s=10,
    )


def run_env(
    tg: TelegramEmulator, fly: FlyEmulator, db_path: Path, **changes: Any
) -> dict[str, Any]:
    """The bot's settings for these emulators, as environment variables."""
    values: dict[str, Any] = {
        "FLYAGENTS_TELEGRAM_TOKEN": BOT_TOKEN,
        "FLYAGENTS_TELEGRAM_API_URL": tg.root_url,
        "FLYAGENTS_ADMIN_IDS": f"{ADMIN['id']},{ADMIN_2['id']}",
        "FLYAGENTS_OPS_CHAT_ID": OPS_CHAT,
        "FLYAGENTS_DB_PATH": str(db_path),
        "FLYAGENTS_HEARTBEAT_PATH": str(db_path.parent / "heartbeat"),
        "AGENT_SECRETS_ENCRYPTION_KEY": VaultKeyring.generate_env_value(),
        "FLY_API_TOKEN": FLY_TOKEN,
        "FLY_APP_NAME": "agents",
        "FLYAGENTS_FLY_API_URL": fly.base_url,
        "FLYAGENTS_FLY_LOGS_URL": fly.root_url,
        "AGENT_BRIDGE_URL": "https://bridge.example.com",
        "OPENCLAW_SERVICE_ID": "svc-1",
        "OPENCLAW_SERVICE_KEY": "service-key-secret",
        "LLM_API_KEY": "sk-llm-key-for-tests-0000000000",
        "OPENCLAW_STARTUP_TIMEOUT_SEC": 3,
        "FLYAGENTS_EXEC_TIMEOUT_SEC": 10,
        "FLYAGENTS_MONITOR_INTERVAL_SEC": 3600,
    }
    values.update(changes)
    return values


def run_settings(tg: TelegramEmulator, fly: FlyEmulator, db_path: Path, **changes: Any) -> Any:
    return load_run_settings(**run_env(tg, fly, db_path, **changes))


# Predicates return "X or None" (or False), sync or async; what the caller gets is the truthy X.
# A coroutine function matches both signatures: the first (awaited) is the one that applies.
@overload
async def until(
    predicate: Callable[[], Awaitable[T | None]], timeout: float = 30.0, what: str = "condition"
) -> T: ...


@overload
async def until(
    predicate: Callable[[], T | None], timeout: float = 30.0, what: str = "condition"
) -> T: ...


async def until(
    predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition"
) -> Any:
    """Poll `predicate` (sync or async) until it is truthy; fail after `timeout` seconds."""
    return await poll_until(predicate, what, timeout, poll_s=POLL_S, on_timeout=pytest.fail)


@dataclass
class BotHarness:
    """One bot and its emulators; the people's moves are `bot.demo.driver.BotDriver`'s."""

    runtime: Runtime
    tg: TelegramEmulator
    fly: FlyEmulator
    tg_http: httpx.AsyncClient
    fly_http: httpx.AsyncClient
    db_path: Path
    driver: BotDriver = field(init=False)

    def __post_init__(self) -> None:
        # Chats are read from the in-process emulator; a timeout fails the test.
        self.driver = harness_driver(self.tg, self.tg_http, self.fly_http, lambda: self.runtime)

    @property
    def store(self) -> Store:
        assert self.runtime.store is not None
        return self.runtime.store

    # --- the users' side ----------------------------------------------------------------------

    async def send(
        self,
        user: dict[str, Any],
        text: str,
        *,
        chat: dict[str, Any] | None = None,
        forward_from: dict[str, Any] | None = None,
    ) -> int:
        return await self.driver.send(user, text, chat=chat, forward_from=forward_from)

    async def send_in_ops(self, user: dict[str, Any], text: str) -> int:
        return await self.send(user, text, chat=group_chat(OPS_CHAT, "Ops"))

    async def press(
        self, user: dict[str, Any], message_id: int, data: str, chat_id: int | None = None
    ) -> None:
        await self.driver.press(user, message_id, data, chat_id)

    # --- what the bot said --------------------------------------------------------------------

    def messages(self, chat_id: int) -> list[dict[str, Any]]:
        return self.tg.messages(chat_id, bot=BOT_TOKEN)

    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        return [m for m in self.messages(chat_id) if m["from"]["is_bot"]]

    def message(self, chat_id: int, message_id: int) -> dict[str, Any]:
        return next(m for m in self.messages(chat_id) if m["message_id"] == message_id)

    async def reply_to(
        self,
        chat_id: int,
        after: int,
        match: str | Callable[[dict[str, Any]], bool] = "",
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """The first bot message after message `after` that matches (text part or predicate)."""
        return await self.driver.reply_to(chat_id, after, match, timeout)

    async def settled(
        self, chat_id: int, after: int, done: str | Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        """A bot message after `after` whose current (possibly edited) text matches `done`."""
        return await self.reply_to(chat_id, after, done)

    async def all_handled(self, timeout: float = 30.0) -> None:
        """Wait until every update sent so far was fetched by the bot and handled (for updates
        whose handling leaves nothing to see, such as a silenced refusal)."""
        if not await self.driver.handled(timeout, alerts_too=False):
            pytest.fail(f"timed out after {timeout}s waiting for every update to be handled")

    async def shows(self, chat_id: int, message_id: int, text: str) -> dict[str, Any]:
        """Wait until message `message_id` (as edited now) contains `text`."""

        def current() -> dict[str, Any] | None:
            message = self.message(chat_id, message_id)
            return message if text in message.get("text", "") else None

        return await until(current, 30, f"message {message_id} to show {text!r}")

    def buttons(self, message: dict[str, Any]) -> list[str]:
        markup = message.get("reply_markup") or {}
        return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]

    def requests(self, method: str | None = None) -> list[dict[str, Any]]:
        return self.tg.requests(method=method)

    def callback_answers(self) -> list[dict[str, Any]]:
        return self.tg.callback_answers()

    # --- Fly ------------------------------------------------------------------------------------

    async def execs(self, match: str = "") -> list[dict[str, Any]]:
        return await self.driver.execs(match)

    async def fly_requests(self) -> list[dict[str, Any]]:
        return await self.driver.fly_requests()

    async def pairing_code(self, machine_id: str, sender_id: int) -> str:
        return await self.driver.pairing_code(machine_id, sender_id)

    async def fly_fault(self, rule: dict[str, Any]) -> None:
        await self.driver.fly_fault(rule)

    async def tg_fault(self, rule: dict[str, Any]) -> None:
        await self.driver.tg_fault(rule)

    # --- whole steps ----------------------------------------------------------------------------

    async def provision(self, tenant: str = "acme", user: str = "alice") -> tuple[str, str]:
        """`/secret` the agent's bot token, `/provision`; returns (agent id, invite token)."""
        sent = await self.send(
            ADMIN, f"/secret {tenant}/{user} TELEGRAM_BOT_TOKEN={AGENT_BOT_TOKEN}"
        )
        await self.reply_to(ADMIN["id"], sent, "Stored")
        sent = await self.send(ADMIN, f"/provision tenant={tenant} user={user}")
        done = await self.reply_to(ADMIN["id"], sent, "Provisioned", timeout=20)
        agent_id = AGENT_ID_RE.search(done["text"])
        invite = INVITE_RE.search(done["text"])
        assert agent_id and invite, done["text"]
        return agent_id.group(0), invite.group(1)

    async def link(self, user: dict[str, Any], invite: str) -> None:
        sent = await self.send(user, f"/start {invite}")
        await self.reply_to(user["id"], sent, "linked")

    async def agent(self, agent_id: str) -> Any:
        return await self.store.agents.get(agent_id)

    async def card_for(self, request_id: str) -> dict[str, Any]:
        def card() -> dict[str, Any] | None:
            for message in self.bot_messages(OPS_CHAT):
                if request_id in message.get("text", "") and "Pairing request" in message["text"]:
                    return message
            return None

        return await until(card, 30, f"the ops card of {request_id}")

    async def restart_bot(self) -> None:
        """Stop the bot and start a new one on the same settings and database."""
        await self.runtime.stop()
        await self.start_again()

    async def start_again(self) -> None:
        """A new bot process (in this one) on the same settings and database."""
        self.runtime = Runtime(
            self.runtime.settings,
            fleet_timings=tiny_fleet_timings(),
            fly_retry_policy=RetryPolicy(base_delay_s=0.01, max_delay_s=0.05, max_elapsed_s=5),
            fly_rate_limits=RateLimits.disabled(),
            options=BotOptions.for_tests(),
        )
        await self.runtime.start()

    async def close(self) -> None:
        await self.runtime.stop()
        await self.tg_http.aclose()
        await self.fly_http.aclose()


async def start_bot(
    tg: TelegramEmulator,
    fly: FlyEmulator,
    tmp_path: Path,
    *,
    options: BotOptions | None = None,
    store_clock: Clock = utc_now,
    ops_chat: dict[str, Any] | None = None,
    unchecked: dict[str, Any] | None = None,
    **settings: Any,
) -> BotHarness:
    """`ops_chat` (a Bot API chat, default the supergroup OPS_CHAT) is registered before the
    start and, when given, becomes FLYAGENTS_OPS_CHAT_ID. `unchecked` sets Settings fields
    after the run check (an http webhook on loopback, which only the emulator can call)."""
    tg_http = httpx.AsyncClient(base_url=tg.root_url, timeout=10)
    fly_http = httpx.AsyncClient(base_url=fly.root_url, timeout=10)
    if ops_chat is not None:
        settings.setdefault("FLYAGENTS_OPS_CHAT_ID", ops_chat["id"])
    await prepare_world(harness_driver(tg, tg_http, fly_http), ops_chat)
    db_path = tmp_path / "bot.db"
    checked = run_settings(tg, fly, db_path, **settings)
    runtime = Runtime(
        checked.model_copy(update=unchecked) if unchecked else checked,
        fleet_timings=tiny_fleet_timings(),
        fly_retry_policy=RetryPolicy(base_delay_s=0.01, max_delay_s=0.05, max_elapsed_s=5),
        fly_rate_limits=RateLimits.disabled(),
        options=options or BotOptions.for_tests(),
        store_clock=store_clock,
    )
    await runtime.start()
    return BotHarness(runtime, tg, fly, tg_http, fly_http, db_path)


BotFactory = Callable[..., Awaitable[BotHarness]]


def harness_driver(
    tg: TelegramEmulator,
    tg_http: httpx.AsyncClient,
    fly_http: httpx.AsyncClient,
    runtime: Callable[[], Runtime | None] | None = None,
) -> BotDriver:
    """The driver as the tests use it: in-process chat reads, brisk polls, a timeout fails."""
    return BotDriver(
        bot_token=BOT_TOKEN,
        tg_http=tg_http,
        fly_http=fly_http,
        runtime=runtime,
        telegram=tg,
        poll_s=POLL_S,
        on_timeout=pytest.fail,
    )


async def prepare_world(driver: BotDriver, ops_chat: dict[str, Any] | None = None) -> None:
    """Before the bot starts: the ops chat exists, as a real group the bot was added to, and
    Fly's per-machine rate limits are off (they are the Fly client's concern, tested there;
    here they would only make every test wait a second between two commands on a machine)."""
    await driver.open_chat(ops_chat or group_chat(OPS_CHAT, "Ops"))
    await driver.fly_rate_limits(enabled=False)


@pytest.fixture
async def bot_factory(
    fly_emulator: FlyEmulator,
    telegram_emulator_factory: Callable[..., Awaitable[TelegramEmulator]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[BotFactory]:
    """Start the bot against a Telegram emulator built with the given options."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    started: list[BotHarness] = []

    async def start(
        *,
        flood: bool = True,
        options: BotOptions | None = None,
        ops_chat: dict[str, Any] | None = None,
        unchecked: dict[str, Any] | None = None,
        callback_answer_window: float | None = None,
        **settings: Any,
    ) -> BotHarness:
        window = (
            {}
            if callback_answer_window is None
            else {"callback_answer_window": callback_answer_window}
        )
        tg = await telegram_emulator_factory(
            flood_limits=None if flood else FloodLimits(enabled=False), **window
        )
        harness = await start_bot(
            tg,
            fly_emulator,
            tmp_path,
            options=options,
            ops_chat=ops_chat,
            unchecked=unchecked,
            **settings,
        )
        started.append(harness)
        return harness

    yield start
    for harness in started:
        await harness.close()


@pytest.fixture
async def bot(bot_factory: BotFactory) -> BotHarness:
    """The bot with Telegram's flood control on (as in production)."""
    return await bot_factory()


def unpaced_options(**changes: Any) -> BotOptions:
    """No pacing: every refusal is answered too (a non-admin's commands each get their line)."""
    values: dict[str, Any] = {
        "private_messages_per_second": 1000.0,
        "private_burst": 1000,
        "overall_requests_per_second": 1000.0,
        "refusal_window_s": 0.0,
    }
    return dataclasses.replace(BotOptions.for_tests(), **(values | changes))


@pytest.fixture
async def fast_bot(bot_factory: BotFactory) -> BotHarness:
    """For tests that send dozens of commands in a row: no flood control, no pacing."""
    return await bot_factory(flood=False, options=unpaced_options(pairing_attempts_per_window=1000))
