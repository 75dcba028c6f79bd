"""Webhook mode: only Telegram (holding the secret the bot registered) gets updates in.

The bot runs in-process in webhook mode and the Telegram emulator delivers updates to it over
HTTP, as Telegram does. The run settings require an https webhook URL; the emulator may call
plain http on loopback only, so the URL is swapped for a loopback one after the settings check.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import socket
from typing import Any

import httpx
import pytest
from tg_harness import ADMIN, BOT_TOKEN, OPS_CHAT, BotFactory, BotHarness

from bot.telegram import BotOptions

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HOOK_PATH = "/telegram/hook"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def start_webhook_bot(
    bot_factory: BotFactory, options: BotOptions | None = None, **settings: Any
) -> tuple[BotHarness, str]:
    """The bot in webhook mode (no FLYAGENTS_WEBHOOK_SECRET unless given); returns it and its
    URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}{HOOK_PATH}"
    bot = await bot_factory(
        options=options,
        FLYAGENTS_WEBHOOK_URL=f"https://bot.example.com{HOOK_PATH}",
        FLYAGENTS_WEBHOOK_LISTEN="127.0.0.1",
        FLYAGENTS_WEBHOOK_PORT=port,
        unchecked={"webhook_url": url},
        **settings,
    )
    return bot, url


def forged_update(text: str) -> dict[str, Any]:
    return {
        "update_id": 900_001,
        "message": {
            "message_id": 900,
            "date": 1_780_000_000,
            "chat": {"id": ADMIN["id"], "type": "private", "first_name": "Ann"},
            "from": {"id": ADMIN["id"], "is_bot": False, "first_name": "Ann"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": 7}],
        },
    }


@pytest.mark.parametrize("configured", [None, "operator-chosen_Secret-42"])
async def test_a_forged_update_without_telegrams_secret_is_refused_and_changes_nothing(
    bot_factory: BotFactory, caplog: pytest.LogCaptureFixture, configured: str | None
) -> None:
    caplog.set_level(logging.DEBUG)
    extra: dict[str, Any] = {} if configured is None else {"FLYAGENTS_WEBHOOK_SECRET": configured}
    bot, url = await start_webhook_bot(bot_factory, **extra)
    (registered,) = bot.requests("setWebhook")
    if configured is not None:
        assert registered["params"]["secret_token"] == configured
    forged = forged_update("/tenant add evilcorp")

    async with httpx.AsyncClient() as http:
        without = await http.post(url, json=forged)
        wrong = await http.post(url, json=forged, headers={SECRET_HEADER: "guessed-secret"})
        empty = await http.post(url, json=forged, headers={SECRET_HEADER: ""})

    assert (without.status_code, wrong.status_code, empty.status_code) == (403, 403, 403)
    # A real update after the forged ones: once it is answered, the forged ones would have been.
    sent = await bot.send(ADMIN, "/help")
    await bot.reply_to(ADMIN["id"], sent, "Admin commands")
    logged = caplog.text  # before this test's own store queries log their arguments
    assert await bot.store.tenants.get("evilcorp") is None
    audited = await bot.store.audit.entries(limit=1000)
    assert not [e for e in audited if "evilcorp" in json.dumps(e, default=str)]
    said = [m["text"] for m in bot.bot_messages(ADMIN["id"])]
    assert len(said) == 1 and said[0].startswith("Admin commands")
    assert not any("evilcorp" in m.get("text", "") for m in bot.bot_messages(OPS_CHAT))
    assert "evilcorp" not in logged


async def test_webhook_mode_without_a_configured_secret_registers_a_strong_one_and_serves_updates(
    bot_factory: BotFactory,
) -> None:
    bot, url = await start_webhook_bot(bot_factory)

    (registered,) = bot.requests("setWebhook")
    params = registered["params"]
    allowed = params["allowed_updates"]
    allowed = json.loads(allowed) if isinstance(allowed, str) else allowed
    assert params["url"] == url
    assert re.fullmatch(r"[A-Za-z0-9_-]{32,256}", params["secret_token"])
    assert sorted(allowed) == ["callback_query", "message"]
    assert registered["answer"]["ok"] is True
    assert bot.requests("getWebhookInfo"), "the bot checks what Telegram registered"

    # Updates reach the bot only through the webhook, carried by the emulator as by Telegram.
    sent = await bot.send(ADMIN, "/help")
    await bot.reply_to(ADMIN["id"], sent, "Admin commands")
    sent = await bot.send(ADMIN, "/tenant add acme")
    await bot.reply_to(ADMIN["id"], sent, "acme")
    assert await bot.store.tenants.get("acme") is not None
    bots = (await bot.tg_http.get("/_emulator/bots")).json()["bots"]
    assert bots[0]["webhook_url"] == url and bots[0]["polling"] is False
    assert bots[0]["pending_update_count"] == 0


async def test_a_webhook_taken_over_by_another_url_is_reported_to_ops(
    bot_factory: BotFactory,
) -> None:
    options = dataclasses.replace(BotOptions.for_tests(), webhook_check_interval_s=0.2)
    bot, url = await start_webhook_bot(bot_factory, options=options)
    # Another process with the same token moves the webhook elsewhere (Telegram can't reach it).
    async with httpx.AsyncClient(base_url=bot.tg.root_url) as http:
        moved = await http.post(
            f"/bot{BOT_TOKEN}/setWebhook", json={"url": "https://elsewhere.example.com/hook"}
        )
    assert moved.json()["ok"] is True
    await bot.send(ADMIN, "/help")  # waits at Telegram: its webhook cannot be reached

    alert = await bot.reply_to(OPS_CHAT, 0, "elsewhere.example.com")
    assert "FLYAGENTS_WEBHOOK_URL" in alert["text"]
    assert url in alert["text"]
    failed = await bot.reply_to(OPS_CHAT, 0, "Failed to resolve host")
    assert "waiting" in failed["text"]
