"""`/stop all`, `/wake all`, `/restart all` [TENANT] through Telegram, against the real fleet.

Everything runs for real: PTB over HTTP to the Telegram emulator, the fleet service against the
Fly emulator (machine states are read back from it) and a SQLite file on disk. An agent that
fails is made to fail by a Fly emulator fault, as the fleet's own bulk tests do.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from tg_harness import (
    ADMIN,
    ADMIN_2,
    OPS_CHAT,
    BotFactory,
    BotHarness,
    unpaced_options,
    until,
)

from bot.telegram import render
from bot.telegram.paging import TELEGRAM_TEXT_LIMIT
from bot.telegram.render import utf16_len
from storage.models import AgentStatus, AuditOutcome

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


@pytest.fixture
async def bot(bot_factory: BotFactory) -> BotHarness:
    """Unpaced (tests send many commands) with at most 2 agents in flight in a bulk action."""
    return await bot_factory(flood=False, options=unpaced_options(), FLYAGENTS_BULK_CONCURRENCY=2)


async def _agents(bot: BotHarness, *labels: str) -> dict[str, tuple[str, str]]:
    """Provisioned, running agents by `tenant/user`: (agent id, machine id) each."""
    found = {}
    for label in labels:
        tenant, user = label.split("/")
        agent_id, _ = await bot.provision(tenant=tenant, user=user)
        machine_id = (await bot.agent(agent_id)).machine_id
        assert machine_id is not None
        found[label] = (agent_id, machine_id)
    return found


async def _machine_states(bot: BotHarness) -> dict[str, str]:
    """Every machine's state as the Fly emulator holds it, by machine id."""
    state = (await bot.fly_http.get("/_emulator/state")).json()
    return {machine["id"]: machine["state"] for app in state["apps"] for machine in app["machines"]}


async def _states_of(bot: BotHarness, agents: dict[str, tuple[str, str]]) -> dict[str, str]:
    machines = await _machine_states(bot)
    return {label: machines[machine] for label, (_, machine) in agents.items()}


async def _ask(
    bot: BotHarness, text: str, *, by: dict[str, Any] = ADMIN, chat_id: int | None = None
) -> dict[str, Any]:
    """Send a bulk command; the bot's answer (a question with buttons, or a line)."""
    if chat_id == OPS_CHAT:
        sent = await bot.send_in_ops(by, text)
    else:
        sent = await bot.send(by, text)
        chat_id = by["id"]
    return await bot.reply_to(chat_id, sent)


def _sent_to(bot: BotHarness, chat_id: int) -> int:
    """How many messages the bot has sent to the chat (the ops chat also gets alerts)."""
    return sum(
        1 for r in bot.requests("sendMessage") if int(r["params"].get("chat_id", 0)) == chat_id
    )


def _edits_of(bot: BotHarness, message_id: int) -> list[str]:
    return [
        str(r["params"]["text"])
        for r in bot.requests("editMessageText")
        if int(r["params"].get("message_id", 0)) == message_id and r["status"] == 200
    ]


async def test_stop_all_confirmed_stops_every_agent_in_one_edited_message(
    bot: BotHarness,
) -> None:
    agents = await _agents(bot, "acme/alice", "acme/bob", "globex/carol")
    assert set((await _states_of(bot, agents)).values()) == {"started"}

    question = await _ask(bot, "/stop all")
    assert "/stop all: stop 3 agents (running or in error)?" in question["text"]
    assert "at most 2 at a time" in question["text"]
    confirm, cancel = bot.buttons(question)
    assert confirm.startswith("cf:") and cancel.startswith("cx:")
    asked_id = int(question["message_id"])
    sent_before = _sent_to(bot, ADMIN["id"])

    await bot.press(ADMIN, asked_id, confirm)

    summary = await bot.shows(ADMIN["id"], asked_id, "3 stopped, 0 failed")
    assert summary["text"].startswith("✅ /stop all: 3 stopped, 0 failed.")
    assert bot.buttons(summary) == []
    assert set((await _states_of(bot, agents)).values()) == {"stopped"}
    for agent_id, _ in agents.values():
        assert (await bot.agent(agent_id)).status is AgentStatus.STOPPED
    # The progress was shown by editing the question itself: no other message was sent.
    assert _sent_to(bot, ADMIN["id"]) == sent_before
    edits = _edits_of(bot, asked_id)
    assert any("/stop all: agents …" in text and "in flight" in text for text in edits), edits
    assert edits[-1] == summary["text"].replace("/stop all", "<b>/stop all</b>")
    (entry,) = await bot.store.audit.entries(action="bulk.stop")
    assert entry.actor == f"admin:{ADMIN['id']}"
    assert entry.outcome is AuditOutcome.OK
    assert entry.detail == {"agents": 3, "failed": [], "concurrency": 2}
    stops = await bot.store.audit.entries(action="agent.stop")
    # An audit entry's target is optional in general; every stop here names its agent.
    assert sorted(entry.target for entry in stops) == sorted(a for a, _ in agents.values())  # type: ignore[type-var]


