"""The housekeeping job: pairing requests OpenClaw has forgotten expire, and their senders hear it.

OpenClaw's codes live one hour, so a request still waiting for an admin after that can never be
approved. The job runs every `housekeeping_interval_s` (shortened here); the store's clock is
moved forward instead of waiting an hour (the database refuses edits of a request's times).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tg_harness import END_USER, OPS_CHAT, OTHER_USER, BotFactory, BotHarness, until

from bot.telegram import BotOptions
from bot.telegram.render import USER_EXPIRED_WORDS
from storage.models import PairingState

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


class MovableClock:
    """Real time plus however far a test has moved it forward."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.ahead


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
async def bot(bot_factory: BotFactory, clock: MovableClock) -> BotHarness:
    options = dataclasses.replace(BotOptions.for_tests(), housekeeping_interval_s=0.2)
    return await bot_factory(options=options, store_clock=clock)


async def _submit(
    bot: BotHarness, user: dict[str, Any] = END_USER, name: str = "alice"
) -> tuple[str, str, int]:
    """`user`, linked to a fresh agent, sends a code; returns (request id, code, message id)."""
    agent_id, invite = await bot.provision(user=name)
    await bot.link(user, invite)
    agent = await bot.agent(agent_id)
    assert agent.machine_id is not None
    code = await bot.pairing_code(agent.machine_id, user["id"])
    sent = await bot.send(user, code)
    await bot.reply_to(user["id"], sent, "waiting for an operator")
    request = (await bot.store.pairing.for_agent(agent_id))[-1]
    return request.id, code, sent


async def test_a_request_older_than_a_code_lives_expires_and_its_sender_is_told(
    bot: BotHarness, clock: MovableClock
) -> None:
    request_id, _, _ = await _submit(bot)
    clock.ahead = timedelta(hours=1, minutes=1)

    async def expired() -> bool:
        return (await bot.store.pairing.get(request_id)).state is PairingState.EXPIRED

    await until(expired, what="the housekeeping job to expire the request")
    await until(
        lambda: any(
            USER_EXPIRED_WORDS in m.get("text", "") for m in bot.bot_messages(END_USER["id"])
        ),
        what="the end user to be told the code expired",
    )
    told = [m for m in bot.bot_messages(END_USER["id"]) if USER_EXPIRED_WORDS in m["text"]]
    assert len(told) == 1

    # The ops card no longer offers a decision that could not be carried out.
    card = await bot.card_for(request_id)
    await bot.shows(OPS_CHAT, card["message_id"], "expired")
    assert bot.buttons(bot.message(OPS_CHAT, card["message_id"])) == []
    assert await bot.execs("pairing approve") == []


async def test_only_requests_older_than_a_code_lives_expire(
    bot: BotHarness, clock: MovableClock
) -> None:
    old_id, _, _ = await _submit(bot, user=OTHER_USER, name="bob")
    clock.ahead = timedelta(minutes=30)
    young_id, _, _ = await _submit(bot)
    clock.ahead = timedelta(minutes=61)

    async def old_expired() -> bool:
        return (await bot.store.pairing.get(old_id)).state is PairingState.EXPIRED

    await until(old_expired, what="the housekeeping job to run")
    assert (await bot.store.pairing.get(young_id)).state is PairingState.SUBMITTED
    assert not any(
        USER_EXPIRED_WORDS in m.get("text", "") for m in bot.bot_messages(END_USER["id"])
    )
