"""kill -9 of the bot while Fly creates the agent's volume or machine, then a restart.

Issue 14: a crash while `POST /volumes` was in flight left, after the restart, a second volume
and the first one orphaned. The restarted bot must find what the lost request created (by the
volume's name, the machine's metadata) and finish with exactly one of each. Issue 14 (smaller):
the admin's progress message was left at ⏳ and no invite was issued after such a resume.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from bot_crash import CrashableBot, open_world
from tg_harness import ADMIN, INVITE_RE, until

from emulators.fly import FlyEmulator
from emulators.telegram import TelegramEmulator
from storage import Store
from storage.models import Agent, AgentStatus

LATENCY_S = 4.0  # the kill must land while the request is in flight, on a loaded machine too


@pytest.fixture
async def crashable(
    fly_emulator: FlyEmulator,
    telegram_emulator_factory: Callable[..., Awaitable[TelegramEmulator]],
    tmp_path: Path,
) -> AsyncIterator[CrashableBot]:
    tg = await telegram_emulator_factory()
    world = await open_world(tg, fly_emulator, tmp_path)
    try:
        yield world
    finally:
        await world.stop()
        await world.tg_http.aclose()
        await world.fly_http.aclose()


async def _crash_while_creating(bot: CrashableBot, path_end: str) -> int:
    """/provision with a slow `POST …/path_end`, killed while that request is in flight, and
    kept dead until Fly has carried the request out. Returns the progress message's id."""
    await bot.fly_fault(
        {
            "route": {"method": "POST", "path_regex": f"{path_end}$"},
            "latency_s": LATENCY_S,
            "count": 1,
        }
    )
    await bot.start()
    await bot.store_agent_token()
    sent = await bot.send(ADMIN, "/provision tenant=acme user=alice")
    progress = await bot.reply_to(ADMIN["id"], sent, "provision")
    await until(lambda: bot.in_flight("POST", path_end), what=f"POST {path_end} in flight")
    await bot.kill()
    # The request outlives its client, as on Fly: it is carried out after the latency.
    await until(lambda: bot.answered("POST", path_end), what=f"POST {path_end} to be carried out")
    return int(progress["message_id"])


async def _resumed_agent(bot: CrashableBot) -> Agent:
    store = await Store.open(bot.db_path)
    try:

        async def running() -> Agent | None:
            agent = await store.agents.get_live("acme", "alice")
            return agent if agent is not None and agent.status is AgentStatus.RUNNING else None

        return await until(running, 60, "the resumed agent to run")
    finally:
        await store.close()


@pytest.mark.parametrize(("path_end", "kind"), [("/volumes", "volumes"), ("/machines", "machines")])
async def test_a_crash_while_creating_resumes_with_what_the_lost_request_made(
    crashable: CrashableBot, path_end: str, kind: str
) -> None:
    # kill -9 while POST /volumes (or /machines) is in flight: Fly carries it out anyway, and
    # the next process finds it instead of creating a second one.
    await _crash_while_creating(crashable, path_end)
    assert len(await crashable.live(kind)) == 1

    await crashable.start()
    agent = await _resumed_agent(crashable)

    volumes = await crashable.live("volumes")
    machines = await crashable.live("machines")
    assert [v["id"] for v in volumes] == [agent.volume_id]
    assert [m["id"] for m in machines] == [agent.machine_id]


async def test_after_a_crash_the_progress_message_is_finished_and_the_invite_sent_once(
    crashable: CrashableBot,
) -> None:
    progress_id = await _crash_while_creating(crashable, "/volumes")

    await crashable.start()
    agent = await _resumed_agent(crashable)

    def finished() -> dict[str, object] | None:
        for message in crashable.bot_messages(ADMIN["id"]):
            if message["message_id"] == progress_id and "⏳" not in str(message.get("text")):
                return message
        return None

    shown = await until(finished, 30, "the progress message to show the outcome")
    assert "Resumed and finished" in str(shown["text"]), shown["text"]
    assert agent.id in str(shown["text"])

    def invites() -> list[str]:
        return [
            str(m.get("text"))
            for m in crashable.bot_messages(ADMIN["id"])
            if INVITE_RE.search(str(m.get("text", "")))
        ]

    await until(invites, 30, "the invite link")
    await crashable.stop()  # whatever the bot would still send is sent by now
    assert len(invites()) == 1, invites()
