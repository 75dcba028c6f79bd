"""Who may do what: every admin command from anyone else is refused and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from tg_harness import (
    ADMIN,
    END_USER,
    OPS_CHAT,
    OTHER_USER,
    STRANGER,
    BotHarness,
)

from bot.telegram.commands import ADMIN_BY_NAME
from bot.telegram.render import ADMIN_ONLY_LINE, STRANGER_LINE

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def admin_command_lines(agent_id: str, code: str) -> list[str]:
    """Every admin command, complete, so it would act if the sender were allowed to."""
    return [
        "/provision tenant=acme user=carol model=moonshotai/kimi-k2.5 skills=a,b region=ams",
        "/list",
        "/list tenant=acme",
        f"/status {agent_id}",
        f"/wake {agent_id}",
        f"/stop {agent_id}",
        f"/restart {agent_id}",
        f"/deprovision {agent_id}",
        f"/snapshot {agent_id}",
        f"/recreate {agent_id}",
        f"/model {agent_id} moonshotai/kimi-k2.5",
        f"/skills {agent_id} calendar,mail",
        f"/secret {agent_id} LLM_API_KEY=sk-not-from-an-admin-000000",
        f"/secrets {agent_id}",
        f"/clearsecrets {agent_id}",
        f"/pair {agent_id} {code}",
        "/pending",
        f"/invite {agent_id}",
        f"/unlink {agent_id}",
        f"/audit {agent_id}",
        "/audit",
        "/tenant add evil Evil Corp",
        "/help",
    ]


async def fleet_state(bot: BotHarness) -> dict[str, Any]:
    store = bot.store
    agents = await store.agents.live()
    service = bot.runtime.service
    assert service is not None
    return {
        "agents": [
            (a.id, a.status, a.model, a.allowed_skills, a.telegram_user_id, a.machine_id)
            for a in agents
        ],
        "pairing": [[(r.id, r.state) for r in await store.pairing.for_agent(a.id)] for a in agents],
        "secrets": [
            [(m.name, m.fingerprint) for m in await service.get_agent_secrets_meta(a.id)]
            for a in agents
        ],
        "invites": [len(await store.invites.for_agent(a.id)) for a in agents],
        "audit": len(await store.audit.entries(limit=100_000)),
        "outbox": len(await store.outbox.recent(limit=100_000)),
        "fly_requests": len(await bot.fly_requests()),
        "execs": len(await bot.execs()),
    }


async def _two_linked_agents(bot: BotHarness) -> tuple[str, str]:
    """acme/alice linked to END_USER and acme/bob linked to OTHER_USER; (alice's id, a code)."""
    alice, alice_invite = await bot.provision()
    await bot.link(END_USER, alice_invite)
    _, bob_invite = await bot.provision(user="bob")
    await bot.link(OTHER_USER, bob_invite)
    machine = (await bot.agent(alice)).machine_id
    assert machine is not None
    code = await bot.pairing_code(machine, END_USER["id"])
    return alice, code


@pytest.mark.parametrize("sender", ["stranger", "someone_elses_end_user"])
async def test_every_admin_command_from_a_non_admin_is_refused_and_changes_nothing(
    fast_bot: BotHarness, sender: str
) -> None:
    bot = fast_bot
    alice, code = await _two_linked_agents(bot)
    user = STRANGER if sender == "stranger" else OTHER_USER
    lines = admin_command_lines(alice, code)
    assert {line.split()[0][1:] for line in lines} == set(ADMIN_BY_NAME)
    before = await fleet_state(bot)
    replies_before = len(bot.bot_messages(user["id"]))

    refusals = []
    for line in lines:
        sent = await bot.send(user, line)
        reply = await bot.reply_to(user["id"], sent)
        refusals.append((line.split()[0], reply["text"], bot.buttons(reply)))

    for name, text, buttons in refusals:
        assert buttons == [], name
        if sender == "stranger":
            assert text == STRANGER_LINE, name
        elif name in ("/status", "/pair"):
            assert text == "You can only see and pair your own agent.", name
        elif name == "/help":
            assert "/provision" not in text and "/pair CODE" in text
        else:
            assert text == ADMIN_ONLY_LINE, name
    # One line per command and nothing else, and nothing anywhere changed.
    assert len(bot.bot_messages(user["id"])) == replies_before + len(lines)
    assert await fleet_state(bot) == before


async def test_a_stranger_gets_one_polite_line_for_anything_then_silence(bot: BotHarness) -> None:
    before = await fleet_state(bot)
    for text in ("hello", "F864XLAV", "/start", "/nonsense"):
        await bot.send(STRANGER, text)
    sent = await bot.send(STRANGER, "/start not-a-real-invite-token-000000")
    await bot.reply_to(STRANGER["id"], sent, "Sorry, this invite link")
    await bot.all_handled()
    # One refusal in the window (BotOptions.refusal_window_s); a wrong invite is still told.
    texts = [m["text"] for m in bot.bot_messages(STRANGER["id"])]
    assert texts[0] == STRANGER_LINE and len(texts) == 2, texts
    assert texts[1].startswith("Sorry, this invite link")
    assert await fleet_state(bot) == before


async def test_buttons_pressed_by_non_admins_do_nothing(bot: BotHarness) -> None:
    alice, _ = await _two_linked_agents(bot)
    machine = (await bot.agent(alice)).machine_id
    assert machine is not None
    code = await bot.pairing_code(machine, END_USER["id"])
    sent = await bot.send(END_USER, f"/pair {code}")
    await bot.reply_to(END_USER["id"], sent, "waiting")
    request = (await bot.store.pairing.for_agent(alice))[-1]
    card = await bot.card_for(request.id)
    asked = await bot.send(ADMIN, f"/deprovision {alice}")
    confirm = await bot.reply_to(ADMIN["id"], asked, "destroys")
    before = await fleet_state(bot)

    # Members of the ops chat who are not admins press Approve and Reject.
    for who in (OTHER_USER, END_USER):
        for data in bot.buttons(card):
            await bot.press(who, card["message_id"], data, chat_id=OPS_CHAT)
    await bot.all_handled()

    # Each of them is told once (refusal_window_s); their second press gets no answer.
    assert [a["text"] for a in bot.callback_answers()] == [ADMIN_ONLY_LINE] * 2
    assert await fleet_state(bot) == before
    assert bot.message(OPS_CHAT, card["message_id"])["text"] == card["text"]
    assert bot.buttons(bot.message(ADMIN["id"], confirm["message_id"]))
