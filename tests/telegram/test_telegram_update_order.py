"""Update order and floods, through the Telegram emulator and the real bot (issue 14, 2 and 3).

One person's updates in a chat (messages and button presses) are handled one at a time in
Telegram's order, while other chats keep moving; a stranger is refused once, then ignored; a
stranger's flood, in private or in the ops group, never holds an admin's command or press.
Slowness comes from the emulators' faults (Fly latency, a Telegram answer held back), and the
tests assert what happened before what, never how long it took.
"""

from __future__ import annotations

from typing import Any

import pytest
from tg_harness import (
    ADMIN,
    ADMIN_2,
    END_USER,
    OPS_CHAT,
    STRANGER,
    BotHarness,
    until,
)

from bot.telegram.render import STRANGER_LINE

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

OPS = {"id": OPS_CHAT, "type": "supergroup", "title": "Ops"}


def _texts_after(bot: BotHarness, chat_id: int, after: int) -> list[str]:
    return [m.get("text", "") for m in bot.bot_messages(chat_id) if m["message_id"] > after]


async def _replies(bot: BotHarness, chat_id: int, after: int, count: int) -> list[str]:
    await until(
        lambda: len(_texts_after(bot, chat_id, after)) >= count,
        what=f"{count} replies in chat {chat_id}",
    )
    return _texts_after(bot, chat_id, after)


def _answered_sends_to(bot: BotHarness, chat_id: int) -> list[dict[str, Any]]:
    """sendMessage calls to `chat_id` that the emulator has answered (it logs a call once it
    answers it; a held-back answer is not logged yet)."""
    return [r for r in bot.requests("sendMessage") if int(r["params"]["chat_id"]) == chat_id]


async def _linked_agent(bot: BotHarness) -> tuple[str, str]:
    agent_id, invite = await bot.provision()
    await bot.link(END_USER, invite)
    agent = await bot.agent(agent_id)
    assert agent.machine_id is not None
    return agent_id, agent.machine_id


# --- defect 2: one chat's commands in order ------------------------------------------------------


async def test_back_to_back_tenant_add_then_set_are_handled_in_the_order_sent(
    fast_bot: BotHarness,
) -> None:
    bot = fast_bot
    first = await bot.send(ADMIN, "/tenant list")
    await bot.reply_to(ADMIN["id"], first)
    mark = max(m["message_id"] for m in bot.messages(ADMIN["id"]))
    tenants = [f"t{index}" for index in range(12)]

    # No waiting between any two: each pair reaches the bot back to back.
    for tenant in tenants:
        await bot.send(ADMIN, f"/tenant add {tenant}")
        await bot.send(ADMIN, f"/tenant set {tenant} FLY_REGION=ams")

    replies = await _replies(bot, ADMIN["id"], mark, 2 * len(tenants))
    assert not [text for text in replies if "No tenant" in text], replies
    for index, tenant in enumerate(tenants):
        assert f"Added tenant {tenant}" in replies[2 * index], replies[2 * index]
        assert "Stored" in replies[2 * index + 1], replies[2 * index + 1]
        profile = await bot.store.tenants.get(tenant)
        assert profile is not None and profile.overrides == {"FLY_REGION": "ams"}


async def test_a_button_press_and_the_next_command_are_handled_in_the_order_sent(
    fast_bot: BotHarness,
) -> None:
    bot = fast_bot
    tenants = [f"r{index}" for index in range(6)]
    questions: dict[str, dict[str, Any]] = {}
    for tenant in tenants:
        added = await bot.send(ADMIN, f"/tenant add {tenant} Old")
        await bot.reply_to(ADMIN["id"], added, "Added tenant")
        asked = await bot.send(ADMIN, f"/tenant remove {tenant}")
        questions[tenant] = await bot.reply_to(ADMIN["id"], asked, "deletes its profile")
    mark = max(m["message_id"] for m in bot.messages(ADMIN["id"]))

    # Confirm the removal, and add the tenant again at once: the add must see it removed.
    for tenant in tenants:
        question = questions[tenant]
        await bot.press(ADMIN, question["message_id"], bot.buttons(question)[0])
        await bot.send(ADMIN, f"/tenant add {tenant} New")

    replies = await _replies(bot, ADMIN["id"], mark, len(tenants))
    for tenant in tenants:
        await bot.shows(ADMIN["id"], questions[tenant]["message_id"], f"Removed tenant {tenant}")
    assert all("Added tenant" in text for text in replies), replies
    for tenant in tenants:
        profile = await bot.store.tenants.get(tenant)
        assert profile is not None and profile.display_name == "New", tenant


