"""The pairing story against the real OpenClaw under the owner policy `user`, then a gateway
left without its token.

One agent (one real gateway) for the module. Its pairing request is approved by five presses
at once from two admins; the module ends by taking the machine's gateway token away, which
leaves the real gateway refusing to start in a loop, so that test runs last.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from openclaw_real_support import OpenClawRuntime, eventually, plain
from real_bot_world import (
    PAIRING_MESSAGE_START,
    Provisioned,
    RealWorld,
    agent_bot_token,
    real_world,
)
from tg_harness import ADMIN, ADMIN_2, END_USER, OPS_CHAT, until

from storage.models import PairingState

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(300)]

AGENT_TOKEN = agent_bot_token(2)
PRESSES = 5
AUTH_REFUSAL = "Refusing to bind gateway to lan without auth."
AUTH_EXIT = " INFO Main child exited normally with code: 78"


@dataclass(frozen=True)
class Story:
    request_id: str
    card: dict[str, Any]
    told: dict[str, Any]
    next_answer: dict[str, Any]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(
    openclaw_install: OpenClawRuntime, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RealWorld]:
    folder: Path = tmp_path_factory.mktemp("user_policy")
    async with real_world(openclaw_install, folder) as running:
        await running.start_bot(owner_policy="user")
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bob(world: RealWorld) -> Provisioned:
    provisioned = await world.provision("acme", "bob", AGENT_TOKEN)
    await world.running_bot.link(END_USER, provisioned.invite)
    return provisioned


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def story(world: RealWorld, bob: Provisioned) -> Story:
    bot = world.running_bot
    pairing_message = await world.dm_agent(AGENT_TOKEN, END_USER, "hello agent")
    sent = await world.forward(END_USER, pairing_message, AGENT_TOKEN)
    await bot.reply_to(END_USER["id"], sent, "waiting for an operator", timeout=30)
    [request] = await bot.store.pairing.for_agent(bob.agent_id)
    card = await bot.card_for(request.id)
    admins = [ADMIN, ADMIN_2] * PRESSES
    await asyncio.gather(
        *(
            bot.press(admin, card["message_id"], f"pa:{request.id}", chat_id=OPS_CHAT)
            for admin in admins[:PRESSES]
        )
    )
    decided = await world.card_outcome(card["message_id"], "succeeded", "failed", "refused")
    await until(lambda: len(bot.callback_answers()) >= PRESSES, 30, "every press answered")
    told = await bot.reply_to(END_USER["id"], sent, "Pairing code", timeout=30)
    next_answer = await world.dm_agent(AGENT_TOKEN, END_USER, "hello again")
    return Story(request_id=request.id, card=decided, told=told, next_answer=next_answer)


async def test_five_concurrent_approvals_of_one_request_run_one_real_approve(
    world: RealWorld, bob: Provisioned, story: Story
) -> None:
    bot = world.running_bot
    assert "succeeded" in story.card["text"]
    assert "Paired" in story.told["text"]
    answers = [answer.get("text") or "" for answer in bot.callback_answers()]
    assert len(answers) == PRESSES
    assert sum("Already being handled" in text for text in answers) == PRESSES - 1
    [approve] = await world.execs_on(bob.machine_id, "pairing approve")
    assert approve["exit_code"] == 0
    assert (await bot.store.pairing.get(story.request_id)).state is PairingState.SUCCEEDED
    assert [m for m in bot.bot_messages(END_USER["id"]) if "Paired" in m["text"]] == [story.told]


async def test_under_the_user_policy_the_paired_end_user_becomes_the_owner(
    world: RealWorld, bob: Provisioned, story: Story
) -> None:
    # The bot never set owners on this machine: OpenClaw's own first-approval rule applied.
    assert await world.execs_on(bob.machine_id, "ownerAllowFrom") == []
    [approve] = await world.execs_on(bob.machine_id, "pairing approve")
    assert approve["stdout"].strip().splitlines() == [
        f"Approved telegram sender {END_USER['id']}.",
        f"Command owner configured telegram:{END_USER['id']} (commands.ownerAllowFrom was empty).",
    ]
    assert await world.owners_on(bob.machine_id) == [f"telegram:{END_USER['id']}"]
    assert not story.next_answer["text"].startswith(PAIRING_MESSAGE_START)
    status = await world.say(ADMIN, f"/status {bob.agent_id}", lambda t: "Command owners" in t)
    assert (
        f"Command owners: telegram:{END_USER['id']} (made owner by a first approval)"
        in status["text"]
    )


async def test_an_empty_gateway_token_gets_the_real_refusal_and_the_auth_alert(
    world: RealWorld, bob: Provisioned, story: Story
) -> None:
    await world.say(ADMIN, f"/stop {bob.agent_id}", lambda text: "✅" in text or "❌" in text)
    # An operator empties the token on the stopped machine (fly machine update --skip-start).
    machine = await world.fleet.machine(bob.machine_id)
    config = machine["config"]
    config["env"]["OPENCLAW_GATEWAY_TOKEN"] = ""
    updated = await world.fleet.api.post(
        f"/machines/{bob.machine_id}",
        json={"config": config, "current_version": machine["instance_id"], "skip_launch": True},
    )
    assert updated.status_code == 200, updated.text

    reply = await world.say(
        ADMIN,
        f"/wake {bob.agent_id}",
        lambda text: "✅" in text or "❌" in text,
        deadline_s=120,
    )

    assert "❌" in reply["text"]
    assert AUTH_REFUSAL in reply["text"]
    assert "OPENCLAW_GATEWAY_TOKEN" in reply["text"]
    alert = await world.ops_alert("gateway_auth_refused")
    assert bob.agent_id in alert["text"]

    async def refused_with_78() -> list[str] | None:
        lines = [plain(message) for _, message in await world.fleet.log_lines(bob.machine_id)]
        return lines if AUTH_EXIT in lines else None

    lines = await eventually(refused_with_78, deadline_s=60, what="the gateway's exit code 78")
    assert AUTH_REFUSAL in lines
