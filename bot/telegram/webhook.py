"""Receiving updates by webhook instead of long polling (when `FLYAGENTS_WEBHOOK_URL` is set).

A small aiohttp server accepts Telegram's POSTs on the path of the webhook URL, checks the
secret token header Telegram sends back (`X-Telegram-Bot-Api-Secret-Token`), and hands each
update to the PTB application's queue. There is always a secret (one is generated for the run
when none is configured), so a POST without it, from anyone but Telegram, gets 403 and is
never read. The server never processes updates itself and never logs their content (a message
may carry a secret). `WebhookWatch` asks Telegram (getWebhookInfo) whether its updates still
go to this URL and arrive there, and tells the log and the ops chat when not.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Bot, Update, WebhookInfo

from bot.telegram import render
from storage import Store
from storage.models import AlertKind, AlertSeverity

log = logging.getLogger("bot.telegram.webhook")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
MAX_UPDATE_BYTES = 1024 * 1024


def new_webhook_secret() -> str:
    """A secret token Telegram accepts (1-256 of A-Z a-z 0-9 _ -): 256 random bits."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    listen: str
    port: int
    secret: str = field(repr=False)

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"


class WebhookServer:
    def __init__(self, config: WebhookConfig, bot: Bot, queue: Any) -> None:
        self._config = config
        self._bot = bot
        self._queue = queue
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_UPDATE_BYTES)
        app.router.add_post(self._config.path, self._receive)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self._config.listen, self._config.port)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        log.info("webhook listening on %s:%s%s", self._config.listen, self.port, self._config.path)

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        # Checked before the body is read: a forged update is never parsed, queued or logged.
        given = request.headers.get(SECRET_HEADER, "")
        if not self._config.secret or not hmac.compare_digest(
            given.encode(), self._config.secret.encode()
        ):
            return web.Response(status=403)
        try:
            data = await request.json()
        except ValueError:
            return web.Response(status=400)
        if not isinstance(data, dict):
            return web.Response(status=400)
        update = Update.de_json(data, self._bot)
        await self._queue.put(update)
        return web.Response(status=200)


def webhook_problems(
    ours: str, info: WebhookInfo, registered_at: datetime | None
) -> dict[str, str]:
    """What is wrong with Telegram's view of the webhook: {"url:…"|"error:…": words for ops}."""
    problems: dict[str, str] = {}
    if info.url != ours:
        where = info.url or render.WEBHOOK_NOWHERE
        problems[f"url:{info.url}"] = render.webhook_elsewhere(where, ours)
    failed_at = info.last_error_date
    # Failures from before this run registered the webhook (the bot was down) are expected.
    if info.last_error_message and (
        registered_at is None or failed_at is None or failed_at >= registered_at
    ):
        problems[f"error:{info.last_error_message}"] = render.webhook_failing(
            failed_at, info.last_error_message, info.pending_update_count
        )
    return problems


# The alert for each kind of problem `webhook_problems` keys by (`url:…`, `error:…`).
_PROBLEM_ALERTS = {"url": AlertKind.WEBHOOK_URL, "error": AlertKind.WEBHOOK_ERROR}


class WebhookWatch:
    """Checks Telegram's getWebhookInfo; reports each problem once while it lasts."""

    def __init__(self, config: WebhookConfig, bot: Bot, store: Store):
        self._config = config
        self._bot = bot
        self._store = store
        self._reported: set[str] = set()
        self.registered_at: datetime | None = None

    async def check(self) -> dict[str, str]:
        info = await self._bot.get_webhook_info()
        problems = webhook_problems(self._config.url, info, self.registered_at)
        for key, words in problems.items():
            if key in self._reported:
                continue
            log.error("webhook: %s", words)
            await self._store.outbox.enqueue(
                _PROBLEM_ALERTS[key.split(":", 1)[0]],
                words,
                severity=AlertSeverity.CRITICAL,
                dedupe_key=f"webhook:{key}",
            )
        self._reported = set(problems)
        return problems
