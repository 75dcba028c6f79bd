"""One agent machine running the real OpenClaw gateway, driven as the bot drives it.

A module-scoped machine (one real gateway; the restore test adds a second) is created with a
bot-like config, polls the Telegram emulator as its agent's bot, and is paired with an end user
through real DMs and real CLI runs over Fly's exec. Fixtures that change OpenClaw's state
(`pairing_dm`, `approval`) run once, so every test sees the same story at the step it pins.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from openclaw_real_support import (
    OpenClawRuntime,
    RealFleet,
    agent_config,
    bot_token,
    pairing_code_in,
    parse_json_stdout,
    plain,
    running_fleet,
)

from bot.fleet import openclaw as openclaw_cli

pytestmark = pytest.mark.asyncio(loop_scope="module")

AGENT_BOT = bot_token(7301)
END_USER_ID = 4242
END_USER_NAME = "Ann"
PAIRING_MESSAGE_START = "OpenClaw: access not configured."
# What the bot runs to read OpenClaw's allow list (its fixed script; no user value in it).
ALLOW_LIST = openclaw_cli.read_allow_list("/app")


@dataclass(frozen=True)
class Agent:
    fleet: RealFleet
    machine_id: str
    volume_id: str


@dataclass(frozen=True)
class PairingDm:
    code: str
    text: str
    """The message as the end user sees it (plain text)."""
    html: str
    """The message as the gateway sent it (HTML)."""


@dataclass(frozen=True)
class Approval:
    code: str
    result: dict[str, Any]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fleet(openclaw_install: OpenClawRuntime) -> AsyncIterator[RealFleet]:
    async with running_fleet(openclaw_install) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def agent(fleet: RealFleet) -> Agent:
    volume = await fleet.create_volume("agent_ann")
    machine = await fleet.create_machine(agent_config(volume_id=volume["id"], bot=AGENT_BOT))
    await fleet.wait_check_passing(machine["id"])
    await fleet.wait_for_log(machine["id"], "[gateway] ready")
    return Agent(fleet=fleet, machine_id=machine["id"], volume_id=volume["id"])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pairing_dm(agent: Agent) -> PairingDm:
    fleet = agent.fleet
    await fleet.dm(AGENT_BOT, END_USER_ID, END_USER_NAME, "hello agent")
    reply = (await fleet.bot_replies(AGENT_BOT, END_USER_ID, 1))[0]
    sent = [m for m in await fleet.sent_messages(AGENT_BOT) if m["chat_id"] == END_USER_ID]
    return PairingDm(code=pairing_code_in(reply["text"]), text=reply["text"], html=sent[0]["text"])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def approval(agent: Agent, pairing_dm: PairingDm) -> Approval:
    result = await agent.fleet.openclaw(
        agent.machine_id, "pairing", "approve", "telegram", pairing_dm.code
    )
    return Approval(code=pairing_dm.code, result=result)


async def test_logs_api_serves_the_real_gateway_ready_lines(agent: Agent) -> None:
    entries = await agent.fleet.log_lines(agent.machine_id)
    lines = [plain(message) for _, message in entries]
    assert "[gateway] ready" in lines
    assert any(line.startswith("[gateway] agent model: ") for line in lines)
    assert any(line.startswith("[gateway] http server listening (") for line in lines)
    assert f"[telegram] [default] starting provider (@bot{AGENT_BOT.split(':')[0]}_bot)" in lines
    # Served as the process printed them: with OpenClaw's timestamp and ANSI colours.
    ready = next(message for _, message in entries if plain(message) == "[gateway] ready")
    assert "\x1b[" in ready
    assert ready != plain(ready)


async def test_tcp_check_passes_while_the_gateway_port_accepts_connections(agent: Agent) -> None:
    machine = await agent.fleet.machine(agent.machine_id)
    assert machine["state"] == "started"
    assert machine["checks"] == [
        {
            "name": "gateway",
            "status": "passing",
            "output": "Success",
            "updated_at": machine["checks"][0]["updated_at"],
        }
    ]


async def test_unknown_sender_gets_the_real_pairing_message(pairing_dm: PairingDm) -> None:
    code = pairing_dm.code
    assert pairing_dm.html == (
        "OpenClaw: access not configured.\n\n"
        f"Your Telegram user id: {END_USER_ID}\n"
        "Pairing code:\n\n"
        f"<pre><code>{code}\n</code></pre>\n"
        "Ask the bot owner to approve with:\n\n"
        f"<pre><code>openclaw pairing approve telegram {code}\n</code></pre>"
    )
    assert pairing_dm.text.startswith(PAIRING_MESSAGE_START)
    assert f"openclaw pairing approve telegram {code}" in pairing_dm.text


async def test_pairing_list_json_shows_the_senders_pending_code(
    agent: Agent, pairing_dm: PairingDm
) -> None:
    result = await agent.fleet.openclaw(agent.machine_id, "pairing", "list", "telegram", "--json")
    assert result["exit_code"] == 0, result
    listed = parse_json_stdout(result)
    assert listed["channel"] == "telegram"
    [request] = listed["requests"]
    assert request["id"] == str(END_USER_ID)
    assert request["code"] == pairing_dm.code
    assert request["meta"] == {"firstName": END_USER_NAME, "accountId": "default"}


async def test_the_allow_list_reader_finds_no_sender_awaiting_approval(
    agent: Agent, pairing_dm: PairingDm
) -> None:
    result = await agent.fleet.exec(agent.machine_id, list(ALLOW_LIST.argv))
    assert result["exit_code"] == 0, result
    allowed = openclaw_cli.parse_allow_list(result["exit_code"], result["stdout"], result["stderr"])
    assert allowed.ok, allowed.reason
    assert not allowed.allows(str(END_USER_ID))
    assert allowed.senders == frozenset()


async def test_approve_runs_for_real_and_makes_the_first_sender_the_owner(
    approval: Approval,
) -> None:
    assert approval.result["exit_code"] == 0, approval.result
    assert approval.result["stdout"].splitlines()[-2:] == [
        f"Approved telegram sender {END_USER_ID}.",
        f"Command owner configured telegram:{END_USER_ID} (commands.ownerAllowFrom was empty).",
    ]


async def test_the_allow_list_reader_finds_the_approved_sender(
    agent: Agent, approval: Approval
) -> None:
    assert approval.result["exit_code"] == 0
    result = await agent.fleet.exec(agent.machine_id, list(ALLOW_LIST.argv))
    assert result["exit_code"] == 0, result
    assert result["stdout"] == f'{{"channel":"telegram","allowFrom":["{END_USER_ID}"]}}\n'
    allowed = openclaw_cli.parse_allow_list(result["exit_code"], result["stdout"], result["stderr"])
    assert allowed.allows(str(END_USER_ID))


async def test_second_approve_of_a_used_code_gets_the_real_refusal(
    agent: Agent, approval: Approval
) -> None:
    again = await agent.fleet.openclaw(
        agent.machine_id, "pairing", "approve", "telegram", approval.code
    )
    assert again["exit_code"] == 1
    assert again["stderr"].splitlines()[:2] == [
        "[openclaw] The CLI command failed.",
        f'[openclaw] Reason: No pending pairing request found for code "{approval.code}". '
        "Run openclaw pairing list --channel telegram to list pending requests.",
    ]


async def test_models_set_with_an_unknown_provider_gives_openclaws_own_reason(
    agent: Agent,
) -> None:
    result = await agent.fleet.openclaw(agent.machine_id, "models", "set", "moonshot/kimi-k2.5")
    assert result["exit_code"] == 1
    assert result["stderr"].strip() == (
        'Unknown model provider "moonshot". Install a plugin that declares it or configure it '
        'under models.providers before selecting "moonshot/kimi-k2.5". Config was not changed.'
    )
    status = await agent.fleet.openclaw(agent.machine_id, "models", "status", "--plain")
    assert status["exit_code"] == 0
    assert status["stdout"].strip().splitlines()[-1] != "moonshot/kimi-k2.5"


async def test_a_machine_on_a_volume_restored_from_a_snapshot_keeps_the_pairing(
    agent: Agent, approval: Approval
) -> None:
    fleet = agent.fleet
    assert approval.result["exit_code"] == 0
    snapshot_id = await fleet.snapshot(agent.volume_id)
    restored = await fleet.create_volume("agent_ann_restored", snapshot_id=snapshot_id)
    machine = await fleet.create_machine(agent_config(volume_id=restored["id"], bot=AGENT_BOT))
    # One bot token, one poller: the original gives way, as in a recreate.
    await fleet.stop(agent.machine_id)
    await fleet.wait_check_passing(machine["id"])
    await fleet.wait_for_log(machine["id"], "[gateway] ready")

    owners = await fleet.openclaw(machine["id"], "config", "get", "commands.ownerAllowFrom")
    assert owners["exit_code"] == 0, owners
    assert parse_json_stdout(owners) == [f"telegram:{END_USER_ID}"]

    before = len(await fleet.bot_replies(AGENT_BOT, END_USER_ID, 1))
    await fleet.dm(AGENT_BOT, END_USER_ID, END_USER_NAME, "hello again")
    replies = await fleet.bot_replies(AGENT_BOT, END_USER_ID, before + 1)
    assert not replies[-1]["text"].startswith(PAIRING_MESSAGE_START)
    listed = await fleet.openclaw(machine["id"], "pairing", "list", "telegram", "--json")
    assert parse_json_stdout(listed)["requests"] == []
