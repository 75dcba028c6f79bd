"""Settings: every problem at once, secrets hidden, seed names honoured."""

from __future__ import annotations

import pytest

from bot.fleet.defaults import FleetDefaults
from bot.settings import SettingsError, load_settings

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
