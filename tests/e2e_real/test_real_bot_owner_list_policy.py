"""An explicit owner list, on a machine provisioned before that policy: set before the approval.

The agent is provisioned by a bot running the `user` policy (so its provisioning sets no
owners); the bot is then restarted, on the same database, with FLYAGENTS_AGENT_OWNER naming two
operators. The machine has no owners recorded, so the first approval there must put the list
on the machine first. One real gateway for the module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from openclaw_real_support import OpenClawRuntime
from real_bot_world import (
    AGENT_MODEL,
    PAIRING_MESSAGE_START,
    Provisioned,
    RealWorld,
    agent_bot_token,
    real_world,
)
from tg_harness import ADMIN, END_USER, OPS_CHAT

from storage.models import PairingState

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(300)]

AGENT_TOKEN = agent_bot_token(3)
OPERATORS = ["telegram:5150", "telegram:5151"]


@dataclass(frozen=True)
class Story:
    status_before: str
    request_id: str
    card: dict[str, Any]
    next_answer: dict[str, Any]
    status_after: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(
    openclaw_install: OpenClawRuntime, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RealWorld]:
    folder: Path = tmp_path_factory.mktemp("owner_list_policy")
    async with real_world(openclaw_install, folder) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def carol(world: RealWorld) -> Provisioned:
    await world.start_bot(owner_policy="user")
    provisioned = await world.provision("acme", "carol", AGENT_TOKEN)
    await world.stop_bot()
    await world.start_bot(owner_policy=",".join(OPERATORS))
    await world.running_bot.link(END_USER, provisioned.invite)
    return provisioned


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def story(world: RealWorld, carol: Provisioned) -> Story:
    bot = world.running_bot
    before = await world.say(ADMIN, f"/status {carol.agent_id}", lambda t: "Command owners" in t)
    pairing_message = await world.dm_agent(AGENT_TOKEN, END_USER, "hello agent")
    sent = await world.forward(END_USER, pairing_message, AGENT_TOKEN)
    await bot.reply_to(END_USER["id"], sent, "waiting for an operator", timeout=30)
    [request] = await bot.store.pairing.for_agent(carol.agent_id)
    card = await bot.card_for(request.id)
    await bot.press(ADMIN, card["message_id"], f"pa:{request.id}", chat_id=OPS_CHAT)
    decided = await world.card_outcome(card["message_id"], "succeeded", "failed", "refused")
    next_answer = await world.dm_agent(AGENT_TOKEN, END_USER, "hello again")
    after = await world.say(ADMIN, f"/status {carol.agent_id}", lambda t: "Command owners" in t)
    return Story(
        status_before=before["text"],
        request_id=request.id,
        card=decided,
        next_answer=next_answer,
        status_after=after["text"],
    )


async def test_status_says_the_machine_has_no_owners_set_until_its_first_approval(
    story: Story,
) -> None:
    assert (
        "Command owners: not set on this machine yet · policy telegram:5150, telegram:5151, "
        "set before its first pairing approval"
    ) in story.status_before
    assert "Command owners: telegram:5150, telegram:5151 (set by the bot)" in story.status_after


async def test_the_owner_list_goes_on_the_machine_before_its_first_approval(
    world: RealWorld, carol: Provisioned, story: Story
) -> None:
    bot = world.running_bot
    assert "succeeded" in story.card["text"]
    request = await bot.store.pairing.get(story.request_id)
    assert request.state is PairingState.SUCCEEDED
    commands = [
        (e["argv"][2].split("openclaw.mjs ")[1], e["argv"][4:], e["exit_code"])
        for e in await world.execs_on(carol.machine_id)
    ]
    assert commands == [
        ('models set "$1"', [AGENT_MODEL], 0),
        ("models status --plain", [], 0),
        ("pairing list telegram --json", [], 0),
        ('config set commands.ownerAllowFrom "$1"', ['["telegram:5150","telegram:5151"]'], 0),
        ('pairing approve telegram "$1"', [request.code], 0),
    ]
    [approve] = await world.execs_on(carol.machine_id, "pairing approve")
    assert approve["stdout"].strip().splitlines() == [f"Approved telegram sender {END_USER['id']}."]
    assert await world.owners_on(carol.machine_id) == OPERATORS
    assert not story.next_answer["text"].startswith(PAIRING_MESSAGE_START)
