"""`/secret`: the message is deleted at once and the value is never echoed, logged or kept plain."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from tg_harness import ADMIN, AGENT_BOT_TOKEN, OPS_CHAT, BotHarness

CANARY = "CANARYsk-7f3a9e1b5c2d4e6f8a0b1c2d3e4f5a6b"
CANARY_2 = "CANARYoa-0a1b2c3d4e5f60718293a4b5c6d7e8f9"


def _database_bytes(db_path: Path) -> bytes:
    """The SQLite file and its journal files, as stored on disk."""
    return b"".join(
        path.read_bytes() for path in db_path.parent.glob(db_path.name + "*") if path.is_file()
    )


def _everything_the_bot_sent(bot: BotHarness) -> str:
    sent = [
        str(request["params"])
        for request in bot.requests()
        if request["method"] not in ("getUpdates", "getMe")
    ]
    shown = [str(m.get("text")) for chat in (ADMIN["id"], OPS_CHAT) for m in bot.bot_messages(chat)]
    return "\n".join(sent + shown)


async def test_a_secret_is_deleted_from_the_chat_and_never_echoed_logged_or_stored_plain(
    bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    agent_id, _ = await bot.provision()

    # In one line, and guided (the value comes as the answer to a question).
    one_line = await bot.send(ADMIN, f"/secret {agent_id} LLM_API_KEY={CANARY}")
    stored = await bot.reply_to(ADMIN["id"], one_line, "Stored")
    ask = await bot.send(ADMIN, f"/secret {agent_id}")
    await bot.reply_to(ADMIN["id"], ask, "NAME=VALUE")
    answer = await bot.send(ADMIN, f"OPENAI_API_KEY={CANARY_2}")
    await bot.reply_to(ADMIN["id"], answer, "Stored")
    # A malformed one is deleted too, and its value is not repeated in the refusal.
    malformed = await bot.send(ADMIN, f"/secret {agent_id} 1BAD={CANARY}")
    await bot.reply_to(ADMIN["id"], malformed, "NAME=VALUE")

    for message_id in (one_line, answer, malformed):
        assert bot.message(ADMIN["id"], message_id)["deleted"] is True
    assert "LLM_API_KEY" in stored["text"]
    assert CANARY not in _everything_the_bot_sent(bot)
    assert CANARY_2 not in _everything_the_bot_sent(bot)
    assert CANARY not in caplog.text and CANARY_2 not in caplog.text
    assert CANARY[6:20] not in caplog.text
    on_disk = _database_bytes(bot.db_path)
    assert CANARY.encode() not in on_disk and CANARY_2.encode() not in on_disk
    assert AGENT_BOT_TOKEN.encode() not in on_disk
    service = bot.runtime.service
    assert service is not None
    names = {meta.name for meta in await service.get_agent_secrets_meta(agent_id)}
    assert {"LLM_API_KEY", "OPENAI_API_KEY", "TELEGRAM_BOT_TOKEN"} <= names
    # The vault really holds the value (encrypted), so it was stored, not dropped.
    config = await service.ctx.config_for(await service.find_agent(agent_id))
    assert config.secrets["LLM_API_KEY"].get_secret_value() == CANARY


async def test_a_secret_sent_in_a_group_is_refused_and_not_stored(bot: BotHarness) -> None:
    agent_id, _ = await bot.provision()
    sent = await bot.send_in_ops(ADMIN, f"/secret {agent_id} LLM_API_KEY={CANARY}")

    reply = await bot.reply_to(OPS_CHAT, sent, "private chat")

    assert "rotate" in reply["text"]
    assert CANARY not in _everything_the_bot_sent(bot)
    service = bot.runtime.service
    assert service is not None
    config = await service.ctx.config_for(await service.find_agent(agent_id))
    assert config.secrets["LLM_API_KEY"].get_secret_value() != CANARY


async def test_secrets_listing_shows_names_and_fingerprints_only(bot: BotHarness) -> None:
    agent_id, _ = await bot.provision()
    sent = await bot.send(ADMIN, f"/secrets {agent_id}")

    listing = await bot.reply_to(ADMIN["id"], sent, "names only")

    assert "TELEGRAM_BOT_TOKEN" in listing["text"]
    assert AGENT_BOT_TOKEN not in listing["text"]
    assert AGENT_BOT_TOKEN.split(":")[1][:10] not in listing["text"]


# NUL, the bidi embeddings/overrides/isolates and the zero-width characters.
HIDDEN_CHARACTERS = "\x00\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069" + (
    "\u200b\u200c\u200d\u2060\ufeff"
)


async def test_a_secret_value_with_an_invisible_or_direction_changing_character_is_refused(
    fast_bot: BotHarness,
) -> None:
    bot = fast_bot
    agent_id, _ = await bot.provision()
    service = bot.runtime.service
    assert service is not None

    for hidden in HIDDEN_CHARACTERS:
        sent = await bot.send(ADMIN, f"/secret {agent_id} OPENAI_API_KEY=sk-abc{hidden}def123456")
        reply = await bot.reply_to(ADMIN["id"], sent, "not accepted")

        what = f"U+{ord(hidden):04X}"
        assert "bidi" in reply["text"] and "zero-width" in reply["text"], what
        assert "nothing was stored" in reply["text"], what
        assert bot.message(ADMIN["id"], sent)["deleted"] is True, what
        names = {meta.name for meta in await service.get_agent_secrets_meta(agent_id)}
        assert "OPENAI_API_KEY" not in names, what
