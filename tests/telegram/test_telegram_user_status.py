"""An end user's `/status`: what the fleet monitor recorded, how old that is, and no Fly call.

The bot runs whole (real PTB over HTTP, the Fly emulator, SQLite); the monitor is the real one,
swept on demand. Authorization is read once per update, and these tests pin that the one read
still confines every end user to their own agents and notices a deleted agent at once.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tg_harness import END_USER, OTHER_USER, BotHarness, until

from bot.telegram import render
from bot.telegram.render import NOT_YOURS_LINE, STRANGER_LINE, age_words
from storage.models import AgentStatus

AGE = re.compile(r"\((less than a minute|\d+ min|\d+ h|\d+ days) ago\)")


async def _replies_without_fly(
    bot: BotHarness, user: dict[str, Any], text: str, count: int = 1
) -> list[str]:
    """Send `text` and return the bot's `count` replies; fails if Fly was called meanwhile."""
    fly_before = await bot.fly_requests()
    sent = await bot.send(user, text)

    def replies() -> list[str] | None:
        texts = [m["text"] for m in bot.bot_messages(user["id"]) if m["message_id"] > sent]
        return texts if len(texts) >= count else None

    found = await until(replies, what=f"{count} replies to {text!r}")
    assert await bot.fly_requests() == fly_before
    return found


async def test_status_shows_the_recorded_state_and_its_age_and_never_asks_fly(
    bot: BotHarness,
) -> None:
    agent_id, invite = await bot.provision()
    await bot.link(END_USER, invite)
    agent = await bot.agent(agent_id)
    assert agent.machine_id is not None

    # Fly's machine fails; until the monitor has looked, the recorded state is what is shown.
    await bot.fly_fault(
        {"crash": {"machine_id": agent.machine_id, "to": "failed", "auto_restart": False}}
    )
    [before_sweep] = await _replies_without_fly(bot, END_USER, "/status")
    assert before_sweep.startswith("Your agent acme/alice\nStatus: running — unchanged since ")
    assert render.when(agent.updated_at) in before_sweep
    assert AGE.search(before_sweep)
    assert "regular check" in before_sweep

    monitor = bot.runtime.monitor
    assert monitor is not None
    report = await monitor.sweep()
    assert report.status_changes == 1
    recorded = await bot.agent(agent_id)
    assert recorded.status is AgentStatus.ERROR

    [after_sweep] = await _replies_without_fly(bot, END_USER, "/status")
    assert "Status: having a problem; the operators have been alerted" in after_sweep
    assert f"unchanged since {render.when(recorded.updated_at)}" in after_sweep
    assert AGE.search(after_sweep)
    # Machine ids and Fly's words stay with the operators.
    assert agent.machine_id not in after_sweep and "failed" not in after_sweep


async def test_status_answers_for_each_own_agent_and_refuses_anyone_elses(
    fast_bot: BotHarness,
) -> None:
    bot = fast_bot
    alice_id, alice_invite = await bot.provision()
    bob_id, bob_invite = await bot.provision(user="bob")
    carol_id, carol_invite = await bot.provision(user="carol")
    await bot.link(END_USER, alice_invite)
    await bot.link(END_USER, bob_invite)
    await bot.link(OTHER_USER, carol_invite)

    both = await _replies_without_fly(bot, END_USER, "/status", count=2)
    assert [text.split("\n")[0] for text in both] == [
        "Your agent acme/alice",
        "Your agent acme/bob",
    ]
    [bob_only] = await _replies_without_fly(bot, END_USER, f"/status {bob_id}")
    assert bob_only.startswith("Your agent acme/bob")
    for someone_elses in (carol_id, "acme/carol"):
        assert await _replies_without_fly(bot, END_USER, f"/status {someone_elses}") == [
            NOT_YOURS_LINE
        ]
        assert await _replies_without_fly(bot, END_USER, f"/pair {someone_elses} F864XLAV") == [
            NOT_YOURS_LINE
        ]
    assert await bot.store.pairing.for_agent(carol_id) == []
    assert alice_id != bob_id


async def test_an_end_user_whose_agent_is_deleted_is_a_stranger_from_the_next_update(
    fast_bot: BotHarness,
) -> None:
    bot = fast_bot
    agent_id, invite = await bot.provision()
    await bot.link(END_USER, invite)
    [shown] = await _replies_without_fly(bot, END_USER, "/status")
    assert shown.startswith("Your agent acme/alice")

    await bot.store.agents.mark_deleted(agent_id, actor="admin:11", reason="test")

    assert await _replies_without_fly(bot, END_USER, "/status") == [STRANGER_LINE]


@pytest.mark.parametrize(
    ("elapsed", "words"),
    [
        (timedelta(seconds=-3), "less than a minute ago"),
        (timedelta(seconds=59), "less than a minute ago"),
        (timedelta(minutes=1), "1 min ago"),
        (timedelta(minutes=59, seconds=59), "59 min ago"),
        (timedelta(hours=1), "1 h ago"),
        (timedelta(hours=47), "47 h ago"),
        (timedelta(days=2), "2 days ago"),
        (timedelta(days=40), "40 days ago"),
    ],
)
def test_the_age_is_said_in_the_largest_whole_unit(elapsed: timedelta, words: str) -> None:
    since = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert age_words(since, since + elapsed) == words
