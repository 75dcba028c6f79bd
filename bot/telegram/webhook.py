"""Receiving updates by webhook instead of long polling (when `FLYAGENTS_WEBHOOK_URL` is set).

A small aiohttp server accepts Telegram's POSTs on the path of the webhook URL, checks the
secret token header Telegram sends back (`X-Telegram-Bot-Api-Secret-Token`), and hands each
update to the PTB application's queue. It never processes updates itself and never logs their
content (a message may carry a secret).
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Bot, Update

log = logging.getLogger("bot.telegram.webhook")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
MAX_UPDATE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    listen: str
    port: int
    secret: str | None

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
        secret = self._config.secret
        if secret is not None:
            given = request.headers.get(SECRET_HEADER, "")
            if not hmac.compare_digest(given.encode(), secret.encode()):
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
