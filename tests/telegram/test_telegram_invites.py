"""Invite links for an agent that already has an end user (issue 14, defect 14d).

Redeeming an invite never swaps an agent's linked user silently: the first user stays linked,
the redeemer is refused politely (and not told who holds the agent), the linked user and the
ops chat are told, and an admin decides with /unlink — after which the same link works.
"""

from __future__ import annotations

import pytest
from tg_harness import ADMIN, END_USER, INVITE_RE, OPS_CHAT, OTHER_USER, BotHarness, until

from storage.models import AuditOutcome

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


async def _second_invite(bot: BotHarness, agent_id: str) -> str:
    sent = await bot.send(ADMIN, f"/invite {agent_id}")
    reply = await bot.reply_to(ADMIN["id"], sent, "t.me/")
    found = INVITE_RE.search(str(reply["text"]))
    assert found, reply["text"]
    return found.group(1)


async def test_an_invite_for_an_agent_with_a_linked_user_keeps_the_first_and_tells_everyone(
    fast_bot: BotHarness,
) -> None:
    bot = fast_bot
    agent_id, first_invite = await bot.provision()
    await bot.link(END_USER, first_invite)
    second_invite = await _second_invite(bot, agent_id)

    sent = await bot.send(OTHER_USER, f"/start {second_invite}")

    refused = await bot.reply_to(OTHER_USER["id"], sent, "already linked")
    assert "linked to your agent" not in refused["text"]
    assert str(END_USER["id"]) not in refused["text"]  # the holder is not named to the redeemer
    assert (await bot.agent(agent_id)).telegram_user_id == END_USER["id"]
    told = await bot.reply_to(END_USER["id"], 0, "Someone else opened an invite link")
    assert "still linked" in told["text"]

    def alert() -> dict[str, object] | None:
        for message in bot.bot_messages(OPS_CHAT):
            if "Invite refused" in message.get("text", "") and agent_id in message["text"]:
                return message
        return None

    card = await until(alert, 30, "the ops alert about the refused invite")
    text = str(card["text"])
    assert str(END_USER["id"]) in text and str(OTHER_USER["id"]) in text
    assert f"/unlink {agent_id}" in text
    entries = await bot.store.audit.entries(target=agent_id, limit=50)
    assert any(e.action == "invite.redeem" and e.outcome is AuditOutcome.REFUSED for e in entries)

    # The admin decides: release the agent; the first user is told; the same link now works.
    sent = await bot.send(ADMIN, f"/unlink {agent_id}")
    await bot.reply_to(ADMIN["id"], sent, "no longer linked")
    await bot.reply_to(END_USER["id"], 0, "released your link")
    assert (await bot.agent(agent_id)).telegram_user_id is None

    await bot.link(OTHER_USER, second_invite)
    assert (await bot.agent(agent_id)).telegram_user_id == OTHER_USER["id"]


async def test_the_linked_user_opening_another_invite_for_their_agent_stays_linked(
    fast_bot: BotHarness,
) -> None:
    bot = fast_bot
    agent_id, first_invite = await bot.provision()
    await bot.link(END_USER, first_invite)
    second_invite = await _second_invite(bot, agent_id)

    await bot.link(END_USER, second_invite)

    assert (await bot.agent(agent_id)).telegram_user_id == END_USER["id"]
    assert not [m for m in bot.bot_messages(OPS_CHAT) if "Invite refused" in m.get("text", "")]
