"""Whole flows through the real bot: provisioning, invites, end-user pairing, approval cards."""

from __future__ import annotations

import asyncio

import pytest
from tg_harness import (
    ADMIN,
    ADMIN_2,
    END_USER,
    OPS_CHAT,
    OTHER_USER,
    BotHarness,
    until,
)

from storage.models import AgentStatus, PairingState

# PTB builds RetryAfter (a 429 in a private chat) with an attribute it deprecates itself.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


async def _linked_agent(bot: BotHarness) -> tuple[str, str]:
    """A provisioned agent linked to END_USER; returns (agent id, machine id)."""
    agent_id, invite = await bot.provision()
    await bot.link(END_USER, invite)
    agent = await bot.agent(agent_id)
    assert agent.machine_id is not None
    return agent_id, agent.machine_id


async def _submitted(bot: BotHarness, agent_id: str, machine_id: str) -> tuple[str, str, int]:
    """END_USER sends a code the agent issued to them; returns (request id, code, message id)."""
    code = await bot.pairing_code(machine_id, END_USER["id"])
    sent = await bot.send(END_USER, code)
    await bot.reply_to(END_USER["id"], sent, "waiting for an operator")
    request = (await bot.store.pairing.for_agent(agent_id))[-1]
    return request.id, code, sent


async def test_admin_provisions_user_links_and_pairs_after_one_approval(bot: BotHarness) -> None:
    agent_id, invite = await bot.provision()

    # Progress was shown by editing one message, step by step.
    edits = [r["params"]["text"] for r in bot.requests("editMessageText") if r["status"] == 200]
    assert any("volume ✓" in text and "machine …" in text for text in edits), edits
    assert any("gateway ✓" in text and "model" in text for text in edits), edits
    progress_ids = {r["params"]["message_id"] for r in bot.requests("editMessageText")}
    assert len(progress_ids) == 1

    await bot.link(END_USER, invite)
    agent = await bot.agent(agent_id)
    assert agent.telegram_user_id == END_USER["id"]
    assert agent.machine_id is not None

    code = await bot.pairing_code(agent.machine_id, END_USER["id"])
    sent = await bot.send(END_USER, code)
    await bot.reply_to(END_USER["id"], sent, "waiting for an operator")

    request = (await bot.store.pairing.for_agent(agent_id))[-1]
    card = await bot.card_for(request.id)
    for part in (code, agent_id, "acme/alice", "Uma", "Time:"):
        assert part in card["text"]
    assert bot.buttons(card) == [f"pa:{request.id}", f"pr:{request.id}"]

    await bot.press(ADMIN, card["message_id"], f"pa:{request.id}", chat_id=OPS_CHAT)

    told = await bot.reply_to(END_USER["id"], sent, "Paired")
    assert code in told["text"]
    card_now = await bot.shows(OPS_CHAT, card["message_id"], "succeeded")
    assert "Ann" in card_now["text"]
    assert bot.buttons(card_now) == []
    assert len(await bot.execs("pairing approve")) == 1
    assert (await bot.store.pairing.get(request.id)).state is PairingState.SUCCEEDED


async def test_an_approval_runs_before_its_card_is_edited_once_with_the_outcome(
    bot: BotHarness,
) -> None:
    agent_id, machine_id = await _linked_agent(bot)
    request_id, _, _ = await _submitted(bot, agent_id, machine_id)
    card = await bot.card_for(request_id)

    def card_edits() -> list[str]:
        return [
            r["params"]["text"]
            for r in bot.requests("editMessageText")
            if int(r["params"].get("message_id", 0)) == card["message_id"]
        ]

    assert card_edits() == []
    await bot.press(ADMIN, card["message_id"], f"pa:{request_id}", chat_id=OPS_CHAT)

    await bot.shows(OPS_CHAT, card["message_id"], "succeeded")
    await until(lambda: len(bot.callback_answers()) == 1, what="the press to be answered")
    assert "Approving" in bot.callback_answers()[0]["text"]
    # One edit, and it already carries the outcome: nothing was shown (or waited for) before
    # `pairing approve` ran.
    edits = card_edits()
    assert len(edits) == 1 and "succeeded" in edits[0] and "Ann" in edits[0]
    assert len(await bot.execs("pairing approve")) == 1


async def test_a_forwarded_openclaw_pairing_message_is_read_for_its_code(bot: BotHarness) -> None:
    agent_id, machine_id = await _linked_agent(bot)
    code = await bot.pairing_code(machine_id, END_USER["id"])
    openclaw_message = (
        "OpenClaw: access not configured.\n\nYour Telegram user id: 2002\nPairing code:\n\n"
        f"{code}\n\nAsk the bot owner to approve with:\n\n"
        f"openclaw pairing approve telegram {code}"
    )
    sent = await bot.send(
        END_USER,
        openclaw_message,
        forward_from={"id": 7000000001, "is_bot": True, "first_name": "Agent"},
    )

    await bot.reply_to(END_USER["id"], sent, code)
    requests = await bot.store.pairing.for_agent(agent_id)
    assert [(r.code, r.state) for r in requests] == [(code, PairingState.SUBMITTED)]


