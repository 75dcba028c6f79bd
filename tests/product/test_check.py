"""`python -m bot check`: every settings problem at once, then Telegram and Fly reachability."""

from __future__ import annotations

import base64
import os
from collections.abc import Awaitable, Callable

import pytest

from bot.check import run_checks
from emulators.fly import FlyEmulator
from emulators.telegram import TelegramEmulator

BOT_TOKEN = "123456789:AAAdminBotTokenForCheckTests_abcdefgh"
FLY_TOKEN = "fo1_check_token_value"
NAMES = (
    "FLYAGENTS_TELEGRAM_TOKEN",
    "FLYAGENTS_TELEGRAM_API_URL",
    "FLYAGENTS_ADMIN_IDS",
    "FLYAGENTS_OPS_CHAT_ID",
    "AGENT_SECRETS_ENCRYPTION_KEY",
    "FLY_API_TOKEN",
    "FLY_APP_NAME",
    "FLYAGENTS_FLY_API_URL",
    "FLYAGENTS_FLY_LOGS_URL",
    "LLM_MODEL",
    "FLY_REGION",
)


@pytest.fixture(autouse=True)
def empty_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(str(tmp_path))


async def test_a_bad_config_lists_every_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_MODEL", "gpt-5-mini")
    monkeypatch.setenv("FLY_REGION", "somewhere")
    lines = await run_checks()
    assert not any(line.ok for line in lines)
    text = "\n".join(line.render() for line in lines)
    for expected in (
        "FLYAGENTS_TELEGRAM_TOKEN",
        "FLYAGENTS_ADMIN_IDS",
        "FLYAGENTS_OPS_CHAT_ID",
        "AGENT_SECRETS_ENCRYPTION_KEY",
        "gpt-5-mini",
        "region",
    ):
        assert expected in text, text
    # The fleet-wide Fly app is optional, so its absence is not a problem.
    assert "FLY_API_TOKEN" not in text and "FLY_APP_NAME" not in text
    assert len(lines) == 6


async def test_half_of_the_fleet_fly_pair_is_refused_naming_both(
    monkeypatch: pytest.MonkeyPatch, telegram_emulator: TelegramEmulator, fly_emulator: FlyEmulator
) -> None:
    _good_env(monkeypatch, telegram_emulator, fly_emulator)
    monkeypatch.delenv("FLY_APP_NAME")
    lines = await run_checks()
    assert [line.ok for line in lines] == [False]
    assert "FLY_API_TOKEN and FLY_APP_NAME: set both" in lines[0].detail
    assert FLY_TOKEN not in lines[0].render()


async def test_without_a_fleet_fly_app_check_passes_and_says_tenants_need_their_own(
    monkeypatch: pytest.MonkeyPatch, telegram_emulator: TelegramEmulator, fly_emulator: FlyEmulator
) -> None:
    _good_env(monkeypatch, telegram_emulator, fly_emulator)
    monkeypatch.delenv("FLY_APP_NAME")
    monkeypatch.delenv("FLY_API_TOKEN")
    lines = await run_checks()
    assert [line.ok for line in lines] == [True, True, True]
    assert "each tenant needs its own" in lines[2].detail


def _good_env(monkeypatch: pytest.MonkeyPatch, tg: TelegramEmulator, fly: FlyEmulator) -> None:
    monkeypatch.setenv("FLYAGENTS_TELEGRAM_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("FLYAGENTS_TELEGRAM_API_URL", tg.root_url)
    monkeypatch.setenv("FLYAGENTS_ADMIN_IDS", "1")
    monkeypatch.setenv("FLYAGENTS_OPS_CHAT_ID", "-100")
    monkeypatch.setenv("AGENT_SECRETS_ENCRYPTION_KEY", base64.b64encode(os.urandom(32)).decode())
    monkeypatch.setenv("FLY_API_TOKEN", FLY_TOKEN)
    monkeypatch.setenv("FLY_APP_NAME", "agents")
    monkeypatch.setenv("FLYAGENTS_FLY_API_URL", fly.base_url)
    monkeypatch.setenv("FLYAGENTS_FLY_LOGS_URL", fly.root_url)


async def test_a_good_config_reaches_telegram_and_fly(
    monkeypatch: pytest.MonkeyPatch,
    telegram_emulator: TelegramEmulator,
    fly_emulator_factory: Callable[..., Awaitable[FlyEmulator]],
) -> None:
    fly = await fly_emulator_factory(token=FLY_TOKEN, apps=("agents",))
    _good_env(monkeypatch, telegram_emulator, fly)
    lines = await run_checks()
    assert [line.ok for line in lines] == [True, True, True]
    assert "@" in lines[1].detail
    assert "agents" in lines[2].detail


async def test_wrong_fly_token_and_unknown_app_are_named(
    monkeypatch: pytest.MonkeyPatch,
    telegram_emulator: TelegramEmulator,
    fly_emulator_factory: Callable[..., Awaitable[FlyEmulator]],
) -> None:
    fly = await fly_emulator_factory(token="fo1_the_only_good_token", apps=("agents",))
    _good_env(monkeypatch, telegram_emulator, fly)
    lines = await run_checks()
    assert lines[2].ok is False
    assert "refused (401)" in lines[2].detail
    assert FLY_TOKEN not in "".join(line.render() for line in lines)
    monkeypatch.setenv("FLY_API_TOKEN", "fo1_the_only_good_token")
    monkeypatch.setenv("FLY_APP_NAME", "missing-app")
    lines = await run_checks()
    assert "does not exist (404)" in lines[2].detail


async def test_unreachable_telegram_is_named_without_the_token(
    monkeypatch: pytest.MonkeyPatch, fly_emulator: FlyEmulator
) -> None:
    class Closed:
        root_url = "http://127.0.0.1:9"

    _good_env(monkeypatch, Closed(), fly_emulator)  # type: ignore[arg-type]
    lines = await run_checks()
    assert lines[1].ok is False
    assert "cannot reach" in lines[1].detail
    assert BOT_TOKEN not in lines[1].render()
