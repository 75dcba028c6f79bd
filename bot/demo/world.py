"""The embedded world of the demo and the console: both emulators, the real bot, the people.

`DemoWorld` starts the Fly emulator (two apps, each with its own token) and the Telegram
emulator in this process, then the real `bot.runtime.Runtime` against them over loopback HTTP,
exactly as `python -m bot run` would start it, with settings built here (a temporary SQLite
file, a freshly generated vault key, brisk timings). People act through the emulators'
control APIs: a message or a button press goes in as a Telegram update, a pairing code comes
from the agent's simulated OpenClaw, a crash is a Fly fault. `settled` waits until the bot has
handled every update and delivered every alert, so what is read back is what it finally said.
`intro_lines` introduces the world's people; `show_logs` sends the bot's logs to stderr.

With `openclaw=` (an installed runtime, see `bot.demo.openclaw_install`) the Fly emulator runs
in real-OpenClaw mode: every started machine is a real `openclaw.mjs gateway run` process whose
Telegram channel polls this world's Telegram emulator as the agent's own bot, so an end user
DMs the agent (`dm_agent`) and reads its real answers (`agent_messages`); the timeouts and the
default model then suit the real runtime.

It never changes the bot's behaviour, never reads settings from the environment or a `.env`
(the demo must look the same on every machine), and never talks to anything but loopback.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import AliasChoices

from bot.demo.driver import BotDriver, DriverError, group_chat
from bot.demo.openclaw_install import InstalledOpenClaw
from bot.fleet import FleetError, FleetTimings
from bot.runtime import Runtime, load_run_settings
from bot.settings import Settings
from bot.telegram import BotOptions, render
from emulators.fly import FlyEmulator, FlyTimings
from emulators.telegram import TelegramEmulator
from storage import Store, VaultKeyring
from storage.models import Agent

T = TypeVar("T")

# Tokens of the emulated world only: no real service would accept them.
BOT_TOKEN = "5550001:AAdemoAdminBotTokenForTheOfflineDemo"  # noqa: S105
FLEET_APP = "agents"
FLEET_FLY_TOKEN = "fo1_demo_fleet_token_for_the_emulator"  # noqa: S105
SECOND_APP = "globex-agents"
SECOND_FLY_TOKEN = "fm2_demo_globex_token_for_the_emulator"  # noqa: S105
OPS_CHAT_ID = -1009000
OPS_CHAT_TITLE = "Ops"
# The machines' Machines API token header (the demo looks at a machine as an operator would).
FLEET_AUTH = {"Authorization": f"Bearer {FLEET_FLY_TOKEN}"}
# The real runtime: a model whose provider needs no plugin install (an `openai/…` default makes
# every CLI run try to install one, seconds slower offline).
REAL_OPENCLAW_MODEL = "anthropic/claude-sonnet-4-5"
REAL_OPENCLAW_DIR = "/app"
REAL_CLI_TIMEOUT_S = 60
REAL_STARTUP_TIMEOUT_S = 120
# How the bot marks a failed operation in a reply.
FAILED_MARK = render.failed("").strip()


@dataclass(frozen=True)
class Person:
    """Someone in the world: an admin or an end user, with a Telegram account."""

    key: str
    name: str
    telegram_id: int
    role: str
    username: str | None = None

    def sender(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.telegram_id, "first_name": self.name}
        if self.username:
            user["username"] = self.username
        return user


ADMIN = Person("admin", "Ann", 11, "admin", "ann")
UMA = Person("uma", "Uma", 2002, "end user")
OLGA = Person("olga", "Olga", 3003, "end user")
PEOPLE: tuple[Person, ...] = (ADMIN, UMA, OLGA)
# The chats a transcript follows: each person's private chat with the bot, then the ops chat.
WATCHED_CHATS: tuple[tuple[int, str], ...] = (
    *((person.telegram_id, person.name) for person in PEOPLE),
    (OPS_CHAT_ID, "ops chat"),
)


def agent_bot_token(number: int) -> str:
    """A well-formed token for an agent's own Telegram bot (each agent has one)."""
    return f"{7000000000 + number}:AAdemoAgentBotToken{number:04d}ForTheEmulator"


