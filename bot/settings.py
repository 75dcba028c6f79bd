"""Settings of the bot, read from the environment and an optional `.env` file.

Names follow the seed where it has one (`LLM_MODEL`, `AGENT_BRIDGE_URL`, …) and carry a
`FLYAGENTS_` prefix otherwise. Every secret is a `SecretStr`, so it never shows in a repr
or a log. `load_settings` reports every problem at once, in words an operator can act on.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.fleet import validation

DEFAULT_IMAGE = "registry.fly.io/linkhub-agents:openclaw-okr-v1"
DEFAULT_MODEL = "openai/gpt-4.1-mini"
DEFAULT_APP_KEY = "linkhub-w4"
DEFAULT_SKILLS = '["linkhub-bridge"]'
MIN_BULK_CONCURRENCY = 1
MAX_BULK_CONCURRENCY = 500
MAX_VOLUME_SIZE_GB = 500  # Fly's largest volume
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# What Telegram accepts as setWebhook's secret_token.
WEBHOOK_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")


# Settings that the current `load_settings` call requires, and those found missing:
# checked on the raw values so that a missing setting and a malformed one are
# reported together.
_REQUIRED: ContextVar[tuple[str, ...]] = ContextVar("required_settings", default=())
_MISSING: ContextVar[list[str] | None] = ContextVar("missing_settings", default=None)


class Settings(BaseSettings):
    """Everything the bot reads from its environment."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=False
    )

    # Telegram (this admin bot).
    telegram_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("FLYAGENTS_TELEGRAM_TOKEN")
    )
    telegram_api_url: str = Field(
        default="https://api.telegram.org",
        validation_alias=AliasChoices("FLYAGENTS_TELEGRAM_API_URL"),
    )
    admin_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list, validation_alias=AliasChoices("FLYAGENTS_ADMIN_IDS")
    )
    ops_chat_id: int | None = Field(
        default=None, validation_alias=AliasChoices("FLYAGENTS_OPS_CHAT_ID")
    )
    webhook_url: str | None = Field(
        default=None, validation_alias=AliasChoices("FLYAGENTS_WEBHOOK_URL")
    )
    webhook_listen: str = Field(
        default="0.0.0.0",  # noqa: S104 - a webhook must be reachable from Telegram
        validation_alias=AliasChoices("FLYAGENTS_WEBHOOK_LISTEN"),
    )
    webhook_port: int = Field(default=8443, validation_alias=AliasChoices("FLYAGENTS_WEBHOOK_PORT"))
    webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("FLYAGENTS_WEBHOOK_SECRET")
    )

    # Storage.
    db_path: Path = Field(
        default=Path("./data/flyagents.db"), validation_alias=AliasChoices("FLYAGENTS_DB_PATH")
    )
    secrets_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("AGENT_SECRETS_ENCRYPTION_KEY")
    )

    # Fly.
    fly_api_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("FLY_API_TOKEN")
    )
    fly_app_name: str | None = Field(default=None, validation_alias=AliasChoices("FLY_APP_NAME"))
    fly_api_url: str = Field(
        default="https://api.machines.dev/v1",
        validation_alias=AliasChoices("FLYAGENTS_FLY_API_URL"),
    )
    fly_logs_url: str = Field(
        default="https://api.fly.io", validation_alias=AliasChoices("FLYAGENTS_FLY_LOGS_URL")
    )

    # Fleet-wide agent defaults (overridable per tenant and per agent).
    agent_image: str = Field(
        default=DEFAULT_IMAGE, validation_alias=AliasChoices("FLYAGENTS_AGENT_IMAGE")
    )
    region: str = Field(default="iad", validation_alias=AliasChoices("FLY_REGION"))
    agent_vm: str = Field(
        default="shared-cpu-1x", validation_alias=AliasChoices("FLYAGENTS_AGENT_VM")
    )
    agent_memory_mb: int = Field(
        default=2048, validation_alias=AliasChoices("FLYAGENTS_AGENT_MEMORY_MB")
    )
    volume_size_gb: int = Field(
        default=1, validation_alias=AliasChoices("FLYAGENTS_VOLUME_SIZE_GB")
    )
    bridge_url: str | None = Field(default=None, validation_alias=AliasChoices("AGENT_BRIDGE_URL"))
    app_key: str = Field(default=DEFAULT_APP_KEY, validation_alias=AliasChoices("OPENCLAW_APP_KEY"))
    service_id: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENCLAW_SERVICE_ID")
    )
    service_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENCLAW_SERVICE_KEY")
    )
    llm_model: str = Field(default=DEFAULT_MODEL, validation_alias=AliasChoices("LLM_MODEL"))
    llm_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("LLM_API_KEY")
    )
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY")
    )
    allowed_skills_json: str = Field(
        default=DEFAULT_SKILLS, validation_alias=AliasChoices("ALLOWED_SKILLS_JSON")
    )

    # OpenClaw runtime.
    startup_timeout_s: int = Field(
        default=240, validation_alias=AliasChoices("OPENCLAW_STARTUP_TIMEOUT_SEC")
    )
    openclaw_dir: str = Field(
        default="/app", validation_alias=AliasChoices("FLYAGENTS_OPENCLAW_DIR")
    )
    agent_owner: str = Field(
        default="admins", validation_alias=AliasChoices("FLYAGENTS_AGENT_OWNER")
    )
    gateway_dev_mode: bool = Field(
        default=False, validation_alias=AliasChoices("OPENCLAW_GATEWAY_DEV_MODE")
    )
    exec_timeout_s: int = Field(
        default=60, validation_alias=AliasChoices("FLYAGENTS_EXEC_TIMEOUT_SEC")
    )

    # Operations.
    monitor_interval_s: float = Field(
        default=60.0, validation_alias=AliasChoices("FLYAGENTS_MONITOR_INTERVAL_SEC")
    )
    log_format: Literal["text", "json"] = Field(
        default="text", validation_alias=AliasChoices("FLYAGENTS_LOG_FORMAT")
    )
    log_level: str = Field(default="INFO", validation_alias=AliasChoices("FLYAGENTS_LOG_LEVEL"))
    heartbeat_path: Path = Field(
        default=Path("./data/heartbeat"), validation_alias=AliasChoices("FLYAGENTS_HEARTBEAT_PATH")
    )
    bulk_concurrency: int = Field(
        default=50, validation_alias=AliasChoices("FLYAGENTS_BULK_CONCURRENCY")
    )

    @model_validator(mode="before")
    @classmethod
    def _note_missing(cls, data: Any) -> Any:
        missing = _MISSING.get()
        if missing is not None and isinstance(data, dict):
            for name in _REQUIRED.get():
                value = data.get(name)
                blank = isinstance(value, str) and not value.strip()
                if value is None or value == [] or blank:
                    missing.append(name)
        return data

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: object) -> object:
        if isinstance(value, str) and value.strip():
            text = value.strip()
            parsed = (
                json.loads(text)
                if text.startswith("[")
                else [part.strip() for part in text.split(",") if part.strip()]
            )
            # Set but naming nobody (" , ", "[]"): the bot would have no admin at all.
            if parsed == []:
                raise ValueError("must list at least one Telegram user id (comma-separated)")
            return parsed
        return value

    @field_validator("admin_ids")
    @classmethod
    def _check_admin_ids(cls, value: list[int]) -> list[int]:
        if any(admin <= 0 for admin in value):
            raise ValueError("Telegram user ids are positive whole numbers")
        return value

    @field_validator("webhook_port")
    @classmethod
    def _check_port(cls, value: int) -> int:
        if not 1 <= value <= 65535:
            raise ValueError("must be a port number from 1 to 65535")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not WEBHOOK_SECRET_RE.fullmatch(value.get_secret_value()):
            # The value itself is never repeated: it is a secret.
            raise ValueError(
                "must be 1 to 256 characters, each A-Z, a-z, 0-9, _ or - (Telegram's rule); "
                "or leave it unset and a strong one is generated at each start"
            )
        return value

    @field_validator("startup_timeout_s", "exec_timeout_s")
    @classmethod
    def _check_timeout(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("must be a positive number of seconds")
        return value

    @field_validator("monitor_interval_s")
    @classmethod
    def _check_interval(cls, value: float) -> float:
        if not math.isfinite(value) or value <= 0:
            raise ValueError("must be a positive, finite number of seconds")
        return value

    @field_validator("volume_size_gb")
    @classmethod
    def _check_volume_size(cls, value: int) -> int:
        if not 1 <= value <= MAX_VOLUME_SIZE_GB:
            raise ValueError(f"must be a whole number of GB from 1 to {MAX_VOLUME_SIZE_GB}")
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("db_path", "heartbeat_path", mode="before")
    @classmethod
    def _check_path_given(cls, value: object) -> object:
        # An empty path would become "." (the current folder), not a file.
        if isinstance(value, str) and not value.strip():
            raise ValueError("must be a file path, not empty")
        return value

    @field_validator("db_path", "heartbeat_path")
    @classmethod
    def _check_file_path(cls, value: Path) -> Path:
        return writable_file_path(value)

    @field_validator("region")
    @classmethod
    def _check_region(cls, value: str) -> str:
        return validation.region(value)

    @field_validator("agent_vm")
    @classmethod
    def _check_vm(cls, value: str) -> str:
        validation.vm_size(value)
        return value.strip().lower()

    @field_validator("agent_memory_mb")
    @classmethod
    def _check_memory(cls, value: int) -> int:
        if value < 256 or value % 256:
            raise ValueError("must be a multiple of 256 (OpenClaw needs at least 2048)")
        return value

    @field_validator("bulk_concurrency")
    @classmethod
    def _check_bulk_concurrency(cls, value: int) -> int:
        # Above a few hundred at once the store's single writer queues past its lock timeout
        # (bench scenario 2); 0 would never act at all.
        if not MIN_BULK_CONCURRENCY <= value <= MAX_BULK_CONCURRENCY:
            raise ValueError(
                f"must be a whole number from {MIN_BULK_CONCURRENCY} to {MAX_BULK_CONCURRENCY} "
                "(agents that /stop all, /wake all and /restart all act on at once)"
            )
        return value

    @field_validator("bridge_url")
    @classmethod
    def _check_bridge(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else validation.https_url(value)

    @field_validator("llm_model")
    @classmethod
    def _check_model(cls, value: str) -> str:
        return validation.model_id(value)

    @field_validator("allowed_skills_json")
    @classmethod
    def _check_skills(cls, value: str) -> str:
        validation.allowed_skills_json(value)
        return value

    @field_validator("openclaw_dir")
    @classmethod
    def _check_dir(cls, value: str) -> str:
        return validation.machine_dir(value)

    @field_validator("agent_owner")
    @classmethod
    def _check_owner(cls, value: str) -> str:
        text = value.strip()
        if text.lower() in ("admins", "user"):
            return text.lower()
        entries = [e.strip() for e in text.split(",") if e.strip()]
        if not entries or not all(validation.OWNER_ENTRY_RE.fullmatch(e) for e in entries):
            raise ValueError("must be admins, user, or a comma list of telegram:<id>")
        return ",".join(entries)

    @field_validator("fly_app_name")
    @classmethod
    def _check_app(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return validation.fly_app_name(value)

    @property
    def allowed_skills(self) -> list[str]:
        return validation.allowed_skills_json(self.allowed_skills_json)

    def owner_entries(self) -> list[str] | None:
        """`commands.ownerAllowFrom` the policy asks for; None means OpenClaw's own (`user`)."""
        if self.agent_owner == "user":
            return None
        if self.agent_owner == "admins":
            return [f"telegram:{admin}" for admin in self.admin_ids]
        return self.agent_owner.split(",")


def writable_file_path(path: Path) -> Path:
    """`path` names a file the bot can create or rewrite: not a folder, and the nearest folder
    that exists on its way is a folder the bot can write in (the rest is created at start)."""
    if path.is_dir():
        raise ValueError(f"{path} is a folder; it must name a file in a folder")
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{path} exists but is not writable")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ValueError(f"{path} cannot be created: {folder} is not a folder")
    try:
        # Trying is the only sure test (permission bits do not stop root, read-only mounts do).
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ValueError(
            f"{path} cannot be written: no file can be made in {folder} ({reason})"
        ) from None
    return path


class SettingsError(Exception):
    """Settings are missing or malformed; `problems` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("Settings are not usable:\n" + "\n".join(f"  - {p}" for p in problems))


def _describe(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        name = str(item["loc"][0]) if item["loc"] else "settings"
        problems.append(f"{name}: {item['msg']}")
    return problems


def load_settings(*, require: tuple[str, ...] = (), **overrides: Any) -> Settings:
    """Settings from the environment; `require` names settings (by env name) that must be set.

    Raises `SettingsError` listing every problem at once.
    """
    missing: list[str] = []
    required_token = _REQUIRED.set(require)
    missing_token = _MISSING.set(missing)
    problems: list[str] = []
    settings: Settings | None = None
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = _describe(exc)
    except UnicodeDecodeError as exc:
        # The .env file is the only text read besides the environment (which Python decodes).
        problems = [f".env: is not UTF-8 text ({exc.reason} at byte {exc.start})"]
    except OSError as exc:
        problems = [f".env: cannot be read ({exc.strerror or type(exc).__name__})"]
    except ValueError as exc:
        # pydantic-settings' own parse errors; their text names the setting, never its value.
        problems = [f"settings: {exc}"]
    finally:
        _REQUIRED.reset(required_token)
        _MISSING.reset(missing_token)
    problems = [f"{name}: is required but not set" for name in dict.fromkeys(missing)] + problems
    if problems or settings is None:
        raise SettingsError(problems)
    return settings
