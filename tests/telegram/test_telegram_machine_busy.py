"""One command per machine, also after a command that never answered.

A command whose exec timed out may still run inside the machine. Until the machine was
restarted, it takes no other command — refused with the reason and the way out, without
any exec reaching it — and that holds across a restart of the bot.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from tg_harness import ADMIN, END_USER, FLY_TOKEN, BotFactory, BotHarness, run_env, until

from storage import VaultKeyring

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


async def _model_set_hung(bot: BotHarness) -> tuple[str, str]:
    """An agent whose `models set` hung past the exec timeout: (agent id, machine id)."""
    agent_id, invite = await bot.provision()
    await bot.link(END_USER, invite)
    agent = await bot.agent(agent_id)
    await bot.fly_fault(
        {"exec_hang": {"machine_id": agent.machine_id, "match": "models set", "count": 1}}
    )
    await bot.send(ADMIN, f"/model {agent_id} openai/gpt-4.1")

    async def timed_out() -> bool:
        hung = await bot.execs("models set")
        return any(e["answered"] == "408" for e in hung)

    await until(timed_out, what="the models set exec to time out")
    return agent_id, agent.machine_id


async def _pair_is_refused(bot: BotHarness, agent_id: str, machine_id: str) -> None:
    code = await bot.pairing_code(machine_id, END_USER["id"])
    execs_before = len(await bot.execs())
    sent = await bot.send(ADMIN, f"/pair {agent_id} {code}")
    refused = await bot.reply_to(ADMIN["id"], sent, f"/restart {agent_id}")
    assert "did not answer" in refused["text"], refused["text"]
    # Nothing reached the machine: no pairing list, no approve, no other command.
    assert len(await bot.execs()) == execs_before
    assert await bot.execs("pairing approve") == []


async def _restart_frees_it(bot: BotHarness, agent_id: str, machine_id: str) -> None:
    sent = await bot.send(ADMIN, f"/restart {agent_id}")
    await bot.reply_to(ADMIN["id"], sent, "Restarted", timeout=30)
    code = await bot.pairing_code(machine_id, END_USER["id"])
    sent = await bot.send(ADMIN, f"/pair {agent_id} {code}")
    await bot.reply_to(ADMIN["id"], sent, "Paired", timeout=30)
    approves = await bot.execs("pairing approve")
    assert [e["status"] for e in approves] == ["completed"]


async def test_after_a_command_timed_out_the_machine_takes_none_until_restarted(
    bot: BotHarness,
) -> None:
    agent_id, machine_id = await _model_set_hung(bot)

    await _pair_is_refused(bot, agent_id, machine_id)

    await _restart_frees_it(bot, agent_id, machine_id)


async def test_the_machine_stays_refused_across_a_restart_of_the_bot(bot: BotHarness) -> None:
    agent_id, machine_id = await _model_set_hung(bot)

    await bot.restart_bot()

    await _pair_is_refused(bot, agent_id, machine_id)
    await _restart_frees_it(bot, agent_id, machine_id)


async def test_a_restart_of_the_machine_from_outside_the_bot_frees_it_too(
    bot: BotHarness,
) -> None:
    agent_id, machine_id = await _model_set_hung(bot)
    await _pair_is_refused(bot, agent_id, machine_id)

    # Someone restarts the machine with flyctl: a new boot, a new instance id.
    answer = await bot.fly_http.post(
        f"/v1/apps/agents/machines/{machine_id}/restart",
        headers={"Authorization": f"Bearer {FLY_TOKEN}"},
    )
    assert answer.status_code == 200, answer.text

    async def hung_one_killed() -> bool:
        return any(e["status"] == "killed" for e in await bot.execs("models set"))

    await until(hung_one_killed, what="the restart to kill the hung command")

    async def back_up() -> bool:
        # As an operator would: the machine is running again and its gateway listening (a
        # /pair sent before that is refused as "not ready", which is not what this tests).
        for app in (await bot.driver.fly_state())["apps"]:
            for machine in app["machines"]:
                if machine["id"] == machine_id:
                    return bool(
                        machine["state"] == "started" and machine["emulator"]["gateway_listening"]
                    )
        return False

    await until(back_up, what="the machine to be back up")
    code = await bot.pairing_code(machine_id, END_USER["id"])
    sent = await bot.send(ADMIN, f"/pair {agent_id} {code}")
    await bot.reply_to(ADMIN["id"], sent, "Paired", timeout=30)


async def test_a_bot_killed_while_a_command_was_in_flight_leaves_the_machine_refused(
    bot_factory: BotFactory, tmp_path: Path
) -> None:
    key = VaultKeyring.generate_env_value()
    bot = await bot_factory(AGENT_SECRETS_ENCRYPTION_KEY=key)
    agent_id, invite = await bot.provision()
    await bot.link(END_USER, invite)
    machine_id = (await bot.agent(agent_id)).machine_id
    await bot.runtime.stop()
    await bot.fly_fault({"exec_hang": {"machine_id": machine_id, "match": "models set"}})
    # The same bot as its own process, with an exec timeout long enough to be killed first.
    env = run_env(
        bot.tg,
        bot.fly,
        bot.db_path,
        AGENT_SECRETS_ENCRYPTION_KEY=key,
        FLYAGENTS_EXEC_TIMEOUT_SEC=60,
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        env={"PATH": os.environ.get("PATH", ""), **{k: str(v) for k, v in env.items()}},
        cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await bot.send(ADMIN, f"/model {agent_id} openai/gpt-4.1")

        async def hung_unanswered() -> bool:
            return any(
                e["status"] == "hung" and e["answered"] == "pending"
                for e in await bot.execs("models set")
            )

        await until(hung_unanswered, what="the models set exec to be in flight")
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
    await bot.fly_fault({"clear": True})

    await bot.start_again()

    await _pair_is_refused(bot, agent_id, machine_id)
    await _restart_frees_it(bot, agent_id, machine_id)
