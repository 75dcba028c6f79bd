"""A pairing card is never locked: the decision hold is released on every path and expires.

Answering a button press can fail (Telegram answers 5xx, or the 15 s answer window passed);
the press is still the admin's decision, and whatever happens, no copy of the card is left
"Already being handled" for good.
"""

from __future__ import annotations

import pytest
from tg_harness import ADMIN, ADMIN_2, END_USER, OPS_CHAT, BotFactory, BotHarness, until

from storage.models import PairingState

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


async def _card_waiting(bot: BotHarness) -> tuple[str, int, int]:
    """A linked agent and END_USER's code waiting on its card: (request id, card id, sent)."""
    agent_id, invite = await bot.provision()
    await bot.link(END_USER, invite)
    agent = await bot.agent(agent_id)
    code = await bot.pairing_code(agent.machine_id, END_USER["id"])
    sent = await bot.send(END_USER, code)
    await bot.reply_to(END_USER["id"], sent, "waiting for an operator")
    request = (await bot.store.pairing.for_agent(agent_id))[-1]
    card = await bot.card_for(request.id)
    return request.id, card["message_id"], sent


async def _pending_copy(bot: BotHarness, request_id: str) -> int:
    sent = await bot.send(ADMIN_2, "/pending")

    def copy() -> int | None:
        for message in bot.bot_messages(ADMIN_2["id"]):
            if message["message_id"] > sent and f"pa:{request_id}" in bot.buttons(message):
                return int(message["message_id"])
        return None

    return await until(copy, what="the /pending copy of the card")


async def test_a_press_whose_answer_fails_still_decides_and_frees_every_copy(
    bot: BotHarness,
) -> None:
    request_id, card_id, sent = await _card_waiting(bot)
    pending_copy = await _pending_copy(bot, request_id)
    await bot.tg_fault({"server_error": {"method": "answerCallbackQuery", "count": 1}})

    await bot.press(ADMIN, card_id, f"pa:{request_id}", chat_id=OPS_CHAT)

    await bot.shows(OPS_CHAT, card_id, "succeeded")
    await bot.reply_to(END_USER["id"], sent, "Paired")
    # Another admin on the /pending copy (its buttons are still there) is not told the
    # request is "being handled": it is done, and the copy shows that.
    before = len(bot.callback_answers())
    await bot.press(ADMIN_2, pending_copy, f"pa:{request_id}", chat_id=ADMIN_2["id"])
    await until(lambda: len(bot.callback_answers()) > before, what="the answer to the press")
    later = bot.callback_answers()[before]
    assert "Already being handled" not in (later.get("text") or ""), later
    await bot.shows(ADMIN_2["id"], pending_copy, "already approved and paired")
    assert (await bot.store.pairing.get(request_id)).state is PairingState.SUCCEEDED
    assert len(await bot.execs("pairing approve")) == 1


async def test_a_press_answered_too_late_still_decides_once(bot_factory: BotFactory) -> None:
    # Telegram's answer window already closed when the bot answers: every answer is refused.
    bot = await bot_factory(callback_answer_window=0.0)
    request_id, card_id, sent = await _card_waiting(bot)
    pending_copy = await _pending_copy(bot, request_id)

    await bot.press(ADMIN, card_id, f"pa:{request_id}", chat_id=OPS_CHAT)
    await bot.shows(OPS_CHAT, card_id, "succeeded")
    await bot.press(ADMIN_2, pending_copy, f"pa:{request_id}", chat_id=ADMIN_2["id"])

    await bot.shows(ADMIN_2["id"], pending_copy, "already approved and paired")
    await bot.reply_to(END_USER["id"], sent, "Paired")
    assert len(await bot.execs("pairing approve")) == 1
    refused = [r for r in bot.requests("answerCallbackQuery") if r["status"] == 400]
    assert len(refused) == 2


async def test_a_reject_whose_answer_fails_still_rejects(bot: BotHarness) -> None:
    request_id, card_id, sent = await _card_waiting(bot)
    await bot.tg_fault({"server_error": {"method": "answerCallbackQuery", "count": 1}})

    await bot.press(ADMIN_2, card_id, f"pr:{request_id}", chat_id=OPS_CHAT)

    await bot.shows(OPS_CHAT, card_id, "rejected by Bob")
    await bot.reply_to(END_USER["id"], sent, "declined")
    assert await bot.execs("pairing approve") == []


def test_a_decision_hold_expires_by_itself() -> None:
    from bot.telegram.pairing_desk import DecisionHolds

    now = [100.0]
    holds = DecisionHolds(ttl_s=30.0, clock=lambda: now[0])
    assert holds.take("pq_1", "Ann") is None
    assert holds.take("pq_1", "Bob") == "Ann"
    now[0] += 29.0
    assert holds.take("pq_1", "Bob") == "Ann"
    now[0] += 2.0
    # Ann's hold outlived its bound (a path that forgot to release it): Bob may decide.
    assert holds.take("pq_1", "Bob") is None
    holds.release("pq_1")
    holds.release("pq_1")  # releasing twice is harmless
    assert holds.take("pq_1", "Cy") is None
