"""Bot API methods that deliver updates: getUpdates and the webhook trio.

getUpdates confirms by offset, long-polls without spinning, answers an earlier poll of the
same bot with 409 when a newer one arrives, and refuses to run while a webhook is set.
Once a webhook is set, `webhook_delivery` POSTs each update to it (loopback hosts only) and
getWebhookInfo reports its pending count and last delivery error.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import urlsplit

from .errors import bad_request, conflict
from .params import boolean, integer, json_value, string
from .registry import Answer, Call, bot_method
from .state import BotState, LongPoll, Webhook
from .webhook_delivery import is_loopback
from .world import SHUTDOWN

LONG_POLL_MAX_SECONDS = 50
WEBHOOK_PORTS = frozenset({80, 88, 443, 8443})
UPDATE_TYPES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "guest_message",
        "message_reaction",
        "message_reaction_count",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
        "managed_bot",
    }
)
TERMINATED_BY_POLL = (
    "terminated by other getUpdates request; make sure that only one bot instance is running"
)
TERMINATED_BY_WEBHOOK = "terminated by setWebhook request"
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def _allowed_updates(value: Any) -> frozenset[str] | None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise bad_request("can't parse allowed_updates JSON object")
    chosen = frozenset(item for item in value if item in UPDATE_TYPES)
    return chosen or None


def _clamp(value: int | None, default: int, low: int, high: int) -> int:
    return default if value is None else max(low, min(high, value))


@bot_method(
    "getUpdates",
    integer("offset"),
    integer("limit"),
    integer("timeout"),
    json_value("allowed_updates"),
)
async def get_updates(call: Call) -> Any:
    bot, params = call.bot, call.params
    if bot.webhook is not None:
        raise conflict(
            "can't use getUpdates method while webhook is active; "
            "use deleteWebhook to delete the webhook first"
        )
    if params.has("allowed_updates"):
        bot.allowed_updates = _allowed_updates(params.json("allowed_updates"))
    limit = _clamp(params.integer("limit"), 100, 1, 100)
    timeout = _clamp(params.integer("timeout"), 0, 0, LONG_POLL_MAX_SECONDS)
    bot.kick_poll(TERMINATED_BY_POLL)
    offset = params.integer("offset")
    if offset:
        bot.confirm(offset)
    bot.forget_expired(call.world.now())
    updates = bot.pending(limit)
    if updates or timeout == 0:
        return [update.to_json() for update in updates]
    reason = await _wait_for_updates(bot, timeout)
    if reason == SHUTDOWN:
        return []
    if reason is not None:
        raise conflict(reason)
    return [update.to_json() for update in bot.pending(limit)]


async def _wait_for_updates(bot: BotState, seconds: int) -> str | None:
    poll = LongPoll()
    bot.poll = poll
    try:
        async with asyncio.timeout(seconds):
            return await poll.settled
    except TimeoutError:
        return None
    finally:
        if bot.poll is poll:
            bot.poll = None


def _check_webhook_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme.lower() == "http" and is_loopback(parts.hostname):
        # The emulator only: a bot under test listens on loopback without TLS, on any port.
        try:
            parts.port  # noqa: B018 - parsing it is the check
        except ValueError:
            raise bad_request("bad webhook: Wrong port number specified in the URL") from None
        return
    if parts.scheme.lower() != "https":
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    try:
        port = parts.port or 443
    except ValueError:
        raise bad_request("bad webhook: Wrong port number specified in the URL") from None
    if not parts.hostname:
        raise bad_request("bad webhook: Wrong HTTP URL")
    if port not in WEBHOOK_PORTS:
        raise bad_request("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")


@bot_method(
    "setWebhook",
    string("url"),
    string("certificate"),
    string("ip_address"),
    integer("max_connections"),
    json_value("allowed_updates"),
    boolean("drop_pending_updates"),
    string("secret_token"),
)
async def set_webhook(call: Call) -> Answer:
    bot, params = call.bot, call.params
    url = params.string("url") or ""
    if not url:
        return _delete_webhook(call, params.boolean("drop_pending_updates"))
    _check_webhook_url(url)
    secret = params.string("secret_token")
    if secret is not None and not _SECRET_TOKEN.match(secret):
        raise bad_request("secret token contains unallowed characters")
    if params.has("allowed_updates"):
        bot.allowed_updates = _allowed_updates(params.json("allowed_updates"))
    already = bot.webhook is not None and bot.webhook.url == url
    bot.webhook = Webhook(
        url=url,
        max_connections=_clamp(params.integer("max_connections"), 40, 1, 100),
        secret_token=secret,
        ip_address=params.string("ip_address"),
        has_custom_certificate=params.has("certificate"),
    )
    bot.kick_poll(TERMINATED_BY_WEBHOOK)
    if params.boolean("drop_pending_updates"):
        bot.drop_pending()
    call.world.webhooks.wake(bot)
    return Answer(True, "Webhook is already set" if already else "Webhook was set")


def _delete_webhook(call: Call, drop_pending: bool) -> Answer:
    bot = call.bot
    existed = bot.webhook is not None
    bot.webhook = None
    if drop_pending:
        bot.drop_pending()
    call.world.webhooks.wake(bot)  # ends its delivery task
    return Answer(True, "Webhook was deleted" if existed else "Webhook is already deleted")


@bot_method("deleteWebhook", boolean("drop_pending_updates"))
async def delete_webhook(call: Call) -> Answer:
    return _delete_webhook(call, call.params.boolean("drop_pending_updates"))


@bot_method("getWebhookInfo")
async def get_webhook_info(call: Call) -> dict[str, Any]:
    bot = call.bot
    bot.forget_expired(call.world.now())
    info: dict[str, Any] = {
        "url": bot.webhook.url if bot.webhook else "",
        "has_custom_certificate": bool(bot.webhook and bot.webhook.has_custom_certificate),
        "pending_update_count": len(bot.updates),
    }
    if bot.webhook is not None:
        info["max_connections"] = bot.webhook.max_connections
        if bot.webhook.ip_address:
            info["ip_address"] = bot.webhook.ip_address
        if bot.webhook.last_error_date is not None:
            info["last_error_date"] = bot.webhook.last_error_date
            info["last_error_message"] = bot.webhook.last_error_message
    if bot.allowed_updates is not None:
        info["allowed_updates"] = sorted(bot.allowed_updates)
    return info
