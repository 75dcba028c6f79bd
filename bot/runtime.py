"""Runs the whole bot: settings → Store → FlyPool → FleetService → Telegram layer, plus monitor.

`Runtime.start` opens the store, turns pairing requests a dead process left running into
stuck ones (`service.start()`), starts the Telegram layer (polling or webhook, alert worker)
and the fleet monitor, then resumes unfinished provisioning in the background. `stop` undoes it
in reverse order. `python -m bot run` and the offline demo use this; tests build it in-process
with tiny timings. Settings problems are all reported at once, before anything starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import signal
from datetime import UTC, datetime
from urllib.parse import urlsplit

from pydantic import SecretStr

from bot.fleet import FleetDefaults, FleetService, FleetTimings, FlyPool, Monitor
from bot.health import keep_beating
from bot.settings import Settings, SettingsError, load_settings
from bot.telegram import BotOptions, TelegramLayer, WebhookConfig, build_telegram
from bot.telegram.webhook import new_webhook_secret
from flyclient import RateLimits, RetryPolicy
from storage import Store, VaultKeyring
from storage.clock import Clock, utc_now
from storage.errors import VaultKeyError
from storage.redaction import KNOWN_SECRETS, install_log_redaction, redact_known

log = logging.getLogger("bot.runtime")

REQUIRED_TO_RUN = (
    "FLYAGENTS_TELEGRAM_TOKEN",
    "FLYAGENTS_ADMIN_IDS",
    "FLYAGENTS_OPS_CHAT_ID",
    "AGENT_SECRETS_ENCRYPTION_KEY",
)
# A fleet-wide Fly app is optional: a fleet whose tenants each bring their own app and token
# (`/tenant set ID FLY_APP_NAME=… FLY_API_TOKEN=…`) runs without one. Half of the pair is
# always a mistake.
FLEET_FLY_PAIR = ("FLY_API_TOKEN", "FLY_APP_NAME")
BOT_TOKEN_RE = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{30,100}")


def _url_problem(name: str, value: str, *, https_only: bool = False) -> str | None:
    schemes = ("https",) if https_only else ("http", "https")
    problem = f"{name}: must be a {' or '.join(schemes)} URL with a host"
    try:
        parts = urlsplit(value.strip())
        if parts.scheme not in schemes or not parts.hostname:
            return problem
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:  # e.g. an unclosed IPv6 bracket, a port out of range
        return problem
    return None


def run_problems(settings: Settings) -> list[str]:
    """What `run` needs beyond the settings' own checks; never echoes a secret."""
    problems: list[str] = []
    token = settings.telegram_token.get_secret_value() if settings.telegram_token else ""
    if not BOT_TOKEN_RE.fullmatch(token.strip()):
        problems.append(
            "FLYAGENTS_TELEGRAM_TOKEN: does not look like a bot token (<digits>:<30+ characters>)"
        )
    has_token = settings.fly_api_token is not None and bool(
        settings.fly_api_token.get_secret_value().strip()
    )
    if has_token != bool(settings.fly_app_name):
        problems.append(
            "FLY_API_TOKEN and FLY_APP_NAME: set both (the fleet-wide Fly app) or neither "
            "(then every tenant brings its own with /tenant set ID FLY_APP_NAME=… FLY_API_TOKEN=…)"
        )
    if settings.ops_chat_id == 0:
        problems.append("FLYAGENTS_OPS_CHAT_ID: must be a Telegram chat id, not 0")
    for name, value in (
        ("FLYAGENTS_TELEGRAM_API_URL", settings.telegram_api_url),
        ("FLYAGENTS_FLY_API_URL", settings.fly_api_url),
        ("FLYAGENTS_FLY_LOGS_URL", settings.fly_logs_url),
    ):
        problem = _url_problem(name, value)
        if problem:
            problems.append(problem)
    if settings.webhook_url:
        problem = _url_problem("FLYAGENTS_WEBHOOK_URL", settings.webhook_url, https_only=True)
        if problem:
            problems.append(problem)
    if settings.secrets_key is not None:
        try:
            VaultKeyring.from_env_value(settings.secrets_key)
        except VaultKeyError as error:
            problems.append(str(error))
    return problems


def load_run_settings(**overrides: object) -> Settings:
    """Settings for `run`; raises `SettingsError` listing every problem at once."""
    settings = load_settings(require=REQUIRED_TO_RUN, **overrides)
    problems = run_problems(settings)
    if problems:
        raise SettingsError(problems)
    return settings


class JsonLogFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            # exc_text is the traceback already cut of known secrets by the record factory.
            entry["exception"] = record.exc_text or redact_known(
                self.formatException(record.exc_info)
            )
        return json.dumps(entry)


def remember_settings_secrets(settings: Settings) -> None:
    """Make every secret setting known to the redaction registry, and cut known secrets out
    of every log record from now on (the vault adds its values when the store opens)."""
    install_log_redaction()
    KNOWN_SECRETS.update(value for value in vars(settings).values() if isinstance(value, SecretStr))


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    if settings.log_format == "json":
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    install_log_redaction()
    root.setLevel(settings.log_level.upper())


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        fleet_timings: FleetTimings | None = None,
        fly_retry_policy: RetryPolicy | None = None,
        fly_rate_limits: RateLimits | None = None,
        options: BotOptions | None = None,
        store_clock: Clock = utc_now,
    ) -> None:
        self.settings = settings
        # What the store stamps rows with and measures ages against (tests move it forward).
        self._store_clock = store_clock
        self._fleet_timings = fleet_timings
        self._fly_retry_policy = fly_retry_policy
        self._fly_rate_limits = fly_rate_limits
        self._options = options or BotOptions()
        self.store: Store | None = None
        self.service: FleetService | None = None
        self.telegram: TelegramLayer | None = None
        self.monitor: Monitor | None = None
        self._resume_task: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        settings = self.settings
        remember_settings_secrets(settings)
        if settings.telegram_token is None or settings.ops_chat_id is None:
            raise SettingsError(["FLYAGENTS_TELEGRAM_TOKEN and FLYAGENTS_OPS_CHAT_ID are required"])
        settings.db_path.parent.mkdir(parents=True, exist_ok=True)
        self.store = await Store.open(
            settings.db_path, vault_keys=settings.secrets_key, clock=self._store_clock
        )
        pool = FlyPool(
            machines_url=settings.fly_api_url,
            logs_url=settings.fly_logs_url,
            retry_policy=self._fly_retry_policy,
            rate_limits=self._fly_rate_limits,
        )
        defaults = FleetDefaults.from_settings(settings, self._fleet_timings)
        self.service = FleetService(self.store, pool, defaults)
        await self.service.start()
        webhook = None
        if settings.webhook_url:
            secret = settings.webhook_secret
            configured = secret.get_secret_value() if secret is not None else ""
            if not configured:
                # Telegram then sends it back with every update; nobody else knows it.
                log.info("no FLYAGENTS_WEBHOOK_SECRET set: this run registers a generated one")
            webhook = WebhookConfig(
                url=settings.webhook_url,
                listen=settings.webhook_listen,
                port=settings.webhook_port,
                secret=configured or new_webhook_secret(),
            )
        self.telegram = build_telegram(
            token=settings.telegram_token.get_secret_value(),
            api_root=settings.telegram_api_url,
            admin_ids=settings.admin_ids,
            ops_chat_id=settings.ops_chat_id,
            service=self.service,
            store=self.store,
            options=self._options,
            webhook=webhook,
        )
        await self.telegram.start()
        self.monitor = Monitor(self.service.ctx)
        self.monitor.start(settings.monitor_interval_s)
        self._resume_task = asyncio.create_task(self._resume(), name="resume-provisioning")
        self._heartbeat_task = asyncio.create_task(
            keep_beating(settings.heartbeat_path), name="heartbeat"
        )
        log.info("bot running (%s)", "webhook" if webhook else "long polling")

    async def _resume(self) -> None:
        assert self.service is not None
        try:
            telegram = self.telegram
            resumed = await self.service.resume_unfinished(
                on_resumed=telegram.report_resumed if telegram is not None else None
            )
        except Exception:
            log.exception("resuming unfinished provisioning failed")
            return
        if resumed:
            log.info("resumed provisioning of %s", ", ".join(resumed))

    async def stop(self) -> None:
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task
            self._heartbeat_task = None
        if self._resume_task is not None:
            self._resume_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resume_task
            self._resume_task = None
        if self.monitor is not None:
            await self.monitor.stop()
            self.monitor = None
        if self.telegram is not None:
            await self.telegram.stop()
            self.telegram = None
        if self.service is not None:
            await self.service.aclose()
            self.service = None
        if self.store is not None:
            await self.store.close()
            self.store = None

    async def serve(self) -> None:
        """Start, run until SIGINT or SIGTERM, stop."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await self.start()
        try:
            await stop.wait()
        finally:
            log.info("stopping")
            await self.stop()
