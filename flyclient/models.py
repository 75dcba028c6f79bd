"""Typed views of what the Fly Machines and logs APIs send and accept.

The models are tolerant readers: unknown fields are kept (so a config read from Fly and sent
back on update loses nothing we do not model), and a JSON `null` means "absent" (Fly sends
`null` for unset fields the spec does not mark nullable). Request bodies are written with
`to_api()`, which drops every absent value so the client never sends a `null`.

The exception is `MachineStatus` (with `MachineCheckResult`): the few fields a sweep over a
whole fleet reads, in slotted frozen dataclasses that drop everything else, because a sweep
holds one per machine of the app at once.

This module must never perform I/O or hold secrets.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass


def drop_nones(value: Any) -> Any:
    """`value` with every `None` removed from nested dicts (lists keep their length)."""
    if isinstance(value, dict):
        return {key: drop_nones(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [drop_nones(item) for item in value]
    return value


class FlyModel(BaseModel):
    """Base of every API model: keeps unknown fields, reads `null` as absent."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data

    def to_api(self) -> dict[str, Any]:
        """The JSON object to send: no nulls anywhere, unknown fields preserved."""
        dumped: dict[str, Any] = drop_nones(self.model_dump(mode="json", exclude_none=True))
        return dumped


# --- machine configuration -------------------------------------------------------------


class MachineGuest(FlyModel):
    cpu_kind: str | None = None  # "shared" | "performance"
    cpus: int | None = None
    memory_mb: int | None = None  # a multiple of 256


class MachineRestart(FlyModel):
    policy: str | None = None  # "no" | "always" | "on-failure"
    max_retries: int | None = None


class MachineMount(FlyModel):
    volume: str | None = None
    path: str | None = None
    name: str | None = None


class MachineCheck(FlyModel):
    """A health check; durations are Go duration strings such as `"240s"`."""

    type: str | None = None  # "tcp" | "http"
    port: int | None = None
    interval: str | None = None
    timeout: str | None = None
    grace_period: str | None = None
    path: str | None = None
    method: str | None = None


class MachinePort(FlyModel):
    port: int | None = None
    handlers: list[str] = Field(default_factory=list)
    force_https: bool | None = None


class MachineServiceConcurrency(FlyModel):
    type: str | None = None
    soft_limit: int | None = None
    hard_limit: int | None = None


class MachineService(FlyModel):
    protocol: str | None = None
    internal_port: int | None = None
    ports: list[MachinePort] = Field(default_factory=list)
    autostart: bool | None = None
    # Fly accepts "off" | "stop" | "suspend" and still answers with booleans for off/stop.
    autostop: bool | str | None = None
    checks: list[MachineCheck] = Field(default_factory=list)
    concurrency: MachineServiceConcurrency | None = None


class StopConfig(FlyModel):
    timeout: str | None = None
    signal: str | None = None


class MachineConfig(FlyModel):
    """The whole machine configuration (an update replaces it entirely)."""

    image: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, str] = Field(default_factory=dict)
    guest: MachineGuest | None = None
    restart: MachineRestart | None = None
    mounts: list[MachineMount] = Field(default_factory=list)
    services: list[MachineService] = Field(default_factory=list)
    checks: dict[str, MachineCheck] = Field(default_factory=dict)
    auto_destroy: bool | None = None
    stop_config: StopConfig | None = None


# --- machines ---------------------------------------------------------------------------


class CheckStatus(FlyModel):
    name: str | None = None
    status: str | None = None  # "passing" | "warning" | "critical"
    output: str | None = None
    updated_at: datetime | None = None


class ImageRef(FlyModel):
    registry: str | None = None
    repository: str | None = None
    tag: str | None = None
    digest: str | None = None


class MachineEvent(FlyModel):
    id: str | None = None
    type: str | None = None
    status: str | None = None
    source: str | None = None
    timestamp: int | None = None  # milliseconds since the epoch


class Machine(FlyModel):
    id: str
    name: str | None = None
    state: str | None = None
    region: str | None = None
    instance_id: str | None = None
    private_ip: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    config: MachineConfig | None = None
    image_ref: ImageRef | None = None
    events: list[MachineEvent] = Field(default_factory=list)
    checks: list[CheckStatus] = Field(default_factory=list)
    host_status: str | None = None
    # Only present in the answer to a create that asked for a lease.
    nonce: str | None = None


# --- fleet sweeps ------------------------------------------------------------------------


@pydantic_dataclass(frozen=True, slots=True, config=ConfigDict(extra="ignore"))
class MachineCheckResult:
    """A health check's name and latest status, and nothing else of it."""

    name: str | None = None
    status: str | None = None  # "passing" | "warning" | "critical"


@pydantic_dataclass(frozen=True, slots=True, config=ConfigDict(extra="ignore"))
class MachineStatus:
    """What a sweep over a whole fleet needs of a machine, read by `list_machine_states`.

    10,000 of these take about 5 MiB; as `Machine` models (configs, events and the raw
    answer kept) they take about 190.
    """

    id: str
    state: str | None = None
    region: str | None = None
    instance_id: str | None = None
    checks: tuple[MachineCheckResult, ...] = ()

    @field_validator("checks", mode="before")
    @classmethod
    def _null_is_no_checks(cls, value: Any) -> Any:
        return () if value is None else value


class ExecResult(FlyModel):
    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0  # Fly omits it for a clean exit
    exit_signal: int | None = None

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and not self.exit_signal


class Lease(FlyModel):
    """The `data` of Fly's wrapped lease answer `{"status": "success", "data": {...}}`."""

    nonce: str | None = None
    expires_at: int | None = None  # unix seconds
    owner: str | None = None
    description: str | None = None
    version: str | None = None


# --- apps -------------------------------------------------------------------------------


class AppOrganization(FlyModel):
    name: str | None = None
    slug: str | None = None


class App(FlyModel):
    id: str | None = None
    name: str | None = None
    status: str | None = None
    organization: AppOrganization | None = None
    machine_count: int | None = None
    volume_count: int | None = None
    network: str | None = None


# --- volumes ----------------------------------------------------------------------------


class Volume(FlyModel):
    id: str
    name: str | None = None
    state: str | None = None
    region: str | None = None
    zone: str | None = None
    size_gb: int | None = None
    encrypted: bool | None = None
    attached_machine_id: str | None = None
    attached_alloc_id: str | None = None
    created_at: datetime | None = None
    snapshot_retention: int | None = None
    auto_backup_enabled: bool | None = None
    host_status: str | None = None


class VolumeSnapshot(FlyModel):
    id: str
    status: str | None = None  # "waiting" -> "running" -> "created"
    created_at: datetime | None = None
    size: int | None = None
    digest: str | None = None
    retention_days: int | None = None
    volume_size: int | None = None


# --- logs -------------------------------------------------------------------------------


class LogEntry(FlyModel):
    id: str | None = None
    # Kept as text: Fly stamps logs with nanoseconds, more precision than `datetime` holds.
    timestamp: str | None = None
    message: str = ""
    level: str | None = None
    instance: str | None = None
    region: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class LogPage(FlyModel):
    entries: list[LogEntry] = Field(default_factory=list)
    # Pass it back to get the entries after this page; None when Fly gave none.
    next_token: str | None = None