async def test_an_end_user_cannot_pair_or_see_someone_elses_agent(bot: BotHarness) -> None:
    alice_id, alice_machine = await _linked_agent(bot)
    _, bob_invite = await bot.provision(user="bob")
    await bot.link(OTHER_USER, bob_invite)
    code = await bot.pairing_code(alice_machine, OTHER_USER["id"])
    fly_before = len(await bot.fly_requests())

    for text in (f"/pair {alice_id} {code}", f"/pair acme/alice {code}", f"/status {alice_id}"):
        sent = await bot.send(OTHER_USER, text)
        reply = await bot.reply_to(OTHER_USER["id"], sent)
        assert "only see and pair your own agent" in reply["text"]

    assert await bot.store.pairing.for_agent(alice_id) == []
    assert len(await bot.fly_requests()) == fly_before
    assert await bot.execs("pairing approve") == []


async def test_two_admins_approving_at_once_run_the_pairing_once(bot: BotHarness) -> None:
    agent_id, machine_id = await _linked_agent(bot)
    request_id, _, sent = await _submitted(bot, agent_id, machine_id)
    card = await bot.card_for(request_id)
    data = f"pa:{request_id}"

    await asyncio.gather(
        bot.press(ADMIN, card["message_id"], data, chat_id=OPS_CHAT),
        bot.press(ADMIN_2, card["message_id"], data, chat_id=OPS_CHAT),
        bot.press(ADMIN, card["message_id"], data, chat_id=OPS_CHAT),
    )

    await bot.shows(OPS_CHAT, card["message_id"], "succeeded")
    await until(lambda: len(bot.callback_answers()) == 3, what="every press to be answered")
    assert len(await bot.execs("pairing approve")) == 1
    answers = [a["text"] for a in bot.callback_answers()]
    assert sum("Already being handled" in (text or "") for text in answers) == 2
    told = await bot.reply_to(END_USER["id"], sent, "Paired")
    assert [m for m in bot.bot_messages(END_USER["id"]) if "Paired" in m["text"]] == [told]


async def test_a_double_tap_after_the_outcome_runs_nothing_again(bot: BotHarness) -> None:
    agent_id, machine_id = await _linked_agent(bot)
    request_id, _, _ = await _submitted(bot, agent_id, machine_id)
    card = await bot.card_for(request_id)
    # A second copy of the card (from /pending) still shows the Approve button.
    sent = await bot.send(ADMIN, "/pending")
    copy = await bot.reply_to(ADMIN["id"], sent, request_id)

    await bot.press(ADMIN, card["message_id"], f"pa:{request_id}", chat_id=OPS_CHAT)
    await bot.shows(OPS_CHAT, card["message_id"], "succeeded")
    await bot.press(ADMIN, copy["message_id"], f"pa:{request_id}")

    stale = await bot.shows(ADMIN["id"], copy["message_id"], "already")
    assert bot.buttons(stale) == []
    assert len(await bot.execs("pairing approve")) == 1


async def test_a_rejected_code_is_never_run_and_the_user_is_told(bot: BotHarness) -> None:
    agent_id, machine_id = await _linked_agent(bot)
    request_id, _, sent = await _submitted(bot, agent_id, machine_id)
    card = await bot.card_for(request_id)

    await bot.press(ADMIN_2, card["message_id"], f"pr:{request_id}", chat_id=OPS_CHAT)

    await bot.shows(OPS_CHAT, card["message_id"], "rejected by Bob")
    await bot.reply_to(END_USER["id"], sent, "declined")
    assert (await bot.store.pairing.get(request_id)).state is PairingState.REJECTED
    assert await bot.execs("pairing approve") == []


async def test_a_stuck_pairing_offers_a_restart_then_one_retry_once_healthy(
    bot: BotHarness,
) -> None:
    agent_id, machine_id = await _linked_agent(bot)
    request_id, _, sent = await _submitted(bot, agent_id, machine_id)
    await bot.fly_fault(
        {"exec_hang": {"machine_id": machine_id, "match": "pairing approve", "count": 1}}
    )
    card = await bot.card_for(request_id)

    await bot.press(ADMIN, card["message_id"], f"pa:{request_id}", chat_id=OPS_CHAT)

    stuck = await bot.shows(OPS_CHAT, card["message_id"], "stuck")
    assert bot.buttons(stuck) == [f"rs:{agent_id}"]
    await bot.reply_to(END_USER["id"], sent, "taking longer than expected")

    await bot.press(ADMIN, card["message_id"], f"rs:{agent_id}", chat_id=OPS_CHAT)
    restarted = await bot.reply_to(
        OPS_CHAT, card["message_id"], lambda m: "Restarted" in m.get("text", "")
    )
    assert "retried once" in restarted["text"]
    assert bot.buttons(restarted) == [f"rt:{request_id}"]
    assert bot.buttons(bot.message(OPS_CHAT, card["message_id"])) == []

    await bot.press(ADMIN, restarted["message_id"], f"rt:{request_id}", chat_id=OPS_CHAT)

    await bot.shows(OPS_CHAT, restarted["message_id"], "succeeded")
    await bot.reply_to(END_USER["id"], sent, "Paired")
    approves = await bot.execs("pairing approve")
    assert [e["status"] for e in approves] == ["killed", "completed"]


