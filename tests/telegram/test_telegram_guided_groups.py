"""Guided mode in the ops group, where the bot is in privacy mode (Telegram's default).

In a group the bot sees commands, mentions of it and replies to its messages only, so each
question forces a reply, and an answer is the asking admin's reply to it. Another admin's
reply, or text that is not a reply, is not taken for the answer.
"""

from __future__ import annotations

from typing import Any

import pytest
from tg_harness import ADMIN, ADMIN_2, BOT_TOKEN, OPS_CHAT, BotHarness, until

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

GROUP = {"id": OPS_CHAT, "type": "supergroup", "title": "Ops"}


async def _say_in_group(
    bot: BotHarness, user: dict[str, Any], text: str, reply_to: int | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"from": user, "chat": GROUP, "text": text, "bot": BOT_TOKEN}
    if reply_to is not None:
        body["reply_to_message_id"] = reply_to
    answer = await bot.tg_http.post("/_emulator/updates", json=body)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_an_admin_answers_the_model_question_by_replying_in_the_group(
    bot: BotHarness,
) -> None:
    agent_id, _ = await bot.provision()
    before = (await bot.agent(agent_id)).model
    command = await _say_in_group(bot, ADMIN, "/model")
    which_agent = await bot.reply_to(OPS_CHAT, command["message_id"], "Which agent?")
    await bot.press(ADMIN, which_agent["message_id"], bot.buttons(which_agent)[0], OPS_CHAT)
    which_model = await bot.reply_to(OPS_CHAT, which_agent["message_id"], "Which model?")
    assert which_model["reply_keyboard"]["force_reply"] is True
    assert which_model["reply_keyboard"]["selective"] is True
    # The question mentions the asking admin, so Telegram opens the reply field for Ann only.
    mentions = [e for e in which_model["entities"] if e["type"] == "text_mention"]
    assert [e["user"]["id"] for e in mentions] == [ADMIN["id"]]

    # Not replies: privacy mode keeps them from the bot altogether.
    unseen = await _say_in_group(bot, ADMIN, "openai/not-a-reply")
    assert unseen["update_id"] is None
    # Another admin's reply reaches the bot but is not the asking admin's answer.
    other = await _say_in_group(bot, ADMIN_2, "openai/from-bob", reply_to=which_model["message_id"])
    assert other["update_id"] is not None

    answer = await _say_in_group(
        bot, ADMIN, "moonshotai/kimi-k2.5", reply_to=which_model["message_id"]
    )
    await bot.reply_to(OPS_CHAT, answer["message_id"], "is now")

    async def model_set() -> bool:
        return bool((await bot.agent(agent_id)).model == "moonshotai/kimi-k2.5")

    await until(model_set, what="the model to be set")
    assert before != "moonshotai/kimi-k2.5"
    sets = await bot.execs("models set")
    assert [e["argv"][-1] for e in sets].count("openai/from-bob") == 0
    bot_texts = [m["text"] for m in bot.bot_messages(OPS_CHAT)]
    assert not any("from-bob" in text for text in bot_texts), bot_texts
