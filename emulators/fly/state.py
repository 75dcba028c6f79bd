"""The emulated Fly organisation: apps with their machines, volumes and snapshots.

This is where rules that span resources are enforced: a mounted volume must
exist, be in the machine's region and not be attached to another live machine
(412 otherwise); a machine's volume cannot be swapped by an update; a volume
still mounted by a live machine cannot be deleted (412); a volume made from a
snapshot starts `restoring` with the snapshot's OpenClaw state (in real-OpenClaw
mode: with a copy of the snapshot's folder). Lookups raise
404 like the real API (a destroyed machine answers `state: "destroyed"` for
`destroyed_retention` seconds, then 404). HTTP-agnostic.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import ids
from .app_secrets import AppSecrets
from .errors import ApiError, bad_request, not_found, precondition, unprocessable
from .exec_runner import ExecRunner
from .leases import Lease
from .machine import Machine
from .openclaw_sim import OpenClawState, PairingIssue, expire_pairing_codes, request_pairing
from .runtime import Runtime
from .validation import (
    CreateAppRequest,
    CreateMachineRequest,
    CreateVolumeRequest,
    UpdateMachineRequest,
)
from .volumes import Snapshot, Volume

DEFAULT_REGION = "iad"
DEFAULT_LEASE_TTL_S = 30


@dataclass
class App:
    name: str
    org_slug: str
    id: str
    network: str
    created_at: float
    secrets: AppSecrets
    machines: dict[str, Machine] = field(default_factory=dict)
    volumes: dict[str, Volume] = field(default_factory=dict)
    snapshots: dict[str, Snapshot] = field(default_factory=dict)

    def live_machines(self) -> list[Machine]:
        return [m for m in self.machines.values() if m.state != "destroyed"]

    def as_json(self) -> dict[str, Any]:
        live_volumes = [v for v in self.volumes.values() if not v.destroyed]
        return {
            "id": self.id,
            "name": self.name,
            "status": "deployed" if self.live_machines() else "pending",
            "machine_count": len(self.live_machines()),
            "volume_count": len(live_volumes),
            "network": self.network,
            "internal_numeric_id": int.from_bytes(self.id.encode()[:6], "big") % 10_000_000,
            "organization": {
                "name": self.org_slug,
                "slug": self.org_slug,
                "internal_numeric_id": sum(self.org_slug.encode()) + 1000,
            },
        }


class FlyState:
    def __init__(self, runtime: Runtime, initial_apps: tuple[str, ...]) -> None:
        self.runtime = runtime
        self.execs = ExecRunner(runtime)
        self._initial_apps = initial_apps
        self.apps: dict[str, App] = {}
        self._machine_index: dict[str, Machine] = {}
        for name in initial_apps:
            self._add_app(name, "personal", "default")

    def _add_app(self, name: str, org_slug: str, network: str) -> App:
        app = App(
            name=name,
            org_slug=org_slug,
            id=ids.app_id(),
            network=network,
            created_at=self.runtime.clock.now(),
            secrets=AppSecrets(self.runtime.clock),
        )
        self.apps[name] = app
        return app

    async def reset(self) -> None:
        await self.runtime.shutdown()
        if self.runtime.real is not None:
            self.runtime.real.reset()
        self.apps.clear()
        self._machine_index.clear()
        self.execs.clear()
        for name in self._initial_apps:
            self._add_app(name, "personal", "default")

    # ----- apps -----------------------------------------------------------

    def app(self, name: str) -> App:
        app = self.apps.get(name)
        if app is None:
            raise not_found(f"app {name!r} not found")
        return app

    def create_app(self, request: CreateAppRequest) -> App:
        if request.name in self.apps:
            raise ApiError(
                422,
                "Name has already been taken",
                body={"error": "Name has already been taken", "status": "name_taken"},
            )
        return self._add_app(request.name, request.org_slug, request.network or "default")

    # ----- machines -------------------------------------------------------

    def machine(self, app: App, machine_id: str) -> Machine:
        machine = app.machines.get(machine_id)
        if machine is None or machine.gone(self.runtime.timings.destroyed_retention):
            raise not_found(f"machine {machine_id} not found")
        return machine

    def find_machine(self, machine_id: str) -> Machine:
        machine = self._machine_index.get(machine_id)
        if machine is None or machine.gone(self.runtime.timings.destroyed_retention):
            raise not_found(f"machine {machine_id} not found")
        return machine

    def _volume_for_mount(
        self, app: App, config: dict[str, Any], region: str | None, machine_id: str | None
    ) -> Volume | None:
        mounts = config.get("mounts") or []
        if not mounts:
            return None
        volume_id = str(mounts[0]["volume"])
        volume = app.volumes.get(volume_id)
        if volume is None or volume.destroyed:
            raise precondition(f"volume {volume_id} not found in app {app.name}")
        if region is not None and volume.region != region:
            raise precondition(
                f"volume {volume_id} is in region {volume.region}; the machine is in {region}"
            )
        holder = volume.attached_machine_id
        if holder is not None and holder != machine_id:
            raise precondition(f"volume {volume_id} is already attached to machine {holder}")
        mounts[0].setdefault("name", volume.name)
        return volume

    def create_machine(
        self, app: App, request: CreateMachineRequest, *, lease_owner: str
    ) -> tuple[Machine, str | None]:
        config = request.config
        mounts = config.get("mounts") or []
        region = request.region
        if region is None and mounts:
            candidate = app.volumes.get(str(mounts[0]["volume"]))
            region = candidate.region if candidate is not None else None
        region = region or DEFAULT_REGION
        volume = self._volume_for_mount(app, config, region, None)
        machine = Machine(
            runtime=self.runtime,
            app=app.name,
            machine_id=self._unused_machine_id(),
            name=request.name or ids.machine_name(),
            region=region,
            config=config,
            volume=volume,
            secrets=app.secrets.values,
        )
        if volume is not None:
            volume.attached_machine_id = machine.id
            volume.attached_alloc_id = machine.instance_id
        app.machines[machine.id] = machine
        self._machine_index[machine.id] = machine
        nonce = None
        if request.lease_ttl:
            nonce = ids.lease_nonce()
            machine.lease = Lease(
                nonce=nonce,
                owner=lease_owner,
                description="",
                expires_at=self.runtime.clock.now() + request.lease_ttl,
                version=machine.instance_id,
            )
        machine.launch(skip_launch=request.skip_launch)
        return machine, nonce

    def _unused_machine_id(self) -> str:
        while True:
            candidate = ids.machine_id()
            if candidate not in self._machine_index:
                return candidate

    def update_machine(self, app: App, machine: Machine, request: UpdateMachineRequest) -> None:
        if request.current_version and request.current_version != machine.instance_id:
            raise ApiError(
                409,
                f"machine version mismatch: current version is {machine.instance_id}, "
                f"request was for {request.current_version}",
            )
        if request.name is not None and request.name != machine.name:
            raise bad_request("invalid_argument: a machine's name cannot be changed")
        if request.region is not None and request.region != machine.region:
            raise bad_request("invalid_argument: a machine's region cannot be changed")
        config = request.config
        old_volume = machine.mounted_volume_id
        new_mounts = config.get("mounts") or []
        new_volume = str(new_mounts[0]["volume"]) if new_mounts else None
        if old_volume is not None and new_volume != old_volume:
            raise bad_request(
                f"invalid_argument: the machine's volume {old_volume} cannot be swapped or "
                "removed by an update; create a new machine for another volume"
            )
        volume = self._volume_for_mount(app, config, machine.region, machine.id)
        machine.update(config, skip_launch=request.skip_launch)
        if volume is not None:
            machine.volume = volume
            volume.attached_machine_id = machine.id
            volume.attached_alloc_id = machine.instance_id

    def list_machines(
        self,
        app: App,
        *,
        states: set[str],
        metadata: dict[str, str],
        include_deleted: bool,
        region: str | None,
    ) -> list[Machine]:
        retention = self.runtime.timings.destroyed_retention
        result = []
        for machine in app.machines.values():
            if machine.state == "destroyed" and not (include_deleted or "destroyed" in states):
                continue
            if machine.gone(retention) and not include_deleted:
                continue
            if states and machine.state not in states:
                continue
            if region and machine.region != region:
                continue
            machine_metadata = machine.config.get("metadata") or {}
            if any(machine_metadata.get(k) != v for k, v in metadata.items()):
                continue
            result.append(machine)
        return sorted(result, key=lambda m: m.created_at)

    # ----- volumes and snapshots --------------------------------------------

    def volume(self, app: App, volume_id: str) -> Volume:
        volume = app.volumes.get(volume_id)
        if volume is None or volume.destroyed:
            raise not_found(f"volume {volume_id} not found")
        return volume

    def create_volume(self, app: App, request: CreateVolumeRequest) -> Volume:
        now = self.runtime.clock.now()
        now_mono = self.runtime.monotonic()
        contents = OpenClawState()
        size = request.size_gb
        ready_at: float | None = None
        pending_state = "restoring"
        source_folder: Path | None = None
        if request.snapshot_id is not None:
            snapshot = app.snapshots.get(request.snapshot_id)
            if snapshot is None:
                raise not_found(f"snapshot {request.snapshot_id} not found")
            status = snapshot.status(now_mono)
            if status != "created":
                raise precondition(f"snapshot {snapshot.id} is not ready (status {status})")
            if size is not None and size < snapshot.volume_size:
                raise unprocessable(
                    f"size_gb {size} is smaller than the snapshot's volume ({snapshot.volume_size})"
                )
            size = size or snapshot.volume_size
            contents = snapshot.contents.clone()
            source_folder = snapshot.folder
            ready_at = now_mono + self.runtime.timings.volume_restore
        elif request.source_volume_id is not None:
            source = self.volume(app, request.source_volume_id)
            size = size or source.size_gb
            contents = source.openclaw.clone()
            source_folder = source.folder
            ready_at = now_mono + self.runtime.timings.volume_restore
            pending_state = "hydrating"
        if size is None:
            raise bad_request("invalid size_gb: a size is required")
        volume = Volume(
            id=ids.volume_id(),
            app=app.name,
            name=request.name,
            region=request.region,
            zone=ids.zone(),
            size_gb=size,
            encrypted=request.encrypted,
            created_at=now,
            snapshot_retention=request.snapshot_retention,
            auto_backup_enabled=request.auto_backup_enabled,
            openclaw=contents,
            ready_at_mono=ready_at,
            pending_state=pending_state,
        )
        if self.runtime.real is not None:
            volume.folder = self.runtime.real.disks.new_volume(volume.id, source_folder)
        app.volumes[volume.id] = volume
        return volume

    def delete_volume(self, app: App, volume_id: str) -> Volume:
        volume = self.volume(app, volume_id)
        holder = volume.attached_machine_id
        if holder is not None:
            raise precondition(
                f"volume {volume_id} is attached to machine {holder}; destroy the machine first"
            )
        volume.destroyed = True
        if self.runtime.real is not None:
            self.runtime.real.disks.drop(volume.folder)
            volume.folder = None
        return volume

    def create_snapshot(self, app: App, volume_id: str) -> Snapshot:
        volume = self.volume(app, volume_id)
        timings = self.runtime.timings
        now_mono = self.runtime.monotonic()
        running_at = now_mono + timings.snapshot_running
        snapshot = Snapshot(
            id=ids.snapshot_id(),
            app=app.name,
            volume_id=volume.id,
            created_at=self.runtime.clock.now(),
            running_at_mono=running_at,
            done_at_mono=running_at + timings.snapshot_created,
            size=volume.bytes_used(),
            retention_days=volume.snapshot_retention,
            volume_size=volume.size_gb,
            contents=volume.openclaw.clone(),
        )
        if self.runtime.real is not None:
            snapshot.folder = self.runtime.real.disks.snapshot(snapshot.id, volume.folder)
        app.snapshots[snapshot.id] = snapshot
        return snapshot

    def snapshots_of(self, app: App, volume_id: str) -> list[Snapshot]:
        if volume_id not in app.volumes:
            raise not_found(f"volume {volume_id} not found")
        now = self.runtime.clock.now()
        found = [
            s for s in app.snapshots.values() if s.volume_id == volume_id and not s.expired(now)
        ]
        return sorted(found, key=lambda s: s.created_at)

    # ----- the simulated users of each machine's agent bot -----------------

    def issue_pairing_code(
        self, machine_id: str, sender_id: str | None, first_name: str, username: str | None
    ) -> tuple[PairingIssue, str]:
        machine = self.find_machine(machine_id)
        if machine.state in ("destroying", "destroyed"):
            raise not_found(f"machine {machine_id} not found")
        if self.runtime.real is not None:
            raise ApiError(
                409,
                "machines run the real OpenClaw: DM the agent's bot through the Telegram "
                "emulator to get a pairing code",
            )
        sender = sender_id or str(1_000_000 + secrets.randbelow(8_999_999_999))
        issue = request_pairing(
            machine.openclaw,
            sender,
            self.runtime.clock.now(),
            first_name=first_name,
            username=username,
        )
        return issue, sender

    def expire_pairing_codes(self, machine_id: str, code: str | None) -> list[str]:
        """Pending codes of the machine's OpenClaw (all, or `code`) expire now."""
        machine = self.find_machine(machine_id)
        if machine.state in ("destroying", "destroyed"):
            raise not_found(f"machine {machine_id} not found")
        if self.runtime.real is not None:
            raise ApiError(
                409, "machines run the real OpenClaw: its codes expire after an hour on its clock"
            )
        return expire_pairing_codes(machine.openclaw, code)

    # ----- the control API's view -------------------------------------------

    def describe(self) -> dict[str, Any]:
        clock = self.runtime.clock
        now_mono = self.runtime.monotonic()
        apps = []
        for app in self.apps.values():
            machines = []
            for machine in app.machines.values():
                body = machine.as_json()
                body["emulator"] = machine.emulator_json()
                machines.append(body)
            volumes = []
            for volume in app.volumes.values():
                body = volume.as_json(clock, now_mono)
                body["emulator"] = {"openclaw": volume.openclaw.as_json(clock.iso_millis)}
                volumes.append(body)
            snapshots = []
            for snapshot in app.snapshots.values():
                body = snapshot.as_json(clock, now_mono)
                body["volume_id"] = snapshot.volume_id
                snapshots.append(body)
            apps.append(
                {
                    "name": app.name,
                    "org_slug": app.org_slug,
                    "machines": machines,
                    "volumes": volumes,
                    "snapshots": snapshots,
                }
            )
        return {"apps": apps, "clock": {"now": clock.iso_millis(), "offset_s": clock.offset}}
