"""`/model` refuses gpt-5-mini however an admin decorates it (issue 14, defect 14b)."""

from __future__ import annotations

import pytest
from tg_harness import ADMIN, BotHarness

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

DECORATED = ["openai/gpt-5.0-mini", "x:gpt-5-mini", "openai/GPT_5_Mini", "openai/gpt\u200b-5-mini"]


async def test_a_decorated_gpt_5_mini_is_refused_and_nothing_runs_on_the_machine(
    fast_bot: BotHarness,
) -> None:
    bot = fast_bot
    agent_id, _ = await bot.provision()
    before = len(await bot.execs("models set"))
    for model in DECORATED:
        sent = await bot.send(ADMIN, f"/model {agent_id} {model}")
        reply = await bot.reply_to(ADMIN["id"], sent, "❌")
        assert "gpt-5-mini must not be used" in reply["text"], (model, reply["text"])
    assert len(await bot.execs("models set")) == before
    assert (await bot.agent(agent_id)).model != "openai/gpt-5-mini"

    sent = await bot.send(ADMIN, f"/model {agent_id} openai/gpt-5")
    done = await bot.reply_to(ADMIN["id"], sent, lambda m: "✅" in m.get("text", ""))
    assert "openai/gpt-5" in done["text"]
