"""An answer to the guided `/secret` question holds a secret: it is deleted whatever became of
the conversation — the flow timed out, the bot restarted, another command came in between —
and, the question being over, nothing is stored and the admin is told to run /secret again."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from tg_harness import ADMIN, BOT_TOKEN, BotFactory, BotHarness, start_bot, until

from bot.telegram import BotOptions
from storage import VaultKeyring

CANARY = "CANARYsk-late-answer-5c2d4e6f8a0b1c2d3e4f"


async def _answer(bot: BotHarness, text: str, *, reply_to: int | None = None) -> int:
    body: dict[str, Any] = {"from": ADMIN, "text": text, "bot": BOT_TOKEN}
    if reply_to is not None:
        body["reply_to_message_id"] = reply_to
    answer = await bot.tg_http.post("/_emulator/updates", json=body)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["message_id"])


async def _ask_for_a_secret(bot: BotHarness, agent_id: str) -> int:
    sent = await bot.send(ADMIN, f"/secret {agent_id}")
    question = await bot.reply_to(ADMIN["id"], sent, "NAME=VALUE")
    return int(question["message_id"])


async def _assert_deleted_and_not_stored(bot: BotHarness, agent_id: str, answer: int) -> None:
    await until(lambda: bot.message(ADMIN["id"], answer)["deleted"], 10, "the answer to be deleted")
    told = await bot.reply_to(ADMIN["id"], answer, "expired")
    assert "not stored" in told["text"] and "/secret" in told["text"]
    service = bot.runtime.service
    assert service is not None
    names = {meta.name for meta in await service.get_agent_secrets_meta(agent_id)}
    assert "OPENAI_API_KEY" not in names
    assert CANARY.encode() not in b"".join(
        path.read_bytes() for path in bot.db_path.parent.glob("bot.db*") if path.is_file()
    )


async def test_an_answer_after_the_question_timed_out_is_deleted_and_not_stored(
    bot_factory: BotFactory,
) -> None:
    # A flow that expires at once: every answer comes after its timeout.
    bot = await bot_factory(options=dataclasses.replace(BotOptions.for_tests(), flow_ttl_s=0.0))
    agent_id, _ = await bot.provision()
    await _ask_for_a_secret(bot, agent_id)

    answer = await bot.send(ADMIN, f"OPENAI_API_KEY={CANARY}")

    await _assert_deleted_and_not_stored(bot, agent_id, answer)


async def test_an_answer_after_another_command_is_deleted_and_not_stored(
    bot: BotHarness,
) -> None:
    agent_id, _ = await bot.provision()
    question = await _ask_for_a_secret(bot, agent_id)
    listed = await bot.send(ADMIN, "/list")
    await bot.reply_to(ADMIN["id"], listed, agent_id)

    typed = await bot.send(ADMIN, f"OPENAI_API_KEY={CANARY}")
    await _assert_deleted_and_not_stored(bot, agent_id, typed)
    # Also as a reply to the old question, once the chat moved on.
    replied = await _answer(bot, f"OPENAI_API_KEY={CANARY}", reply_to=question)
    await _assert_deleted_and_not_stored(bot, agent_id, replied)


async def test_an_answer_after_a_restart_is_deleted_and_not_stored(
    bot_factory: BotFactory, tmp_path: Path
) -> None:
    key = VaultKeyring.generate_env_value()
    first = await bot_factory(AGENT_SECRETS_ENCRYPTION_KEY=key)
    agent_id, _ = await first.provision()
    question = await _ask_for_a_secret(first, agent_id)
    await first.runtime.stop()

    bot = await start_bot(first.tg, first.fly, tmp_path, AGENT_SECRETS_ENCRYPTION_KEY=key)
    try:
        typed = await bot.send(ADMIN, f"OPENAI_API_KEY={CANARY}")
        await _assert_deleted_and_not_stored(bot, agent_id, typed)
        replied = await _answer(bot, f"OPENAI_API_KEY={CANARY}", reply_to=question)
        await _assert_deleted_and_not_stored(bot, agent_id, replied)
    finally:
        await bot.close()