async def test_a_tenant_limits_the_bulk_action_to_that_tenants_agents(bot: BotHarness) -> None:
    agents = await _agents(bot, "acme/alice", "globex/carol", "globex/dave")

    question = await _ask(bot, "/stop all globex")
    assert "/stop all of tenant globex: stop 2 agents" in question["text"]
    await bot.press(ADMIN, int(question["message_id"]), bot.buttons(question)[0])
    await bot.shows(ADMIN["id"], int(question["message_id"]), "2 stopped, 0 failed")

    assert await _states_of(bot, agents) == {
        "acme/alice": "started",
        "globex/carol": "stopped",
        "globex/dave": "stopped",
    }
    # `tenant=` works too, and wakes only what that tenant has stopped.
    question = await _ask(bot, "/wake all tenant=globex")
    assert "/wake all of tenant globex: wake 2 agents (stopped or in error)?" in question["text"]
    await bot.press(ADMIN, int(question["message_id"]), bot.buttons(question)[0])
    await bot.shows(ADMIN["id"], int(question["message_id"]), "2 woken, 0 failed")
    assert set((await _states_of(bot, agents)).values()) == {"started"}


async def test_only_the_admin_who_asked_can_confirm(bot: BotHarness) -> None:
    agents = await _agents(bot, "acme/alice", "acme/bob")
    question = await _ask(bot, "/stop all", chat_id=OPS_CHAT)
    asked_id = int(question["message_id"])

    await bot.press(ADMIN_2, asked_id, bot.buttons(question)[0], chat_id=OPS_CHAT)

    answer = await until(lambda: bot.callback_answers(), what="the press to be answered")
    assert answer[-1]["text"] == "Only the admin who asked can confirm or cancel this."
    assert set((await _states_of(bot, agents)).values()) == {"started"}
    assert await bot.store.audit.entries(action="bulk.stop") == []
    # The question still stands for the admin who asked.
    await bot.press(ADMIN, asked_id, bot.buttons(question)[0], chat_id=OPS_CHAT)
    await bot.shows(OPS_CHAT, asked_id, "2 stopped, 0 failed")
    assert set((await _states_of(bot, agents)).values()) == {"stopped"}


async def test_cancel_changes_nothing(bot: BotHarness) -> None:
    agents = await _agents(bot, "acme/alice", "acme/bob")
    question = await _ask(bot, "/restart all acme")
    assert "restart 2 agents" in question["text"]
    asked_id = int(question["message_id"])
    fly_calls = len(await bot.fly_requests())
    _, cancel = bot.buttons(question)

    await bot.press(ADMIN, asked_id, cancel)

    cancelled = await bot.shows(ADMIN["id"], asked_id, "Cancelled")
    assert cancelled["text"] == "Cancelled: nothing was done to 2 agents of tenant acme."
    assert bot.buttons(cancelled) == []
    assert len(await bot.fly_requests()) == fly_calls
    assert set((await _states_of(bot, agents)).values()) == {"started"}
    assert await bot.store.audit.entries(action="bulk.restart") == []


async def test_one_failing_agent_is_reported_while_the_others_finish(bot: BotHarness) -> None:
    agents = await _agents(bot, "acme/alice", "acme/bob", "acme/carol", "acme/dave")
    question = await _ask(bot, "/stop all")
    await bot.press(ADMIN, int(question["message_id"]), bot.buttons(question)[0])
    await bot.shows(ADMIN["id"], int(question["message_id"]), "4 stopped, 0 failed")
    refused_agent, refused_machine = agents["acme/bob"]
    await bot.fly_fault(
        {
            "route": {"method": "POST", "path_regex": f"/machines/{refused_machine}/start$"},
            "status": 412,
            "body": {"error": "insufficient resources to start the machine"},
        }
    )

    question = await _ask(bot, "/wake all")
    assert "wake 4 agents" in question["text"]
    await bot.press(ADMIN, int(question["message_id"]), bot.buttons(question)[0])

    summary = await bot.shows(ADMIN["id"], int(question["message_id"]), "3 woken, 1 failed")
    lines = summary["text"].split("\n")
    assert lines[0] == "⚠️ /wake all: 3 woken, 1 failed."
    assert len(lines) == 2
    assert lines[1].startswith(f"✗ {refused_agent} acme/bob — ")
    assert refused_machine in lines[1] and "insufficient resources" in lines[1]
    assert await _states_of(bot, agents) == {
        "acme/alice": "started",
        "acme/bob": "stopped",
        "acme/carol": "started",
        "acme/dave": "started",
    }
    entry = (await bot.store.audit.entries(action="bulk.wake"))[0]
    assert entry.outcome is AuditOutcome.FAILED
    assert entry.detail["failed"] == [refused_agent]


