"""Delivering a bot's updates to its webhook, as Telegram does once setWebhook named a URL.

One delivery task per bot POSTs the oldest pending update as JSON to the webhook URL, with
the `X-Telegram-Bot-Api-Secret-Token` header when setWebhook gave a secret, and waits for the
answer before the next one (one at a time, in order). A 2xx answer confirms the update; any
other answer, a refused connection or a timeout keeps it queued, is noted as the webhook's
`last_error_date` / `last_error_message` (what getWebhookInfo reports) and is retried after a
short, growing pause (Telegram's own pauses are much longer; tests would only wait).

The emulator never calls out to the network: only loopback hosts are called. A webhook on any
other host fails every delivery as an unresolvable host would, and its updates stay queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp

from .state import BotState, PendingUpdate, Webhook

if TYPE_CHECKING:
    from .world import World

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
DELIVERY_TIMEOUT_S = 30.0
RETRY_FIRST_S = 0.05
RETRY_MAX_S = 2.0
UNRESOLVABLE = "Failed to resolve host: Name or service not known"


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WebhookDelivery:
    """The delivery tasks of every bot that has a webhook."""

    def __init__(self, world: World) -> None:
        self._world = world
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None

    def wake(self, bot: BotState) -> None:
        """Deliver `bot`'s queue now: after setWebhook, deleteWebhook or a new update."""
        bot.updates_arrived.set()
        if bot.webhook is None:
            return
        task = self._tasks.get(bot.id)
        if task is None or task.done():
            self._tasks[bot.id] = asyncio.get_running_loop().create_task(
                self._deliver(bot), name=f"webhook-delivery-{bot.id}"
            )

    def cancel_all(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        self.cancel_all()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _current(self, bot: BotState) -> bool:
        return bot.webhook is not None and self._world.bots.get(bot.id) is bot

    async def _deliver(self, bot: BotState) -> None:
        failures = 0
        while self._current(bot):
            bot.forget_expired(self._world.now())
            if not bot.updates:
                bot.updates_arrived.clear()
                await bot.updates_arrived.wait()
                continue
            hook = bot.webhook
            assert hook is not None
            update = bot.updates[0]
            problem = await self._post(hook, update)
            if problem is None:
                failures = 0
                bot.updates = [u for u in bot.updates if u is not update]
                continue
            hook.last_error_date = self._world.unix_now()
            hook.last_error_message = problem
            failures += 1
            pause = min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** (failures - 1))
            # A new setWebhook (or deleteWebhook) ends the pause early.
            bot.updates_arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(bot.updates_arrived.wait(), pause)

    async def _post(self, hook: Webhook, update: PendingUpdate) -> str | None:
        """None when the webhook took the update, else Telegram's words for what went wrong."""
        url = hook.url
        if not is_loopback(urlsplit(url).hostname):
            return UNRESOLVABLE
        headers = {"Content-Type": "application/json"}
        if hook.secret_token:
            headers[SECRET_HEADER] = hook.secret_token
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.post(
                url,
                data=json.dumps(update.to_json(), ensure_ascii=False).encode(),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT_S),
                ssl=False,  # a loopback https server has no certificate Telegram would trust
                allow_redirects=False,
            ) as answer:
                await answer.read()
                if 200 <= answer.status < 300:
                    return None
                reason = f"{answer.status} {answer.reason or ''}".strip()
                return f"Wrong response from the webhook: {reason}"
        except TimeoutError:
            return "Read timeout expired"
        except aiohttp.ClientConnectorError:
            return "Connection refused"
        except aiohttp.ClientError:
            return "Connection reset by peer"
