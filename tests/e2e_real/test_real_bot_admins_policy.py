"""The bot's pairing story against the real OpenClaw, under the default owner policy `admins`.

One agent (one real gateway) is provisioned through the bot for the whole module; the fixtures
that change OpenClaw's state run once, in story order: provisioning, then END_USER's pairing
(the agent's real pairing message forwarded whole to our bot, one press of Approve), then the
refusals, which all happen on the same machine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from openclaw_real_support import (
    ANSI,
    OpenClawRuntime,
    pairing_code_in,
    parse_json_stdout,
    plain,
)
from real_bot_world import (
    AGENT_MODEL,
    PAIRING_MESSAGE_START,
    Provisioned,
    RealWorld,
    agent_bot_token,
    last_line,
    real_world,
)
from tg_harness import ADMIN, ADMIN_2, END_USER, OPS_CHAT, OTHER_USER, STRANGER

from storage.models import AgentStatus, PairingState

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(300)]

AGENT_TOKEN = agent_bot_token(1)
ADMIN_OWNERS = [f"telegram:{ADMIN['id']}", f"telegram:{ADMIN_2['id']}"]


@dataclass(frozen=True)
class Story:
    pairing_message: dict[str, Any]
    code: str
    request_id: str
    card: dict[str, Any]
    told: dict[str, Any]
    next_answer: dict[str, Any]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(
    openclaw_install: OpenClawRuntime, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RealWorld]:
    folder: Path = tmp_path_factory.mktemp("admins_policy")
    async with real_world(openclaw_install, folder) as running:
        await running.start_bot(owner_policy="admins")
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def alice(world: RealWorld) -> Provisioned:
    provisioned = await world.provision("acme", "alice", AGENT_TOKEN)
    await world.running_bot.link(END_USER, provisioned.invite)
    return provisioned


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def story(world: RealWorld, alice: Provisioned) -> Story:
    bot = world.running_bot
    pairing_message = await world.dm_agent(AGENT_TOKEN, END_USER, "hello agent")
    sent = await world.forward(END_USER, pairing_message, AGENT_TOKEN)
    await bot.reply_to(END_USER["id"], sent, "waiting for an operator", timeout=30)
    [request] = await bot.store.pairing.for_agent(alice.agent_id)
    card = await bot.card_for(request.id)
    await bot.press(ADMIN, card["message_id"], f"pa:{request.id}", chat_id=OPS_CHAT)
    decided = await world.card_outcome(card["message_id"], "succeeded", "failed", "refused")
    told = await bot.reply_to(END_USER["id"], sent, "Pairing code", timeout=30)
    next_answer = await world.dm_agent(AGENT_TOKEN, END_USER, "hello again")
    return Story(
        pairing_message=pairing_message,
        code=request.code,
        request_id=request.id,
        card=decided,
        told=told,
        next_answer=next_answer,
    )


async def test_provisioning_waits_for_the_real_gateway_then_sets_and_verifies_the_model(
    world: RealWorld, alice: Provisioned
) -> None:
    bot = world.running_bot
    assert f"Provisioned {alice.agent_id}" in alice.reply
    agent = await bot.agent(alice.agent_id)
    assert (agent.status, agent.model) == (AgentStatus.RUNNING, AGENT_MODEL)

    # Readiness came from the gateway's own log lines: the journal keeps the model the real
    # gateway announced at boot (OpenClaw's own default, before `models set`), and the first
    # command ran only after the gateway logged that it was ready.
    operation = await bot.store.journal.get_by_key(f"provision:{alice.agent_id}")
    assert operation is not None
    results = await bot.store.journal.completed_results(operation.id)
    logged = [plain(m) for _, m in await world.fleet.log_lines(alice.machine_id)]
    announced = next(line for line in logged if line.startswith("[gateway] agent model: "))
    assert results["gateway"] == {"agent_model": announced.split()[3]}
    ready_at = next(
        stamp_of(message)
        for _, message in await world.fleet.log_lines(alice.machine_id)
        if plain(message) == "[gateway] ready"
    )

    # Then one command at a time: owners, the model, and the check that it took.
    ran = await world.execs_on(alice.machine_id)
    assert stamp_of(ran[0]["started_at"]) >= ready_at
    assert all(
        stamp_of(later["started_at"]) >= stamp_of(earlier["ended_at"])
        for earlier, later in pairwise(ran)
    )
    assert [e["exit_code"] for e in ran] == [0, 0, 0]
    owner_set, model_set, model_status = ran
    assert owner_set["argv"][-1] == '["telegram:11","telegram:12"]'
    assert "config set commands.ownerAllowFrom" in owner_set["argv"][2]
    assert owner_set["stdout"].strip() == (
        "Updated commands.ownerAllowFrom. No gateway restart needed."
    )
    assert (model_set["argv"][-1], last_line(model_set["stdout"])) == (
        AGENT_MODEL,
        f"Default model: {AGENT_MODEL}",
    )
    assert "models status --plain" in model_status["argv"][2]
    assert last_line(model_status["stdout"]) == AGENT_MODEL


async def test_a_forwarded_pairing_message_is_approved_once_and_only_the_admins_own_the_agent(
    world: RealWorld, alice: Provisioned, story: Story
) -> None:
    bot = world.running_bot
    message = story.pairing_message
    assert message["text"].startswith(PAIRING_MESSAGE_START)
    assert pairing_code_in(message["text"]) == story.code
    assert "succeeded" in story.card["text"]
    assert bot.buttons(story.card) == []
    assert "Paired" in story.told["text"]
    assert (await bot.store.pairing.get(story.request_id)).state is PairingState.SUCCEEDED

    # Ownership was confirmed with the real list, then the real approve ran exactly once.
    pairing = await world.execs_on(alice.machine_id, "pairing")
    assert [e["argv"][2].split("openclaw.mjs ")[1] for e in pairing] == [
        "pairing list telegram --json",
        'pairing approve telegram "$1"',
    ]
    approve = pairing[1]
    assert (approve["argv"][-1], approve["exit_code"]) == (story.code, 0)
    # The owners were set before: OpenClaw made nobody owner on this approval.
    assert approve["stdout"].strip().splitlines() == [f"Approved telegram sender {END_USER['id']}."]

    assert not story.next_answer["text"].startswith(PAIRING_MESSAGE_START)
    assert await world.owners_on(alice.machine_id) == ADMIN_OWNERS
    status = await world.say(ADMIN, f"/status {alice.agent_id}", lambda t: "Command owners" in t)
    assert "Command owners: telegram:11, telegram:12 (set by the bot)" in status["text"]


async def test_a_code_issued_to_another_user_is_refused_without_an_approve(
    world: RealWorld, alice: Provisioned, story: Story
) -> None:
    bot = world.running_bot
    approves_before = len(await world.execs_on(alice.machine_id, "pairing approve"))
    olgas_message = await world.dm_agent(AGENT_TOKEN, OTHER_USER, "hi, me too")
    olgas_code = pairing_code_in(olgas_message["text"])

    sent = await bot.send(END_USER, olgas_code)
    await bot.reply_to(END_USER["id"], sent, "waiting for an operator", timeout=30)
    request = (await bot.store.pairing.for_agent(alice.agent_id))[-1]
    assert request.code == olgas_code
    card = await bot.card_for(request.id)
    await bot.press(ADMIN_2, card["message_id"], f"pa:{request.id}", chat_id=OPS_CHAT)

    refused = await world.card_outcome(card["message_id"], "refused", "succeeded", "failed")
    assert "different Telegram account" in refused["text"]
    told = await bot.reply_to(END_USER["id"], sent, "different Telegram account", timeout=30)
    assert olgas_code in told["text"]
    await world.ops_alert("pairing_foreign_code")
    assert len(await world.execs_on(alice.machine_id, "pairing approve")) == approves_before
    assert (await bot.store.pairing.get(request.id)).state is PairingState.FAILED
    # What the bot's own `pairing list` showed: the code pending for Olga, who stays unpaired.
    listed = (await world.execs_on(alice.machine_id, "pairing list"))[-1]
    pending = parse_json_stdout(listed)["requests"]
    assert [(r["id"], r["code"]) for r in pending] == [(str(OTHER_USER["id"]), olgas_code)]


async def test_a_used_code_gets_openclaws_refusal_once_and_is_not_retried(
    world: RealWorld, alice: Provisioned, story: Story
) -> None:
    sams_message = await world.dm_agent(AGENT_TOKEN, STRANGER, "hello?")
    code = pairing_code_in(sams_message["text"])
    # An operator approved it on the machine by hand; then an admin approves it with the bot.
    by_hand = await world.fleet.openclaw(alice.machine_id, "pairing", "approve", "telegram", code)
    assert by_hand["exit_code"] == 0, by_hand

    reply = await world.say(
        ADMIN,
        f"/pair {alice.agent_id} {code}",
        lambda text: "Approving the pairing code" not in text,
        deadline_s=120,
    )

    assert "unknown, expired or already used" in reply["text"]
    approves = [
        e for e in await world.execs_on(alice.machine_id, code) if "approve" in " ".join(e["argv"])
    ]
    assert [e["exit_code"] for e in approves] == [0, 1]
    assert "No pending pairing request found" in approves[1]["stderr"]
    [request] = [
        r for r in await world.running_bot.store.pairing.for_agent(alice.agent_id) if r.code == code
    ]
    assert request.state is PairingState.FAILED


async def test_an_unknown_model_provider_is_refused_with_openclaws_own_reason(
    world: RealWorld, alice: Provisioned, story: Story
) -> None:
    reply = await world.say(
        ADMIN,
        f"/model {alice.agent_id} unknownprov/x",
        lambda text: "Setting the model" not in text,
        deadline_s=120,
    )
    assert (
        'Unknown model provider "unknownprov". Install a plugin that declares it or configure it '
        'under models.providers before selecting "unknownprov/x". Config was not changed.'
    ) in reply["text"]
    [refused] = await world.execs_on(alice.machine_id, "unknownprov/x")
    assert refused["exit_code"] == 1
    assert (await world.running_bot.agent(alice.agent_id)).model == AGENT_MODEL


async def test_gpt_5_mini_is_refused_before_openclaw_sees_it(
    world: RealWorld, alice: Provisioned, story: Story
) -> None:
    before = await world.execs_on(alice.machine_id)
    for spelling in ("gpt-5-mini", "openai/gpt-5-mini", "OpenAI/GPT-5-Mini"):
        reply = await world.say(
            ADMIN, f"/model {alice.agent_id} {spelling}", lambda text: "gpt-5-mini" in text
        )
        assert "must not be used" in reply["text"]
    assert await world.execs_on(alice.machine_id) == before
    assert (await world.running_bot.agent(alice.agent_id)).model == AGENT_MODEL


def stamp_of(text: str) -> datetime:
    """The ISO time a log line (OpenClaw's own prefix) or an exec record starts with."""
    return datetime.fromisoformat(ANSI.sub("", text).split()[0].replace("Z", "+00:00"))
