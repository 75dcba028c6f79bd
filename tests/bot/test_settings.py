"""Settings: every problem at once, secrets hidden, seed names honoured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.fleet.defaults import FleetDefaults
from bot.settings import SettingsError, load_settings
from storage import VaultKeyring

ENV_NAMES = (
    "FLYAGENTS_TELEGRAM_TOKEN",
    "FLYAGENTS_ADMIN_IDS",
    "FLY_API_TOKEN",
    "FLY_APP_NAME",
    "LLM_MODEL",
    "FLY_REGION",
    "AGENT_BRIDGE_URL",
    "FLYAGENTS_AGENT_OWNER",
    "LLM_API_KEY",
    "FLYAGENTS_BULK_CONCURRENCY",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(str(tmp_path))  # no stray .env


def test_every_problem_is_listed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_MODEL", "openai/gpt-5-mini")
    monkeypatch.setenv("FLY_REGION", "nowhere")
    monkeypatch.setenv("AGENT_BRIDGE_URL", "http://insecure.example.com")
    with pytest.raises(SettingsError) as exc:
        load_settings(require=("FLYAGENTS_TELEGRAM_TOKEN", "FLY_API_TOKEN"))
    text = str(exc.value)
    for expected in ("FLYAGENTS_TELEGRAM_TOKEN", "FLY_API_TOKEN", "gpt-5-mini", "region", "https"):
        assert expected in text, text
    assert len(exc.value.problems) == 5


def test_secrets_never_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLY_API_TOKEN", "CANARY-fly-token-123")
    monkeypatch.setenv("LLM_API_KEY", "CANARY-llm-key-456")
    settings = load_settings()
    assert "CANARY" not in repr(settings)
    assert "CANARY" not in str(settings.model_dump())
    assert settings.fly_api_token is not None
    assert settings.fly_api_token.get_secret_value() == "CANARY-fly-token-123"


def test_admin_ids_and_owner_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYAGENTS_ADMIN_IDS", "11, 22")
    settings = load_settings()
    assert settings.admin_ids == [11, 22]
    assert settings.owner_entries() == ["telegram:11", "telegram:22"]
    monkeypatch.setenv("FLYAGENTS_AGENT_OWNER", "user")
    assert load_settings().owner_entries() is None
    monkeypatch.setenv("FLYAGENTS_AGENT_OWNER", "telegram:5,telegram:6")
    assert load_settings().owner_entries() == ["telegram:5", "telegram:6"]
    monkeypatch.setenv("FLYAGENTS_AGENT_OWNER", "everyone")
    with pytest.raises(SettingsError, match="FLYAGENTS_AGENT_OWNER"):
        load_settings()


def test_seed_defaults() -> None:
    settings = load_settings()
    assert settings.llm_model == "openai/gpt-4.1-mini"
    assert settings.region == "iad"
    assert settings.agent_memory_mb == 2048
    assert settings.allowed_skills == ["linkhub-bridge"]
    assert settings.startup_timeout_s == 240
    assert settings.fly_api_url == "https://api.machines.dev/v1"


def test_bulk_concurrency_defaults_to_50_and_feeds_the_fleet_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings().bulk_concurrency == 50
    assert FleetDefaults.from_settings(load_settings()).bulk_concurrency == 50
    for value in ("1", "500", " 7 "):
        monkeypatch.setenv("FLYAGENTS_BULK_CONCURRENCY", value)
        settings = load_settings()
        assert FleetDefaults.from_settings(settings).bulk_concurrency == int(value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("0", "must be a whole number from 1 to 500"),
        ("501", "must be a whole number from 1 to 500"),
        ("-5", "must be a whole number from 1 to 500"),
        ("many", "valid integer"),
        ("2.5", "valid integer"),
    ],
)
def test_bulk_concurrency_outside_1_to_500_is_refused_clearly(
    monkeypatch: pytest.MonkeyPatch, value: str, reason: str
) -> None:
    monkeypatch.setenv("FLYAGENTS_BULK_CONCURRENCY", value)
    with pytest.raises(SettingsError) as exc:
        load_settings()
    (problem,) = exc.value.problems
    assert problem.startswith("FLYAGENTS_BULK_CONCURRENCY: ")
    assert reason in problem


# -- every malformed setting is the one settings error, exit 2, from run and from check -------

CLI_BASE_ENV = {
    "FLYAGENTS_TELEGRAM_TOKEN": "123456789:AAAdminBotTokenForSettingsTests_abcdefgh",
    # Nothing listens there: a setting that slipped through ends in "could not start" (exit 1).
    "FLYAGENTS_TELEGRAM_API_URL": "http://127.0.0.1:9",
    "FLYAGENTS_ADMIN_IDS": "11",
    "FLYAGENTS_OPS_CHAT_ID": "-100",
    "AGENT_SECRETS_ENCRYPTION_KEY": "",  # filled in per test (a fresh key)
}


def _a_file(folder: Path) -> str:
    path = folder / "plain-file"
    path.write_text("not a folder\n")
    return str(path)


# (setting named in the error, its value; "{tmp}" is the test's folder, "{file}" a file in it)
BAD_SETTINGS = [
    ("FLYAGENTS_LOG_LEVEL", "bogus"),
    ("FLYAGENTS_DB_PATH", "{tmp}"),
    ("FLYAGENTS_DB_PATH", ""),
    ("FLYAGENTS_DB_PATH", "   "),
    ("FLYAGENTS_DB_PATH", "{file}/bot.db"),
    ("FLYAGENTS_WEBHOOK_PORT", "99999"),
    ("FLYAGENTS_WEBHOOK_PORT", "0"),
    ("FLYAGENTS_WEBHOOK_SECRET", "has spaces in it"),
    ("FLYAGENTS_WEBHOOK_SECRET", "x" * 257),
    ("FLYAGENTS_MONITOR_INTERVAL_SEC", "0"),
    ("FLYAGENTS_MONITOR_INTERVAL_SEC", "-5"),
    ("FLYAGENTS_MONITOR_INTERVAL_SEC", "nan"),
    ("FLYAGENTS_MONITOR_INTERVAL_SEC", "inf"),
    ("FLYAGENTS_ADMIN_IDS", " , "),
    ("FLYAGENTS_ADMIN_IDS", "[]"),
    ("FLYAGENTS_ADMIN_IDS", "0"),
    ("FLYAGENTS_ADMIN_IDS", "11,-3"),
    ("FLYAGENTS_ADMIN_IDS", "[1"),
    ("OPENCLAW_STARTUP_TIMEOUT_SEC", "-1"),
    ("OPENCLAW_STARTUP_TIMEOUT_SEC", "0"),
    ("FLYAGENTS_EXEC_TIMEOUT_SEC", "-1"),
    ("FLYAGENTS_EXEC_TIMEOUT_SEC", "0"),
    ("FLYAGENTS_VOLUME_SIZE_GB", "0"),
    ("FLYAGENTS_VOLUME_SIZE_GB", "501"),
    ("FLYAGENTS_HEARTBEAT_PATH", "{file}/heartbeat"),
    ("FLYAGENTS_HEARTBEAT_PATH", "{tmp}"),
    ("FLYAGENTS_HEARTBEAT_PATH", "/proc/flyagents/heartbeat"),
    ("FLYAGENTS_TELEGRAM_API_URL", "http://[::1"),
]


def _bot(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", command],
        env={"PATH": os.environ.get("PATH", ""), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _assert_settings_error(result: subprocess.CompletedProcess[str], name: str) -> None:
    said = result.stdout + result.stderr
    assert "Traceback" not in said, said
    assert result.returncode == 2, said
    assert name in said, said


@pytest.mark.parametrize(("name", "value"), BAD_SETTINGS)
def test_a_malformed_setting_stops_run_and_check_with_the_settings_error(
    tmp_path: Path, name: str, value: str
) -> None:
    env = dict(CLI_BASE_ENV, AGENT_SECRETS_ENCRYPTION_KEY=VaultKeyring.generate_env_value())
    env[name] = value.replace("{tmp}", str(tmp_path)).replace("{file}", _a_file(tmp_path))
    for command in ("run", "check"):
        _assert_settings_error(_bot(command, env, tmp_path), name)


def test_a_dot_env_that_is_not_utf8_is_the_settings_error(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"FLYAGENTS_LOG_LEVEL=caf\xe9\n")
    env = dict(CLI_BASE_ENV, AGENT_SECRETS_ENCRYPTION_KEY=VaultKeyring.generate_env_value())
    for command in ("run", "check"):
        result = _bot(command, env, tmp_path)
        _assert_settings_error(result, ".env")
        assert "UTF-8" in result.stdout + result.stderr
