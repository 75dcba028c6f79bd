"""Provisioning outcomes as the admins see them: a failed one stays failed, links stay private.

Issue 14: a provisioning that failed at its model step was promoted to `running` by the
monitor's next sweep (the machine was `started`), /list claimed the configured model and a
pairing was approved on a machine running OpenClaw's default model. And invite links were
shown in the ops group, where whoever clicks first is linked.
"""

from __future__ import annotations

from typing import Any

from tg_harness import (
    ADMIN,
    AGENT_BOT_TOKEN,
    AGENT_ID_RE,
    BOT_USERNAME,
    END_USER,
    INVITE_RE,
    OPS_CHAT,
    BotFactory,
    BotHarness,
    until,
)

from storage.models import AgentStatus


async def _failed_at_model(bot: BotHarness) -> str:
    """/provision whose `models set` hangs until the exec times out; returns the agent id."""
    await bot.fly_fault({"exec_hang": {"machine_id": "*", "match": "models set", "count": 1}})
    sent = await bot.send(ADMIN, f"/secret acme/alice TELEGRAM_BOT_TOKEN={AGENT_BOT_TOKEN}")
    await bot.reply_to(ADMIN["id"], sent, "Stored")
    sent = await bot.send(ADMIN, "/provision tenant=acme user=alice model=openai/gpt-5.2")
    failed = await bot.reply_to(ADMIN["id"], sent, "failed at step model", timeout=30)
    found = AGENT_ID_RE.search(failed["text"]) or AGENT_ID_RE.search(
        " ".join(m.get("text", "") for m in bot.bot_messages(OPS_CHAT))
    )
    assert found, failed["text"]
    return found.group(0)


async def test_a_provisioning_failed_at_the_model_step_stays_failed_after_monitor_sweeps(
    bot_factory: BotFactory,
) -> None:
    bot = await bot_factory(FLYAGENTS_EXEC_TIMEOUT_SEC=2)
    agent_id = await _failed_at_model(bot)
    agent = await bot.agent(agent_id)
    assert agent.status is AgentStatus.ERROR
    machine = next(m for m in await _machines(bot) if m["id"] == agent.machine_id)
    await until(lambda: _started(bot, machine["id"]), what="the machine to be started")

    monitor = bot.runtime.monitor
    assert monitor is not None
    for _ in range(3):
        await monitor.sweep()

    assert (await bot.agent(agent_id)).status is AgentStatus.ERROR
    sent = await bot.send(ADMIN, "/list")
    listed = await bot.reply_to(ADMIN["id"], sent, agent_id)
    line = next(row for row in listed["text"].split("\n") if agent_id in row)
    assert "openai/gpt-5.2" not in line, line
    assert "running" not in line, line

    before = len(await bot.execs("pairing approve"))
    code = await bot.pairing_code(str(agent.machine_id), END_USER["id"])
    sent = await bot.send(ADMIN, f"/pair {agent_id} {code}")
    refused = await bot.reply_to(ADMIN["id"], sent, lambda m: "⏳" not in m.get("text", ""))
    refused = await until(
        lambda: _settled(bot, ADMIN["id"], refused["message_id"]), what="the /pair answer"
    )
    assert "did not finish provisioning" in refused["text"], refused["text"]
    assert len(await bot.execs("pairing approve")) == before


def _settled(bot: BotHarness, chat_id: int, message_id: int) -> dict[str, object] | None:
    message = bot.message(chat_id, message_id)
    return None if "⏳" in message.get("text", "") else message


async def _machines(bot: BotHarness) -> list[dict[str, Any]]:
    state = (await bot.fly_http.get("/_emulator/state")).json()
    return [m for app in state["apps"] for m in app["machines"] if m["state"] != "destroyed"]


async def _started(bot: BotHarness, machine_id: str) -> bool:
    return any(m["id"] == machine_id and m["state"] == "started" for m in await _machines(bot))


# --- invite links never in a group ---------------------------------------------------------

LINK_MARK = "t.me/"


def _links_in(bot: BotHarness, chat_id: int) -> list[str]:
    return [
        str(m.get("text"))
        for m in bot.bot_messages(chat_id)
        if LINK_MARK in str(m.get("text", "")) or INVITE_RE.search(str(m.get("text", "")))
    ]


async def _provision_in_ops(bot: BotHarness) -> tuple[str, dict[str, object]]:
    sent = await bot.send(ADMIN, f"/secret acme/alice TELEGRAM_BOT_TOKEN={AGENT_BOT_TOKEN}")
    await bot.reply_to(ADMIN["id"], sent, "Stored")
    sent = await bot.send_in_ops(ADMIN, "/provision tenant=acme user=alice")
    done = await bot.reply_to(OPS_CHAT, sent, "Provisioned", timeout=30)
    found = AGENT_ID_RE.search(str(done["text"]))
    assert found, done["text"]
    return found.group(0), done


async def test_provision_in_the_ops_group_sends_the_invite_link_to_the_admin_privately(
    bot: BotHarness,
) -> None:
    agent_id, done = await _provision_in_ops(bot)

    assert "sent to you in our private chat" in str(done["text"]), done["text"]
    assert _links_in(bot, OPS_CHAT) == []
    private = await until(lambda: _links_in(bot, ADMIN["id"]), what="the link in private")
    assert len(private) == 1 and agent_id in private[0], private
    token = INVITE_RE.search(private[0])
    assert token is not None
    assert not any(token.group(1) in str(m.get("text", "")) for m in bot.messages(OPS_CHAT)), (
        "the token reached the group"
    )


async def test_invite_in_the_ops_group_sends_the_link_to_the_admin_privately(
    bot: BotHarness,
) -> None:
    agent_id, _ = await _provision_in_ops(bot)
    before = len(_links_in(bot, ADMIN["id"]))

    sent = await bot.send_in_ops(ADMIN, f"/invite {agent_id}")

    answer = await bot.reply_to(OPS_CHAT, sent, "private chat")
    assert agent_id in str(answer["text"])
    await until(lambda: len(_links_in(bot, ADMIN["id"])) == before + 1, what="a second link")
    assert _links_in(bot, OPS_CHAT) == []


async def test_invite_in_the_ops_group_when_telegram_refuses_the_private_chat_says_how(
    bot: BotHarness,
) -> None:
    agent_id, _ = await _provision_in_ops(bot)
    await bot.tg_fault({"blocked_user": {"chat_id": ADMIN["id"]}})
    before = len(_links_in(bot, ADMIN["id"]))

    sent = await bot.send_in_ops(ADMIN, f"/invite {agent_id}")

    answer = await bot.reply_to(OPS_CHAT, sent, "could not send you the invite")
    assert f"@{BOT_USERNAME}" in str(answer["text"])
    assert f"/invite {agent_id}" in str(answer["text"])
    assert _links_in(bot, OPS_CHAT) == []
    assert len(_links_in(bot, ADMIN["id"])) == before
    # The undelivered invite was withdrawn: only the one from /provision remains usable.
    invites = await bot.store.invites.for_agent(agent_id)
    assert sum(1 for i in invites if i.revoked_at is None and i.redeemed_at is None) == 1
