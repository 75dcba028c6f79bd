"""Volumes and volume snapshots: records, their timed states and their JSON.

A volume carries the simulated OpenClaw state of whatever machine mounts it;
a snapshot keeps a copy of that state, and a volume restored from a snapshot
starts with the copy. In real-OpenClaw mode each volume and snapshot also has
a host `folder` (made and copied by `real_openclaw.DiskStore`) holding the
real runtime's files. States that only depend on time (`restoring` ->
`created`, snapshot `waiting` -> `running` -> `created`) are computed from
deadlines when read, so no timer runs per volume or snapshot. A deleted
volume keeps its record (state `destroyed`) so its snapshots stay listable. Never
schedules timers and never touches machines (attachment rules live in `state.py`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .clock import EmulatorClock
from .openclaw_sim import OpenClawState

GIB = 1024**3
BLOCK_SIZE = 4096
BASE_BYTES_USED = 8 * 1024 * 1024


@dataclass
class Volume:
    id: str
    app: str
    name: str
    region: str
    zone: str
    size_gb: int
    encrypted: bool
    created_at: float
    snapshot_retention: int
    auto_backup_enabled: bool
    openclaw: OpenClawState = field(default_factory=OpenClawState)
    attached_machine_id: str | None = None
    attached_alloc_id: str | None = None
    destroyed: bool = False
    ready_at_mono: float | None = None
    """While the monotonic clock is before this, the volume is still `pending_state`."""
    pending_state: str = "restoring"
    folder: Path | None = None
    """Real-OpenClaw mode: the host folder behind the volume's filesystem."""

    def state(self, now_mono: float) -> str:
        if self.destroyed:
            return "destroyed"
        if self.ready_at_mono is not None and now_mono < self.ready_at_mono:
            return self.pending_state
        return "created"

    def bytes_used(self) -> int:
        entries = len(self.openclaw.pending) + len(self.openclaw.allow_from)
        return BASE_BYTES_USED + BLOCK_SIZE * entries

    def as_json(self, clock: EmulatorClock, now_mono: float) -> dict[str, Any]:
        total = self.size_gb * GIB
        used = min(self.bytes_used(), total)
        blocks = total // BLOCK_SIZE
        free_blocks = (total - used) // BLOCK_SIZE
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state(now_mono),
            "size_gb": self.size_gb,
            "region": self.region,
            "zone": self.zone,
            "encrypted": self.encrypted,
            "attached_machine_id": self.attached_machine_id,
            "attached_alloc_id": self.attached_alloc_id,
            "created_at": clock.iso(self.created_at),
            "host_status": "ok",
            "type": "local",
            "fstype": "ext4",
            "block_size": BLOCK_SIZE,
            "blocks": blocks,
            "blocks_free": free_blocks,
            "blocks_avail": free_blocks,
            "bytes_total": total,
            "bytes_used": used,
            "snapshot_retention": self.snapshot_retention,
            "auto_backup_enabled": self.auto_backup_enabled,
        }


@dataclass
class Snapshot:
    id: str
    app: str
    volume_id: str
    created_at: float
    running_at_mono: float
    done_at_mono: float
    size: int
    retention_days: int
    volume_size: int
    contents: OpenClawState
    digest: str = ""
    folder: Path | None = None
    """Real-OpenClaw mode: the host folder holding the copy of the volume's files."""

    def __post_init__(self) -> None:
        if not self.digest:
            state = json.dumps(self.contents.as_json(str), sort_keys=True)
            self.digest = hashlib.sha256(f"{self.id}:{state}".encode()).hexdigest()

    def status(self, now_mono: float) -> str:
        if now_mono < self.running_at_mono:
            return "waiting"
        if now_mono < self.done_at_mono:
            return "running"
        return "created"

    def expired(self, now: float) -> bool:
        return now > self.created_at + self.retention_days * 86400

    def as_json(self, clock: EmulatorClock, now_mono: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "size": self.size,
            "digest": self.digest,
            "created_at": clock.iso_millis(self.created_at),
            "status": self.status(now_mono),
            "retention_days": self.retention_days,
            "volume_size": self.volume_size,
        }
