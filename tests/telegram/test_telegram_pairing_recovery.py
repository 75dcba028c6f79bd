"""Recovery of a stuck pairing after Restart machine: "not pending" is not proof of "applied".

A code can leave the pending list because the hung approve applied it, or because it expired
(or the approve was killed and the code then expired). Only OpenClaw's allow list tells them
apart: the sender is allowed, or the request failed and the end user is asked for a new code.
"""

from __future__ import annotations

from typing import Any

import pytest
from tg_harness import ADMIN, END_USER, OPS_CHAT, BotHarness, until

from storage.models import PairingState

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


async def _stuck(bot: BotHarness, mode: str) -> tuple[str, str, str, int, int]:
    """An approve that hangs (`mode` before/after its effect): (agent, machine, request,
    card message id, the end user's message id)."""
    agent_id, invite = await bot.provision()
    await bot.link(END_USER, invite)
    machine_id = (await bot.agent(agent_id)).machine_id
    code = await bot.pairing_code(machine_id, END_USER["id"])
    sent = await bot.send(END_USER, code)
    await bot.reply_to(END_USER["id"], sent, "waiting for an operator")
    request_id = (await bot.store.pairing.for_agent(agent_id))[-1].id
    await bot.fly_fault(
        {
            "exec_hang": {
                "machine_id": machine_id,
                "match": "pairing approve",
                "count": 1,
                "mode": mode,
            }
        }
    )
    card = await bot.card_for(request_id)
    await bot.press(ADMIN, card["message_id"], f"pa:{request_id}", chat_id=OPS_CHAT)
    await bot.shows(OPS_CHAT, card["message_id"], "stuck")
    return agent_id, machine_id, request_id, card["message_id"], sent


async def _openclaw_state(bot: BotHarness, machine_id: str) -> dict[str, Any]:
    state = (await bot.fly_http.get("/_emulator/state")).json()
    for app in state["apps"]:
        for machine in app["machines"]:
            if machine["id"] == machine_id:
                found: dict[str, Any] = machine["emulator"]["openclaw"]
                return found
    raise AssertionError(f"no machine {machine_id}")


async def _restart(bot: BotHarness, agent_id: str, card_id: int) -> dict[str, Any]:
    await bot.press(ADMIN, card_id, f"rs:{agent_id}", chat_id=OPS_CHAT)
    return await bot.reply_to(OPS_CHAT, card_id, lambda m: "Restarted" in m.get("text", ""))


async def test_a_killed_approve_whose_code_expired_is_reported_failed_never_paired(
    bot: BotHarness,
) -> None:
    agent_id, machine_id, request_id, card_id, sent = await _stuck(bot, "before")
    expired = await bot.fly_http.post(
        f"/_emulator/machines/{machine_id}/pairing-codes/expire", json={}
    )
    assert expired.json()["expired"], expired.text

    restarted = await _restart(bot, agent_id, card_id)

    assert "applied" not in restarted["text"], restarted["text"]
    assert "failed" in restarted["text"], restarted["text"]
    assert bot.buttons(restarted) == []
    told = await bot.reply_to(END_USER["id"], sent, "new code")
    assert "Paired" not in told["text"]
    assert not any("Paired" in m.get("text", "") for m in bot.bot_messages(END_USER["id"]))
    assert (await bot.store.pairing.get(request_id)).state is PairingState.FAILED
    assert (await _openclaw_state(bot, machine_id))["allow_from"] == []
    assert len(await bot.execs("pairing approve")) == 1


async def test_an_approve_that_applied_before_hanging_is_recovered_as_paired(
    bot: BotHarness,
) -> None:
    agent_id, machine_id, request_id, card_id, sent = await _stuck(bot, "after")

    async def applied_inside() -> bool:
        return str(END_USER["id"]) in (await _openclaw_state(bot, machine_id))["allow_from"]

    await until(applied_inside, what="the hung approve to have applied inside the machine")

    restarted = await _restart(bot, agent_id, card_id)

    assert "applied" in restarted["text"], restarted["text"]
    await bot.reply_to(END_USER["id"], sent, "Paired")
    assert (await bot.store.pairing.get(request_id)).state is PairingState.SUCCEEDED
    assert len(await bot.execs("pairing approve")) == 1
