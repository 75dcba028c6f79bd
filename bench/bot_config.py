"""The bot's configuration in the bench: its settings (as environment values) and fleet defaults.

One place builds the settings every scenario starts the bot with, whether the bot runs in this
process, in `bench.bot_process` or as `python -m bot run`, so all of them run the same bot.
Values are the production defaults except what a scenario states it changes. Never prints or
logs a value: several are secrets (test-only ones, but secrets all the same).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.world import ADMINS, BOT_TOKEN, FLY_APP, FLY_TOKEN, OPS_CHAT_ID, World
from bot.fleet.defaults import FleetDefaults, FleetTimings
from bot.runtime import load_run_settings
from bot.settings import Settings
from storage import VaultKeyring

# One key per bench run is enough: every scenario's database is new.
VAULT_KEY = VaultKeyring.generate_env_value()


def settings_values(world: World, db_path: Path, **changes: Any) -> dict[str, Any]:
    """Environment values (names as the bot reads them) for a bot wired to `world`."""
    values: dict[str, Any] = {
        "FLYAGENTS_TELEGRAM_TOKEN": BOT_TOKEN,
        "FLYAGENTS_TELEGRAM_API_URL": world.tg.root_url,
        "FLYAGENTS_ADMIN_IDS": ",".join(str(admin["id"]) for admin in ADMINS),
        "FLYAGENTS_OPS_CHAT_ID": OPS_CHAT_ID,
        "FLYAGENTS_DB_PATH": str(db_path),
        "FLYAGENTS_HEARTBEAT_PATH": str(db_path.parent / "heartbeat"),
        "AGENT_SECRETS_ENCRYPTION_KEY": VAULT_KEY,
        "FLY_API_TOKEN": FLY_TOKEN,
        "FLY_APP_NAME": FLY_APP,
        "FLYAGENTS_FLY_API_URL": world.fly_base_url,
        "FLYAGENTS_FLY_LOGS_URL": world.fly_root_url,
        "AGENT_BRIDGE_URL": "https://bridge.example.com",
        "OPENCLAW_SERVICE_ID": "svc-bench",
        "OPENCLAW_SERVICE_KEY": "service-key-for-the-bench",
        "LLM_API_KEY": "sk-llm-key-for-the-bench-000000000",
        # An hour: scenarios that want the monitor running say how often.
        "FLYAGENTS_MONITOR_INTERVAL_SEC": 3600,
        "FLYAGENTS_LOG_LEVEL": "WARNING",
    }
    values.update(changes)
    return {name: str(value) for name, value in values.items()}


def settings(values: dict[str, Any]) -> Settings:
    return load_run_settings(**values)


def fleet_defaults(values: dict[str, Any], timings: FleetTimings | None = None) -> FleetDefaults:
    return FleetDefaults.from_settings(settings(values), timings)
