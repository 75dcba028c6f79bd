"""`python -m bot demo`: the whole story passes, reads as a conversation, and fails loudly.

The story runs on emulators built by the suite's fixtures, so every Fly and Telegram exchange
of the demo is also checked against the API contracts at teardown.
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable

import pytest

from bot.demo.story import EXIT_FAILED, EXIT_OK, Story, exit_status, play, summary_lines
from bot.demo.transcript import Transcript
from bot.demo.world import (
    PEOPLE,
    SECOND_FLY_TOKEN,
    WATCHED_CHATS,
    DemoWorld,
    agent_bot_token,
    fly_emulator_options,
)
from emulators.fly import FlyEmulator
from emulators.telegram import TelegramEmulator

FlyEmulatorFactory = Callable[..., Awaitable[FlyEmulator]]
TelegramEmulatorFactory = Callable[..., Awaitable[TelegramEmulator]]

# PTB builds RetryAfter (a 429 in a private chat) with an attribute it deprecates itself.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


async def _world(
    fly_emulator_factory: FlyEmulatorFactory, telegram_emulator_factory: TelegramEmulatorFactory
) -> DemoWorld:
    fly = await fly_emulator_factory(**fly_emulator_options())
    return DemoWorld(fly=fly, telegram=await telegram_emulator_factory())


async def test_the_demo_plays_every_step_and_its_transcript_shows_the_key_moments(
    fly_emulator_factory: FlyEmulatorFactory, telegram_emulator_factory: TelegramEmulatorFactory
) -> None:
    out = io.StringIO()
    world = await _world(fly_emulator_factory, telegram_emulator_factory)

    results = await play(out, world)

    transcript = out.getvalue()
    assert exit_status(results) == EXIT_OK, "\n".join(summary_lines(results))
    assert [r.ok for r in results] == [True] * len(results)
    for moment in (
        "provision: volume ✓ machine …",  # a progress step, from the edits of one message
        "✅ Provisioned ag_",
        "https://t.me/bot5550001_bot?start=",
        "✅ You are linked to your agent acme/uma.",
        "Pairing code:",
        "is waiting for an operator's approval",
        "🔑 Pairing request",
        "presses [1] “✅ Approve” (message",
        "✅ succeeded (approved by Ann",
        "Paired: you can now talk to your agent.",
        "The model is now moonshotai/kimi-k2.5 (verified on the machine).",
        "Model: moonshotai/kimi-k2.5",
        "✅ Snapshot vs_",
        "“⚠️ Yes, recreate”",
        "✅ Recreated ag_",
        "is stopped.",
        "is running.",
        "🚨 machine_unexpected_failed",
        "Tenant globex — Globex Inc",
        "FLY_APP_NAME: globex-agents",
        "“⚠️ Yes, deprovision”",
        "✅ Deprovisioned ag_",
        "the bot deleted Ann's message",
        f"Demo passed: {len(results)} of {len(results)} steps did what they should.",
    ):
        assert moment in transcript, moment
    # Who said what, in the order it happened.
    assert transcript.index("👤 Ann (admin) → bot:") < transcript.index("🤖 bot → Ann")
    assert transcript.index("🤖 bot → ops chat:") < transcript.index("Summary")
    # Secret values typed by the admin never reach the transcript.
    for secret in (agent_bot_token(1), agent_bot_token(2), SECOND_FLY_TOKEN):
        assert secret not in transcript


async def test_a_step_that_does_not_do_what_it_should_fails_the_demo(
    fly_emulator_factory: FlyEmulatorFactory, telegram_emulator_factory: TelegramEmulatorFactory
) -> None:
    out = io.StringIO()
    async with await _world(fly_emulator_factory, telegram_emulator_factory) as world:
        # Every gateway refuses to start (no auth token): provisioning cannot succeed.
        await world.fly_fault({"gateway_mode": {"machine_id": "*", "mode": "refuse_auth"}})
        story = Story(world, Transcript(world, out, WATCHED_CHATS, PEOPLE))

        results = await story.run()

    assert exit_status(results) == EXIT_FAILED
    assert results[0].ok is False
    assert "Refusing to bind gateway to lan without auth" in results[0].detail
    assert [r.ok for r in results[1:]] == [None] * (len(results) - 1)
    assert "step 1 failed" in out.getvalue()
    assert "Demo FAILED: 0 of" in "\n".join(summary_lines(results))
