"""Admin commands in one line, as a script would send them, against the real fleet service."""

from __future__ import annotations

import pytest
from tg_harness import ADMIN, END_USER, BotHarness, until

from bot.telegram.paging import TELEGRAM_TEXT_LIMIT
from storage.models import AgentStatus, PairingState, SnapshotStatus

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


async def _command(bot: BotHarness, text: str, done: str) -> dict[str, object]:
    sent = await bot.send(ADMIN, text)
    return await bot.reply_to(
        ADMIN["id"], sent, lambda m: done in m.get("text", "") or "❌" in m.get("text", "")
    )


async def test_lifecycle_commands_stop_wake_snapshot_skills_and_recreate(
    fast_bot: BotHarness,
) -> None:
    bot = fast_bot
    agent_id, _ = await bot.provision()

    stopped = await _command(bot, f"/stop {agent_id}", "is stopped")
    assert "is stopped" in str(stopped["text"])
    assert (await bot.agent(agent_id)).status is AgentStatus.STOPPED

    woken = await _command(bot, "/wake acme/alice", "is running")
    assert "start ✓ gateway ✓" in str(woken["text"])
    assert (await bot.agent(agent_id)).status is AgentStatus.RUNNING

    snap = await _command(bot, f"/snapshot {agent_id}", "Snapshot")
    assert "Snapshot" in str(snap["text"])
    snapshots = await bot.store.snapshots.for_agent(agent_id)
    assert [s.status for s in snapshots] == [SnapshotStatus.CREATED]

    skills = await _command(bot, f"/skills {agent_id} linkhub-bridge, calendar", "Skills of")
    assert "linkhub-bridge, calendar" in str(skills["text"])
    assert (await bot.agent(agent_id)).allowed_skills == ("linkhub-bridge", "calendar")

    old_machine = (await bot.agent(agent_id)).machine_id
    ask = await _command(bot, f"/recreate {agent_id}", "latest snapshot")
    confirm = bot.buttons(ask)[0]
    await bot.press(ADMIN, int(str(ask["message_id"])), confirm)
    await bot.shows(ADMIN["id"], int(str(ask["message_id"])), "Recreated")
    recreated = await bot.agent(agent_id)
    assert recreated.machine_id != old_machine
    assert recreated.status is AgentStatus.RUNNING


async def test_an_admin_approves_a_code_directly_with_pair(fast_bot: BotHarness) -> None:
    bot = fast_bot
    agent_id, invite = await bot.provision()
    await bot.link(END_USER, invite)
    machine_id = (await bot.agent(agent_id)).machine_id
    assert machine_id is not None
    code = await bot.pairing_code(machine_id, END_USER["id"])

    done = await _command(bot, f"/pair acme/alice {code.lower()}", "succeeded")

    assert code in str(done["text"])
    requests = await bot.store.pairing.for_agent(agent_id)
    assert [(r.code, r.state) for r in requests] == [(code, PairingState.SUCCEEDED)]
    assert len(await bot.execs("pairing approve")) == 1


async def test_long_lists_are_paginated_with_buttons(fast_bot: BotHarness) -> None:
    bot = fast_bot
    await bot.provision()
    await bot.provision(user="bob")
    first = await _command(bot, "/audit", "Audit")
    assert len(str(first["text"])) <= TELEGRAM_TEXT_LIMIT
    (next_page,) = bot.buttons(first)
    assert next_page.startswith("pg:") and next_page.endswith(":1")
    message_id = int(str(first["message_id"]))

    await bot.press(ADMIN, message_id, next_page)

    second = await bot.shows(ADMIN["id"], message_id, "page 2/")
    assert second["text"] != first["text"]
    assert any(data.endswith(":0") for data in bot.buttons(second))
    await until(lambda: bot.callback_answers(), what="the page press to be answered")