async def test_deprovision_waits_for_the_confirmation_of_the_admin_who_asked(
    bot: BotHarness,
) -> None:
    agent_id, _ = await bot.provision()
    sent = await bot.send(ADMIN, f"/deprovision {agent_id}")
    ask = await bot.reply_to(ADMIN["id"], sent, "destroys its machine")
    confirm, cancel = bot.buttons(ask)
    assert confirm.startswith("cf:") and cancel.startswith("cx:")
    assert (await bot.agent(agent_id)).status is AgentStatus.RUNNING

    await bot.press(ADMIN, ask["message_id"], confirm)
    await bot.press(ADMIN, ask["message_id"], confirm)

    await bot.shows(ADMIN["id"], ask["message_id"], "Deprovisioned")
    await until(lambda: len(bot.callback_answers()) == 2, what="both taps to be answered")
    assert "expired or was already used" in bot.callback_answers()[1]["text"]
    assert (await bot.agent(agent_id)).status is AgentStatus.DELETED
    destroys = [
        r for r in await bot.fly_requests() if r["method"] == "DELETE" and "/machines/" in r["path"]
    ]
    assert len(destroys) == 1


async def test_a_cancelled_confirmation_changes_nothing(bot: BotHarness) -> None:
    agent_id, _ = await bot.provision()
    sent = await bot.send(ADMIN, f"/clearsecrets {agent_id}")
    ask = await bot.reply_to(ADMIN["id"], sent, "deletes every secret")
    _, cancel = bot.buttons(ask)

    await bot.press(ADMIN, ask["message_id"], cancel)

    await bot.shows(ADMIN["id"], ask["message_id"], "Cancelled")
    metas = await bot.runtime.service.get_agent_secrets_meta(agent_id)  # type: ignore[union-attr]
    assert "TELEGRAM_BOT_TOKEN" in {meta.name for meta in metas}


async def test_missing_values_are_asked_for_with_buttons_then_typed(bot: BotHarness) -> None:
    agent_id, _ = await bot.provision()
    sent = await bot.send(ADMIN, "/model")
    question = await bot.reply_to(ADMIN["id"], sent, "Which agent?")
    pick = bot.buttons(question)[0]
    assert pick.startswith("gp:")

    await bot.press(ADMIN, question["message_id"], pick)
    asked = await bot.reply_to(ADMIN["id"], question["message_id"], "Which model?")
    answered = await bot.send(ADMIN, "moonshotai/kimi-k2.5")

    await bot.reply_to(ADMIN["id"], answered, "is now")
    assert (await bot.agent(agent_id)).model == "moonshotai/kimi-k2.5"
    assert asked["message_id"] > question["message_id"]


async def test_restart_command_reports_that_a_stuck_code_was_applied(bot: BotHarness) -> None:
    agent_id, machine_id = await _linked_agent(bot)
    request_id, _, sent = await _submitted(bot, agent_id, machine_id)
    # The command completes inside the machine but answers too late: outcome unknown.
    await bot.fly_fault(
        {
            "exec_slow": {
                "machine_id": machine_id,
                "match": "pairing approve",
                "seconds": 1,
                "count": 1,
            }
        }
    )
    card = await bot.card_for(request_id)
    await bot.press(ADMIN, card["message_id"], f"pa:{request_id}", chat_id=OPS_CHAT)
    await bot.shows(OPS_CHAT, card["message_id"], "stuck")
    await until(
        lambda: bot.execs("pairing approve"),
        what="the slow approve to be recorded",
    )

    async def approve_finished() -> bool:
        return any(e["status"] == "completed" for e in await bot.execs("pairing approve"))

    await until(approve_finished, what="the slow approve to finish inside the machine")
    command = await bot.send(ADMIN, f"/restart {agent_id}")

    done = await bot.reply_to(ADMIN["id"], command, "applied")
    assert bot.buttons(done) == []
    await bot.reply_to(END_USER["id"], sent, "Paired")
    assert (await bot.store.pairing.get(request_id)).state is PairingState.SUCCEEDED
    assert len(await bot.execs("pairing approve")) == 1
