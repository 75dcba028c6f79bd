"""A secret that Fly quotes back in an error body (`invalid config: env.X: value … is not
allowed`) goes nowhere: not to any chat, the log, the audit log, the outbox, an agent's
last error, nor anywhere in the database file."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

import pytest
from tg_harness import ADMIN, BOT_TOKEN, BotHarness, until

from emulators.telegram.users_side import select_bot

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def _echoing_fly_refuses(name: str, path_regex: str) -> dict[str, Any]:
    return {
        "route": {"method": "POST", "path_regex": path_regex},
        "status": 422,
        "echo_env": name,
        "count": 1,
    }


def _every_chat_message(bot: BotHarness) -> str:
    """Every message still in any chat (the admin's own /secret messages were deleted)."""
    chats = select_bot(bot.tg.world, BOT_TOKEN).chats
    return "\n".join(
        str(message)
        for chat_id in list(chats)
        for message in bot.tg.messages(chat_id, BOT_TOKEN)
        if not message.get("deleted")
    )


def _database_bytes(db_path: Path) -> bytes:
    """The SQLite file, its WAL and shared memory, as stored on disk."""
    return b"".join(
        path.read_bytes() for path in db_path.parent.glob(db_path.name + "*") if path.is_file()
    )


async def _told_admin(bot: BotHarness, after: int, text: str) -> dict[str, Any]:
    """The admin's message after `after` (new, or edited since) that now contains `text`."""

    def found() -> dict[str, Any] | None:
        for message in bot.bot_messages(ADMIN["id"]):
            if message["message_id"] > after and text in message.get("text", ""):
                return message
        return None

    try:
        return await until(found, 30, f"the admin to be told {text!r}")
    except BaseException:
        print([m.get("text") for m in bot.bot_messages(ADMIN["id"])][-4:])
        raise


async def test_a_stored_secret_that_fly_quotes_back_in_an_error_is_never_repeated(
    fast_bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bot = fast_bot
    # Fresh values: none of them can be known to the process before this test stores them.
    recreate_canary = f"sk-proj-{secrets.token_hex(20)}"
    provision_canary = f"sk-proj-{secrets.token_hex(20)}"
    agent_id, _ = await bot.provision()
    sent = await bot.send(ADMIN, f"/snapshot {agent_id}")
    await bot.reply_to(ADMIN["id"], sent, "Snapshot")

    # Recreate: Fly refuses the new machine's config, quoting the stored value.
    sent = await bot.send(ADMIN, f"/secret {agent_id} OPENAI_API_KEY={recreate_canary}")
    await bot.reply_to(ADMIN["id"], sent, "Stored")
    await bot.fly_fault(_echoing_fly_refuses("OPENAI_API_KEY", r"/machines$"))
    sent = await bot.send(ADMIN, f"/recreate {agent_id}")
    ask = await bot.reply_to(ADMIN["id"], sent, "latest snapshot")
    await bot.press(ADMIN, ask["message_id"], bot.buttons(ask)[0])
    recreate_failed = await _told_admin(bot, sent, "env.OPENAI_API_KEY")

    # Provision: the value was staged with /secret for an agent still to be created.
    sent = await bot.send(ADMIN, f"/secret acme/bob OPENAI_API_KEY={provision_canary}")
    await bot.reply_to(ADMIN["id"], sent, "Stored")
    sent = await bot.send(ADMIN, f"/secret acme/bob TELEGRAM_BOT_TOKEN=7000000002:{'B' * 35}")
    await bot.reply_to(ADMIN["id"], sent, "Stored")
    await bot.fly_fault(_echoing_fly_refuses("OPENAI_API_KEY", r"/machines$"))
    sent = await bot.send(ADMIN, "/provision tenant=acme user=bob")
    provision_failed = await _told_admin(bot, sent, "env.OPENAI_API_KEY")

    # Fly did quote the values, and the admin was told why, without them.
    fly_said = [str(r.get("response_body")) for r in await bot.fly_requests()]
    assert any(recreate_canary in said for said in fly_said)
    assert any(provision_canary in said for said in fly_said)
    for failure in (recreate_failed, provision_failed):
        assert "value [redacted] is not allowed" in failure["text"]
    # Every alert about it was delivered before anything is read back.
    await until(lambda: _all_sent(bot), 30, "the outbox to be delivered")

    audit = await bot.store.db.fetch_all("SELECT * FROM audit_log")
    outbox = await bot.store.db.fetch_all("SELECT * FROM alert_outbox")
    agents = await bot.store.db.fetch_all("SELECT last_error FROM agents")
    assert any("env.OPENAI_API_KEY" in str(dict(row)) for row in [*audit, *outbox, *agents])
    for canary in (recreate_canary, provision_canary):
        assert canary not in _every_chat_message(bot)
        assert canary not in str([r["params"] for r in bot.requests()])
        assert canary not in caplog.text
        assert all(canary not in str(dict(row)) for row in [*audit, *outbox, *agents])
        assert canary.encode() not in _database_bytes(bot.db_path)


async def _all_sent(bot: BotHarness) -> bool:
    row = await bot.store.db.fetch_one("SELECT COUNT(*) FROM alert_outbox WHERE status = 'pending'")
    return row is not None and int(row[0]) == 0