async def test_failures_that_do_not_fit_the_summary_follow_as_a_list(bot: BotHarness) -> None:
    labels = [f"acme/u{n:02d}" for n in range(12)]
    agents = await _agents(bot, *labels)
    reason = "the host has no room for this machine right now; " * 8
    await bot.fly_fault(
        {
            "route": {"method": "POST", "path_regex": "/stop$"},
            "status": 412,
            "body": {"error": reason},
        }
    )
    question = await _ask(bot, "/stop all")
    asked_id = int(question["message_id"])

    await bot.press(ADMIN, asked_id, bot.buttons(question)[0])

    summary = await bot.shows(ADMIN["id"], asked_id, "0 stopped, 12 failed")
    assert utf16_len(summary["text"]) < TELEGRAM_TEXT_LIMIT
    shown = [line for line in summary["text"].split("\n") if line.startswith("✗ ")]
    assert 0 < len(shown) < 12
    assert summary["text"].endswith(f"…and {12 - len(shown)} more: the full list follows.")
    listed = await bot.reply_to(ADMIN["id"], asked_id, "12 agents not done")
    assert listed["text"].startswith("/stop all: 12 agents not done")
    # Every failed agent is named in the list, page by page.
    listed_id = int(listed["message_id"])
    pages = [listed["text"]]
    total = int(re.search(r"page 1/(\d+)", listed["text"]).group(1))  # type: ignore[union-attr]
    assert total > 1
    for index in range(1, total):
        (data,) = [b for b in bot.buttons(listed) if b.endswith(f":{index}")]
        await bot.press(ADMIN, listed_id, data)
        listed = await bot.shows(ADMIN["id"], listed_id, f"page {index + 1}/{total}")
        pages.append(listed["text"])
    named = "\n".join(pages)
    for agent_id, _ in agents.values():
        assert agent_id in named
    assert set((await _states_of(bot, agents)).values()) == {"started"}


async def test_nothing_to_do_gets_a_polite_line_and_no_button(bot: BotHarness) -> None:
    await _agents(bot, "acme/alice")

    nothing = await _ask(bot, "/wake all")
    assert nothing["text"] == (
        "Nothing to wake: no agent is stopped or in error. /list shows them all."
    )
    assert bot.buttons(nothing) == []
    other = await _ask(bot, "/stop all globex")
    assert other["text"] == (
        "Nothing to stop: no agent of tenant globex is running or in error. "
        "/list tenant=globex shows them all."
    )
    assert bot.buttons(other) == []


async def test_agents_are_judged_again_at_confirm_time_and_none_left_runs_nothing(
    bot: BotHarness,
) -> None:
    agents = await _agents(bot, "acme/alice")
    alice, _ = agents["acme/alice"]
    question = await _ask(bot, "/stop all")
    assert "stop 1 agent" in question["text"]
    confirm, _ = bot.buttons(question)
    # Meanwhile someone stops the only agent the question counted.
    await bot.reply_to(ADMIN["id"], await bot.send(ADMIN, f"/stop {alice}"), "is stopped")
    stops_before = len(await bot.store.audit.entries(action="agent.stop"))

    await bot.press(ADMIN, int(question["message_id"]), confirm)

    settled = await bot.shows(ADMIN["id"], int(question["message_id"]), "Nothing to stop now")
    assert settled["text"] == (
        "Nothing to stop now: no agent is running or in error. /list shows them all."
    )
    assert bot.buttons(settled) == []
    assert len(await bot.store.audit.entries(action="agent.stop")) == stops_before
    assert await bot.store.audit.entries(action="bulk.stop") == []


async def test_stop_agent_still_stops_just_that_agent_without_a_question(
    bot: BotHarness,
) -> None:
    agents = await _agents(bot, "acme/alice", "acme/bob")
    alice, _ = agents["acme/alice"]

    stopped = await bot.reply_to(ADMIN["id"], await bot.send(ADMIN, f"/stop {alice}"), "is stopped")
    assert stopped["text"] == f"✅ {alice} is stopped."
    assert bot.buttons(stopped) == []
    assert await _states_of(bot, agents) == {"acme/alice": "stopped", "acme/bob": "started"}
    by_label = await bot.reply_to(
        ADMIN["id"], await bot.send(ADMIN, "/stop acme/bob"), "is stopped"
    )
    assert agents["acme/bob"][0] in by_label["text"]
    assert await bot.store.audit.entries(action="bulk.stop") == []
    # A single agent named twice is still refused as before.
    refused = await _ask(bot, f"/stop {alice} {alice}")
    assert refused["text"] == "❌ Too many values. Usage: /stop AGENT | /stop all [TENANT]"