async def test_a_slow_command_holds_its_own_chat_in_order_but_not_another_chat(
    fast_bot: BotHarness,
) -> None:
    bot = fast_bot
    agent_id, machine_id = await _linked_agent(bot)
    mark = max(m["message_id"] for m in bot.messages(ADMIN["id"]))
    # Fly answers the next read of this machine slowly: Ann's /status waits for it (long
    # enough that Bob is answered meanwhile even on a loaded machine).
    await bot.fly_fault(
        {
            "route": {"method": "GET", "path_regex": f"machines/{machine_id}$"},
            "latency_s": 8.0,
            "count": 1,
        }
    )

    await bot.send(ADMIN, f"/status {agent_id}")
    await bot.send(ADMIN, "/tenant list")
    other = await bot.send(ADMIN_2, "/tenant list")

    # Bob's chat moves on while Ann's /status still waits for Fly ...
    await bot.reply_to(ADMIN_2["id"], other, "tenant")
    assert _texts_after(bot, ADMIN["id"], mark) == []
    # ... and Ann's two commands are answered in the order she sent them.
    replies = await _replies(bot, ADMIN["id"], mark, 2)
    assert agent_id in replies[0] and "tenant" in replies[1], replies


# --- defect 3: a stranger's flood ---------------------------------------------------------------


async def _quiet_state(bot: BotHarness) -> tuple[Any, ...]:
    store = bot.store
    return (
        [(a.id, a.status) for a in await store.agents.live()],
        [t.tenant_id for t in await store.tenants.all()],
        len(await store.audit.entries(limit=100_000)),
        len(await store.outbox.recent(limit=100_000)),
        len(await bot.fly_requests()),
    )


async def test_a_stranger_is_refused_once_then_ignored_and_nothing_changes(
    bot: BotHarness,
) -> None:
    before = await _quiet_state(bot)
    lines = ["hello", "/list", "/provision tenant=evil user=x", "/tenant add evil", "F864XLAV"]

    for index in range(30):
        await bot.send(STRANGER, lines[index % len(lines)])
    for index in range(10):
        await bot.send(STRANGER, lines[1 + index % 3], chat=OPS)
    await bot.all_handled()

    assert [m["text"] for m in bot.bot_messages(STRANGER["id"])] == [STRANGER_LINE]
    assert [m["text"] for m in bot.bot_messages(OPS_CHAT)] == []  # told in private already
    assert await _quiet_state(bot) == before


async def test_an_admin_is_answered_while_a_strangers_private_flood_is_still_queued(
    bot: BotHarness,
) -> None:
    # Telegram holds back its answer to the next sendMessage (the stranger's refusal), so the
    # stranger's chat is busy and the rest of the flood waits behind it.
    # Held until released below: however slow the machine, the flood is still queued while
    # the admin is answered.
    held = {"method": "sendMessage", "chat_id": STRANGER["id"], "count": 1, "seconds": 120}
    await bot.tg_fault({"delay": held})
    for _ in range(60):
        await bot.send(STRANGER, "/list")
    await until(lambda: bot.bot_messages(STRANGER["id"]), what="the stranger's refusal")

    sent = await bot.send(ADMIN, "/list")
    await bot.reply_to(ADMIN["id"], sent)

    assert _answered_sends_to(bot, STRANGER["id"]) == []  # the flood is still being handled
    await bot.tg_fault({"release_delays": True})
    await bot.all_handled()
    assert [m["text"] for m in bot.bot_messages(STRANGER["id"])] == [STRANGER_LINE]


async def test_admin_commands_and_card_presses_in_the_ops_group_go_before_a_strangers_flood(
    bot: BotHarness,
) -> None:
    agent_id, machine_id = await _linked_agent(bot)
    code = await bot.pairing_code(machine_id, END_USER["id"])
    submitted = await bot.send(END_USER, code)
    await bot.reply_to(END_USER["id"], submitted, "waiting for an operator")
    request = (await bot.store.pairing.for_agent(agent_id))[-1]
    card = await bot.card_for(request.id)

    # Only the refusal in the ops group is held: every alert went out before.
    async def no_alert_pending() -> bool:
        return await bot.store.outbox.pending_count() == 0

    await until(no_alert_pending, what="the alerts queued so far to go out")
    held = {"method": "sendMessage", "chat_id": OPS_CHAT, "count": 1, "seconds": 120}
    await bot.tg_fault({"delay": held})
    for _ in range(40):
        await bot.send(STRANGER, "/list", chat=OPS)
    await until(
        lambda: [m for m in bot.bot_messages(OPS_CHAT) if m["text"] == STRANGER_LINE],
        what="the stranger's refusal in the ops group",
    )

    listed = await bot.send(ADMIN, "/list", chat=OPS)
    await bot.press(ADMIN, card["message_id"], f"pa:{request.id}", chat_id=OPS_CHAT)
    await bot.reply_to(OPS_CHAT, listed, agent_id)
    await bot.shows(OPS_CHAT, card["message_id"], "succeeded")

    refusals = [
        r for r in _answered_sends_to(bot, OPS_CHAT) if r["params"]["text"] == STRANGER_LINE
    ]
    assert refusals == []  # the flood is still being handled
    await bot.tg_fault({"release_delays": True})
    await bot.all_handled()
    assert [m["text"] for m in bot.bot_messages(OPS_CHAT)].count(STRANGER_LINE) == 1