def demo_fly_timings() -> FlyTimings:
    """Brisk but visible: a machine starts in a fraction of a second, a CLI run takes 0.1 s."""
    return FlyTimings(
        launch=0.05,
        start=0.2,
        stop=0.15,
        suspend=0.15,
        restart=0.25,
        update=0.25,
        destroy=0.1,
        destroyed_retention=10.0,
        gateway_boot=0.2,
        restart_backoff=0.3,
        time_scale=0.002,
        snapshot_running=0.1,
        snapshot_created=0.2,
        volume_restore=0.2,
        cli=0.1,
        request_timeout_scale=1.0,
    )


def demo_fleet_timings() -> FleetTimings:
    return FleetTimings(
        gateway_poll_s=0.05,
        wait_slice_s=10,
        snapshot_poll_s=0.05,
        stop_deadline_s=30,
        start_deadline_s=30,
    )


def real_fleet_timings() -> FleetTimings:
    """A real gateway takes seconds to boot and stop: the same polls, longer deadlines."""
    return FleetTimings(
        gateway_poll_s=0.25,
        wait_slice_s=10,
        snapshot_poll_s=0.1,
        stop_deadline_s=90,
        start_deadline_s=REAL_STARTUP_TIMEOUT_S,
    )


def demo_bot_options() -> BotOptions:
    """Production limits, short delays; every progress step is shown (no edit throttling)."""
    return BotOptions(
        poll_timeout_s=1.0,
        progress_edit_interval_s=0.0,
        alert_poll_interval_s=0.05,
        alert_lease_s=5.0,
        alert_backoff_base_s=0.05,
        alert_backoff_max_s=0.5,
        housekeeping_interval_s=60.0,
    )


def _env_name(alias: object, fallback: str) -> str:
    if isinstance(alias, AliasChoices) and alias.choices and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return fallback


def demo_settings(
    *,
    telegram_url: str,
    fly_api_url: str,
    fly_logs_url: str,
    folder: Path,
    monitor_s: float,
    real_openclaw: bool = False,
) -> Settings:
    """Every setting given explicitly, so nothing comes from the environment or a `.env`."""
    values: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        values[_env_name(field.validation_alias, name)] = field.get_default(
            call_default_factory=True
        )
    values.update(
        {
            "FLYAGENTS_TELEGRAM_TOKEN": BOT_TOKEN,
            "FLYAGENTS_TELEGRAM_API_URL": telegram_url,
            "FLYAGENTS_ADMIN_IDS": str(ADMIN.telegram_id),
            "FLYAGENTS_OPS_CHAT_ID": OPS_CHAT_ID,
            "FLYAGENTS_DB_PATH": str(folder / "flyagents.db"),
            "FLYAGENTS_HEARTBEAT_PATH": str(folder / "heartbeat"),
            "AGENT_SECRETS_ENCRYPTION_KEY": VaultKeyring.generate_env_value(),
            "FLY_API_TOKEN": FLEET_FLY_TOKEN,
            "FLY_APP_NAME": FLEET_APP,
            "FLYAGENTS_FLY_API_URL": fly_api_url,
            "FLYAGENTS_FLY_LOGS_URL": fly_logs_url,
            "AGENT_BRIDGE_URL": "https://bridge.example.com",
            "OPENCLAW_SERVICE_ID": "svc-demo",
            "OPENCLAW_SERVICE_KEY": "demo-service-key",
            "LLM_API_KEY": "sk-demo-llm-key-for-the-emulator",
            "OPENCLAW_STARTUP_TIMEOUT_SEC": 30,
            "FLYAGENTS_EXEC_TIMEOUT_SEC": 30,
            "FLYAGENTS_MONITOR_INTERVAL_SEC": monitor_s,
        }
    )
    if real_openclaw:
        values.update(
            {
                "LLM_MODEL": REAL_OPENCLAW_MODEL,
                "FLYAGENTS_OPENCLAW_DIR": REAL_OPENCLAW_DIR,
                "OPENCLAW_STARTUP_TIMEOUT_SEC": REAL_STARTUP_TIMEOUT_S,
                "FLYAGENTS_EXEC_TIMEOUT_SEC": REAL_CLI_TIMEOUT_S,
            }
        )
    return load_run_settings(_env_file=None, **values)