async def test_all_as_the_agent_value_asks_about_every_agent(bot: BotHarness) -> None:
    agents = await _agents(bot, "acme/alice", "globex/carol")

    question = await _ask(bot, "/restart agent=ALL")
    assert "/restart all: restart 2 agents (running or in error)?" in question["text"]
    await bot.press(ADMIN, int(question["message_id"]), bot.buttons(question)[0])
    await bot.shows(ADMIN["id"], int(question["message_id"]), "2 restarted, 0 failed")

    restarted = {
        record["path"].split("/")[-2]
        for record in await bot.fly_requests()
        if record["method"] == "POST" and record["path"].endswith("/restart")
    }
    assert restarted == {machine for _, machine in agents.values()}
    assert set((await _states_of(bot, agents)).values()) == {"started"}


async def test_a_bulk_restart_leaves_alone_an_agent_another_admin_is_restarting(
    bot: BotHarness,
) -> None:
    agents = await _agents(bot, "acme/alice", "acme/bob")
    alice, alice_machine = agents["acme/alice"]
    # Alice's gateway never comes up again, so Bob's own /restart of her waits for it.
    await bot.fly_fault({"gateway_mode": {"machine_id": alice_machine, "mode": "never_listen"}})
    sent = await bot.send(ADMIN_2, f"/restart {alice}")
    single = await bot.reply_to(ADMIN_2["id"], sent, "restart ✓")
    seq = max(int(record["seq"]) for record in await bot.fly_requests())

    question = await _ask(bot, "/restart all")
    assert "restart 2 agents" in question["text"]
    await bot.press(ADMIN, int(question["message_id"]), bot.buttons(question)[0])

    summary = await bot.shows(ADMIN["id"], int(question["message_id"]), "1 left alone")
    assert summary["text"].split("\n") == [
        "⚠️ /restart all: 1 restarted, 0 failed, 1 left alone.",
        f"✗ {alice} acme/alice — being restarted by Bob, id 12",
    ]
    restarted = [
        record["path"].split("/")[-2]
        for record in await bot.fly_requests()
        if int(record["seq"]) > seq
        and record["method"] == "POST"
        and record["path"].endswith("/restart")
    ]
    assert restarted == [agents["acme/bob"][1]]
    # Bob's restart went on by itself, and ends as it would have anyway.
    await bot.shows(ADMIN_2["id"], int(single["message_id"]), "❌")


async def test_malformed_bulk_commands_are_refused_politely(bot: BotHarness) -> None:
    too_many = await _ask(bot, "/stop all acme globex")
    assert too_many["text"] == "❌ Too many values. Usage: /stop all [TENANT]"
    not_a_tenant = await _ask(bot, "/wake all user=alice")
    assert not_a_tenant["text"] == "❌ Only a tenant may follow all. Usage: /wake all [TENANT]"
    bad_tenant = await _ask(bot, "/restart all ac;me")
    assert bad_tenant["text"].startswith("❌ The tenant id must be 1-64 characters")
    assert bot.buttons(bad_tenant) == []


async def test_help_lists_both_forms_of_the_lifecycle_commands(bot: BotHarness) -> None:
    shown = await _ask(bot, "/help")
    for name in ("stop", "wake", "restart"):
        assert f"/{name} AGENT — " in shown["text"]
        assert f"/{name} all [TENANT] — " in shown["text"]


def test_a_summary_with_many_long_failures_stays_within_one_message() -> None:
    failures = [
        render.bulk_failure_line(f"ag_{n:012d}", f"acme/user{n}", "x&<" * 300) for n in range(200)
    ]

    text, hidden = render.bulk_summary("stop", "acme", "stopped", 800, failures)

    assert utf16_len(text) <= render.BULK_SUMMARY_BUDGET < TELEGRAM_TEXT_LIMIT
    shown = [line for line in text.split("\n") if line.startswith("✗ ")]
    assert shown == failures[: len(shown)] and hidden == 200 - len(shown) > 0
    assert text.startswith("⚠️ <b>/stop all</b> of tenant <code>acme</code>: 800 stopped, 200")
    assert text.endswith(f"…and {hidden} more: the full list follows.")
    complete, none_hidden = render.bulk_summary("wake", None, "woken", 3, failures[:2])
    assert none_hidden == 0 and complete.count("✗ ") == 2
