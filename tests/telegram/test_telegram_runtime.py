"""Start-up, settings, command menus, webhook mode and the global error handler."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tg_harness import ADMIN, BOT_TOKEN, END_USER, OPS_CHAT, BotHarness, until

from bot.runtime import REQUIRED_TO_RUN
from bot.telegram.commands import ADMIN_COMMANDS
from storage import VaultKeyring

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def _run_bot(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        env={"PATH": os.environ.get("PATH", ""), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_run_with_an_empty_environment_exits_non_zero_listing_every_missing_setting(
    tmp_path: Path,
) -> None:
    result = _run_bot({}, tmp_path)

    assert result.returncode == 2
    for name in REQUIRED_TO_RUN:
        assert f"{name}: is required but not set" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_run_lists_malformed_and_missing_settings_together(tmp_path: Path) -> None:
    result = _run_bot({"FLY_REGION": "nowhere", "FLYAGENTS_ADMIN_IDS": "11"}, tmp_path)
    assert result.returncode == 2
    assert "FLY_REGION" in result.stderr or "region" in result.stderr
    assert "FLYAGENTS_TELEGRAM_TOKEN: is required" in result.stderr
    assert "FLYAGENTS_ADMIN_IDS" not in result.stderr

    malformed = {
        "FLYAGENTS_TELEGRAM_TOKEN": "not-a-token",
        "FLYAGENTS_ADMIN_IDS": "11",
        "FLYAGENTS_OPS_CHAT_ID": "0",
        "FLYAGENTS_TELEGRAM_API_URL": "ftp://example.com",
        "AGENT_SECRETS_ENCRYPTION_KEY": "too-short",
        "FLY_API_TOKEN": "fo1_x",
        "FLY_APP_NAME": "agents",
    }
    result = _run_bot(malformed, tmp_path)
    assert result.returncode == 2
    for name in (
        "FLYAGENTS_TELEGRAM_TOKEN",
        "FLYAGENTS_OPS_CHAT_ID",
        "FLYAGENTS_TELEGRAM_API_URL",
        "AGENT_SECRETS_ENCRYPTION_KEY",
    ):
        assert name in result.stderr, result.stderr
    assert "not-a-token" not in result.stderr and "too-short" not in result.stderr


def test_run_when_telegram_cannot_be_reached_exits_with_one_line(tmp_path: Path) -> None:
    env = {
        "FLYAGENTS_TELEGRAM_TOKEN": BOT_TOKEN,
        "FLYAGENTS_TELEGRAM_API_URL": "http://127.0.0.1:9",
        "FLYAGENTS_ADMIN_IDS": "11",
        "FLYAGENTS_OPS_CHAT_ID": "-100",
        "FLYAGENTS_DB_PATH": str(tmp_path / "data" / "bot.db"),
        "AGENT_SECRETS_ENCRYPTION_KEY": VaultKeyring.generate_env_value(),
        "FLY_API_TOKEN": "fo1_x",
        "FLY_APP_NAME": "agents",
    }
    result = _run_bot(env, tmp_path)

    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("The bot could not start")
    assert "Traceback" not in result.stderr
    assert BOT_TOKEN not in result.stderr


async def test_admins_and_end_users_get_different_command_menus(bot: BotHarness) -> None:
    sent = await bot.send(ADMIN, "/help")
    await bot.reply_to(ADMIN["id"], sent, "Admin commands")

    async def menus() -> dict[tuple[str, ...], list[str]] | None:
        bots = (await bot.tg_http.get("/_emulator/bots")).json()["bots"]
        found = {
            tuple(str(part) for part in entry["scope"]): [c["command"] for c in entry["commands"]]
            for entry in bots[0]["commands"]
        }
        return found if ("chat", str(ADMIN["id"])) in found else None

    found = await until(menus, what="the admin's menu")
    admin_names = [command.name for command in ADMIN_COMMANDS]
    assert found[("all_private_chats",)] == ["pair", "status", "help"]
    assert found[("chat", str(ADMIN["id"]))] == admin_names
    assert found[("chat", str(OPS_CHAT))] == [n for n in admin_names if n != "secret"]


async def test_an_unexpected_error_gives_a_reference_and_alerts_ops_without_details(
    bot: BotHarness,
) -> None:
    # Telegram fails the bot's reply: nothing the handler expected.
    await bot.tg_fault({"server_error": {"method": "sendMessage", "count": 1, "status": 500}})
    sent = await bot.send(ADMIN, "/list")

    told = await bot.reply_to(ADMIN["id"], sent, "went wrong")
    ref = re.search(r"ref ([0-9a-f]{6})", told["text"])
    assert ref is not None
    alert = await bot.reply_to(OPS_CHAT, 0, ref.group(1))
    assert "bot_error" in alert["text"] and "/list" in alert["text"]
    for text in (told["text"], alert["text"]):
        assert "Traceback" not in text and 'File "' not in text


async def test_an_end_user_who_blocked_the_bot_is_recorded_and_not_retried(bot: BotHarness) -> None:
    _, invite = await bot.provision()
    await bot.link(END_USER, invite)
    await bot.tg_fault({"blocked_user": {"chat_id": END_USER["id"]}})
    await bot.send(END_USER, "/status")

    async def recorded() -> bool:
        return bool(await bot.store.audit.entries(action="telegram.blocked"))

    await until(recorded, what="the block to be recorded")
    listed = await bot.send(ADMIN, "/list")  # the bot keeps serving others meanwhile
    await bot.reply_to(ADMIN["id"], listed, "live agent")
    attempts = [
        r for r in bot.requests("sendMessage") if str(r["params"]["chat_id"]) == str(END_USER["id"])
    ]
    assert [r["status"] for r in attempts][-1] == 403
    assert sum(r["status"] == 403 for r in attempts) == 1


def test_a_generated_vault_key_is_accepted_by_the_settings_check(tmp_path: Path) -> None:
    key = VaultKeyring.generate_env_value()
    result = _run_bot({"AGENT_SECRETS_ENCRYPTION_KEY": key}, tmp_path)
    assert result.returncode == 2
    assert "AGENT_SECRETS_ENCRYPTION_KEY" not in result.stderr
    assert key not in result.stderr


async def test_the_running_bot_keeps_a_heartbeat_for_the_healthcheck(bot: BotHarness) -> None:
    from bot.health import healthy

    heartbeat = bot.db_path.parent / "heartbeat"
    await until(lambda: heartbeat.exists(), timeout=10)
    ok, detail = healthy(heartbeat)
    assert ok, detail