# Something the world was asked to do did not happen (a timeout, a refused request).
WorldError = DriverError


def fly_emulator_options() -> dict[str, Any]:
    """How the world's Fly emulator is built: two apps, each with its own token, brisk timings."""
    return {
        "apps": (FLEET_APP, SECOND_APP),
        "app_tokens": {FLEET_APP: FLEET_FLY_TOKEN, SECOND_APP: SECOND_FLY_TOKEN},
        "timings": demo_fly_timings(),
    }


def real_fly_emulator_options(
    openclaw: InstalledOpenClaw, telegram_api_root: str
) -> dict[str, Any]:
    """The Fly emulator in real-OpenClaw mode: the fleet's app; gateways poll TELEGRAM_API_ROOT."""
    return {
        "apps": (FLEET_APP,),
        "app_tokens": {FLEET_APP: FLEET_FLY_TOKEN},
        "timings": FlyTimings.for_real_openclaw(),
        "openclaw": openclaw.script,
        "node": openclaw.node,
        "telegram_api_root": telegram_api_root,
        "openclaw_dir": REAL_OPENCLAW_DIR,
    }


class DemoWorld:
    """Use as `async with DemoWorld() as world:`; everything stops and is deleted on exit.

    The emulators are started here unless running ones are given (a test that checks their
    traffic against the API contracts builds them itself, the Fly one with
    `fly_emulator_options()`, or `real_fly_emulator_options()` with `openclaw`); given ones are
    left running on exit. `openclaw` switches the world to the real runtime (module docstring).
    """

    def __init__(
        self,
        *,
        monitor_interval_s: float = 0.5,
        fly: FlyEmulator | None = None,
        telegram: TelegramEmulator | None = None,
        openclaw: InstalledOpenClaw | None = None,
    ) -> None:
        self.openclaw = openclaw
        self._monitor_interval_s = monitor_interval_s
        self._given_fly = fly
        self._given_tg = telegram
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._fly: FlyEmulator | None = None
        self._tg: TelegramEmulator | None = None
        self._driver: BotDriver | None = None
        self._runtime: Runtime | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> DemoWorld:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="flyagents-demo-")
        # Telegram first: real gateways are told its address when the Fly emulator is built.
        self._tg = self._given_tg
        if self._tg is None:
            self._tg = TelegramEmulator()
            await self._tg.start()
        self._fly = self._given_fly
        if self._fly is None:
            options = (
                fly_emulator_options()
                if self.openclaw is None
                else real_fly_emulator_options(self.openclaw, self._tg.root_url)
            )
            self._fly = FlyEmulator(**options)
            await self._fly.start()
        self._driver = BotDriver(
            bot_token=BOT_TOKEN,
            tg_http=httpx.AsyncClient(base_url=self._tg.root_url, timeout=10),
            fly_http=httpx.AsyncClient(base_url=self._fly.root_url, timeout=10),
            runtime=lambda: self._runtime,
        )
        # The ops chat is a group the bot was added to before it started.
        await self._driver.open_chat(group_chat(OPS_CHAT_ID, OPS_CHAT_TITLE))
        settings = demo_settings(
            telegram_url=self._tg.root_url,
            fly_api_url=self._fly.base_url,
            fly_logs_url=self._fly.root_url,
            folder=Path(self._folder.name),
            monitor_s=self._monitor_interval_s,
            real_openclaw=self.openclaw is not None,
        )
        timings = demo_fleet_timings() if self.openclaw is None else real_fleet_timings()
        self._runtime = Runtime(settings, fleet_timings=timings, options=demo_bot_options())
        await self._runtime.start()

    async def close(self) -> None:
        if self._runtime is not None:
            await self._runtime.stop()
            self._runtime = None
        if self._driver is not None:
            await self._driver.tg_http.aclose()
            await self._driver.fly_http.aclose()
            self._driver = None
        if self._tg is not None and self._tg is not self._given_tg:
            await self._tg.stop()
        self._tg = None
        if self._fly is not None and self._fly is not self._given_fly:
            await self._fly.stop()
        self._fly = None
        if self._folder is not None:
            with contextlib.suppress(OSError):
                self._folder.cleanup()
            self._folder = None

    # --- parts --------------------------------------------------------------------------------

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise WorldError("the world is not running")
        return self._runtime

    @property
    def store(self) -> Store:
        store = self.runtime.store
        if store is None:
            raise WorldError("the bot is not running")
        return store

    @property
    def tg_http(self) -> httpx.AsyncClient:
        return self.driver.tg_http

    @property
    def fly_http(self) -> httpx.AsyncClient:
        return self.driver.fly_http

    @property
    def driver(self) -> BotDriver:
        """The moves people make and the reads they do (shared with the Telegram tests)."""
        if self._driver is None:
            raise WorldError("the world is not running")
        return self._driver

    # --- Telegram: what people do -------------------------------------------------------------

    async def send(
        self,
        person: Person,
        text: str,
        *,
        chat_id: int | None = None,
        forwarded_from: dict[str, Any] | None = None,
    ) -> int:
        """`person` writes `text` to the bot (privately unless `chat_id`); the message id."""
        chat = None
        if chat_id is not None and chat_id != person.telegram_id:
            chat = group_chat(chat_id, OPS_CHAT_TITLE)
        return await self.driver.send(person.sender(), text, chat=chat, forward_from=forwarded_from)

    async def press(self, person: Person, chat_id: int, message_id: int, data: str) -> None:
        await self.driver.press(person.sender(), message_id, data, chat_id=chat_id)

    async def dm_agent(self, person: Person, agent_token: str, text: str) -> int:
        """`person` writes `text` to an agent's own Telegram bot; the message id."""
        return await self.driver.send(person.sender(), text, bot_token=agent_token)

    async def agent_messages(
        self, agent_token: str, chat_id: int, *, after: int = 0
    ) -> list[dict[str, Any]]:
        """What an agent's own bot sent in a chat after message `after`, as the user sees it."""
        return await self.driver.bot_messages(chat_id, after=after, bot_token=agent_token)

    async def agent_sent(self, agent_token: str, chat_id: int) -> list[str]:
        """The texts an agent's own bot sent to a chat, as sent (HTML unparsed), in order."""
        return await self.driver.sent_texts("sendMessage", chat_id, bot_token=agent_token)

    # --- Telegram: what the bot said ----------------------------------------------------------

    async def messages(self, chat_id: int) -> list[dict[str, Any]]:
        """Every message of the chat as it is now (edited text, deleted ones flagged)."""
        return await self.driver.messages(chat_id)

    async def bot_messages(self, chat_id: int, *, after: int = 0) -> list[dict[str, Any]]:
        return await self.driver.bot_messages(chat_id, after=after, with_deleted=False)

    async def edits(self, chat_id: int, message_id: int) -> list[str]:
        """The texts (HTML as sent) of every accepted edit of one message, in order."""
        return await self.driver.sent_texts("editMessageText", chat_id, message_id=message_id)

    async def callback_answers(self) -> list[dict[str, Any]]:
        """How the bot answered button presses (the toast a person sees), in order."""
        found = await self.driver.read(self.tg_http, "/_emulator/callback-answers", bot=BOT_TOKEN)
        return list(found)

    async def reply(
        self, chat_id: int, after: int, contains: str, *, wait_s: float = 30.0
    ) -> dict[str, Any]:
        """The first bot message after message `after` whose current text contains `contains`.

        A reply that reports a failure (the bot's ❌ mark) ends the wait at once: `WorldError`
        with the bot's own words.
        """
        return await self.driver.reply_to(
            chat_id, after, contains, wait_s, failed_mark=FAILED_MARK, with_deleted=False
        )

    # --- Fly ----------------------------------------------------------------------------------

    async def fly_state(self) -> dict[str, Any]:
        return await self.driver.fly_state()

    async def machine(self, machine_id: str) -> tuple[str, dict[str, Any]] | None:
        """(app, machine JSON with its `emulator` part) of a machine in any app, or None."""
        for app in (await self.fly_state())["apps"]:
            for machine in app["machines"]:
                if machine["id"] == machine_id:
                    return str(app["name"]), dict(machine)
        return None

    async def machine_state(self, machine_id: str) -> str | None:
        found = await self.machine(machine_id)
        return None if found is None else str(found[1]["state"])

    async def volume_ids(self) -> set[str]:
        return {
            str(volume["id"])
            for app in (await self.fly_state())["apps"]
            for volume in app["volumes"]
            if volume.get("state") not in ("destroyed", "pending_destroy")
        }

    async def snapshots_of(self, volume_id: str) -> list[dict[str, Any]]:
        return [
            dict(snapshot)
            for app in (await self.fly_state())["apps"]
            for snapshot in app["snapshots"]
            if snapshot.get("volume_id") == volume_id
        ]

    async def execs(self, match: str = "", machine_id: str | None = None) -> list[dict[str, Any]]:
        """Commands run on machines (the emulator's exec log), filtered by argv text."""
        return await self.driver.execs(match, machine_id)

    async def fly_requests(self) -> list[dict[str, Any]]:
        return await self.driver.fly_requests()

    async def fly_fault(self, rule: dict[str, Any]) -> None:
        await self.driver.fly_fault(rule)

    async def machine_logs(self, machine_id: str) -> list[str]:
        """The machine's latest log lines as Fly's logs API serves them (oldest first)."""
        page = await self.fly_http.get(
            f"/api/v1/apps/{FLEET_APP}/logs", params={"instance": machine_id}, headers=FLEET_AUTH
        )
        if page.status_code != 200:
            raise WorldError(f"the logs API answered {page.status_code}: {page.text[:300]}")
        return [str(entry["attributes"]["message"]) for entry in page.json()["data"]]

    async def run_on_machine(self, machine_id: str, argv: list[str]) -> dict[str, Any]:
        """What an operator's `fly machine exec` would show: stdout, stderr, exit_code."""
        answer = await self.fly_http.post(
            f"/v1/apps/{FLEET_APP}/machines/{machine_id}/exec",
            json={"command": argv, "timeout": REAL_CLI_TIMEOUT_S},
            headers=FLEET_AUTH,
            timeout=REAL_CLI_TIMEOUT_S + 30,
        )
        if answer.status_code != 200:
            raise WorldError(f"exec answered {answer.status_code}: {answer.text[:300]}")
        return dict(answer.json())

    async def issue_pairing_code(self, machine_id: str, person: Person) -> str:
        """The agent's OpenClaw on `machine_id` gives `person` a DM pairing code."""
        return await self.driver.pairing_code(
            machine_id, person.telegram_id, first_name=person.name
        )

    # --- the bot's records --------------------------------------------------------------------

    async def agent(self, ref: str) -> Agent | None:
        service = self.runtime.service
        if service is None:
            raise WorldError("the bot is not running")
        try:
            found = await service.find_agent(ref)
        except FleetError:
            return None
        # `find_agent` resolves labels of live agents; read the record as stored now.
        return await self.store.agents.get(found.id)

    async def linked_agents(self, person: Person) -> list[Agent]:
        return [
            a for a in await self.store.agents.live() if a.telegram_user_id == person.telegram_id
        ]

    # --- waiting ------------------------------------------------------------------------------

    async def until(
        self, predicate: Callable[[], Awaitable[T | None]], what: str, wait_s: float = 30.0
    ) -> T:
        """Poll `predicate` until it gives a truthy value; `WorldError` after `wait_s` seconds."""
        return await self.driver.until(predicate, what, wait_s)

    async def settled(self, wait_s: float = 60.0) -> bool:
        """Wait until every update is handled and every alert delivered; False on timeout."""
        return await self.driver.handled(wait_s, alerts_too=True)


def intro_lines(title: str) -> list[str]:
    """Who is who in the world, under `title`."""
    return [
        f"fly-agents bot — {title}",
        "The real bot (python-telegram-bot over HTTP, SQLite, the AES-GCM vault) runs against",
        "local emulators of the Fly Machines API and the Telegram Bot API, in this process.",
        f"People: {ADMIN.name} (admin, Telegram id {ADMIN.telegram_id}), "
        f"{UMA.name} and {OLGA.name} (end users).",
        f"Alerts and pairing cards go to the ops chat (a group, id {OPS_CHAT_ID}).",
    ]


def show_logs(verbose: bool) -> None:
    """The bot's own logs go to stderr: errors only, everything from INFO with `--verbose`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.INFO if verbose else logging.ERROR)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.ERROR)
