"""Volumes and their snapshots: create, read, list, delete, snapshot, pick a snapshot to restore.

Creating a volume is not idempotent and its answer can be lost. Volumes have names but Fly does
not make them unique, so before creating, the client notes the ids of existing volumes with the
same name (one list call); after an ambiguous failure (5xx, 408, timeout, connection lost after
sending) it lists again and returns a new volume with that name and region if one appeared,
otherwise it sends the create again (at most `RetryPolicy.create_attempts` times). Give each
volume a name nobody else creates at the same moment and this never duplicates a volume.

Creating a snapshot answers 200 with an EMPTY body: the new snapshot's id is not in the answer.
`create_snapshot` therefore lists the snapshots before and after, and returns the newest one
that was not there before (polling the list briefly while Fly has not listed it yet). A
snapshot is usable for a restore once its status is `created`; `latest_usable_snapshot` picks
the newest such one by `created_at`.

This module must never delete a volume or snapshot the caller did not name.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from flyclient._base import ClientBase, json_of, parse_model
from flyclient._http import ApiCall
from flyclient.actions import Action
from flyclient.errors import FlyError
from flyclient.models import Volume, VolumeSnapshot, drop_nones

SNAPSHOT_USABLE_STATUS: Final = "created"
_GONE_VOLUME_STATES: Final = frozenset({"destroyed", "destroying", "pending_destroy"})
_EPOCH: Final = datetime.min.replace(tzinfo=UTC)


class VolumesMixin(ClientBase):
    async def list_volumes(self, *, summary: bool = False) -> list[Volume]:
        call = ApiCall(
            Action.VOLUME_LIST,
            self._app,
            "GET",
            self._app_url("volumes"),
            params={"summary": "true"} if summary else None,
        )
        return await self._send_models(call, Volume)

    async def get_volume(self, volume_id: str) -> Volume:
        call = ApiCall(
            Action.VOLUME_GET,
            self._volume_key(volume_id),
            "GET",
            self._app_url("volumes", volume_id),
        )
        return await self._send_model(call, Volume)

    async def delete_volume(self, volume_id: str) -> Volume | None:
        """Delete the volume; 412 (`PreconditionFailedError`) while a machine still mounts it."""
        call = ApiCall(
            Action.VOLUME_DELETE,
            self._volume_key(volume_id),
            "DELETE",
            self._app_url("volumes", volume_id),
        )
        response = await self._send(call)
        payload = json_of(response, call)
        if isinstance(payload, dict) and payload.get("id"):
            return parse_model(Volume, payload, response, call)
        return None

    async def create_volume(
        self,
        name: str,
        region: str,
        size_gb: int,
        *,
        encrypted: bool = True,
        snapshot_id: str | None = None,
        source_volume_id: str | None = None,
        snapshot_retention: int | None = None,
        require_unique_zone: bool | None = None,
    ) -> Volume:
        """Create a volume, empty, restored from `snapshot_id`, or forked from `source_volume_id`.

        A volume made from a snapshot starts in state `restoring` and becomes `created` later.
        """
        body = drop_nones(
            {
                "name": name,
                "region": region,
                "size_gb": size_gb,
                "encrypted": encrypted,
                "snapshot_id": snapshot_id,
                "source_volume_id": source_volume_id,
                "snapshot_retention": snapshot_retention,
                "require_unique_zone": require_unique_zone,
            }
        )
        existing = {volume.id for volume in await self.list_volumes() if volume.name == name}
        call = ApiCall(
            Action.VOLUME_CREATE, self._app, "POST", self._app_url("volumes"), json_body=body
        )
        policy = self._transport.retry_policy
        schedule = policy.schedule()
        while True:
            schedule.record_attempt()
            try:
                return await self._send_model(call, Volume)
            except FlyError as error:
                if not error.maybe_applied:
                    raise
                failure = error
            created = await self._new_volume_named(name, region, existing)
            if created is not None:
                return created
            delay = schedule.next_delay_s()
            if schedule.attempts >= policy.create_attempts or delay is None:
                raise failure
            await self._transport.sleep(delay)

    async def find_volume_named(self, name: str, region: str) -> Volume | None:
        """The newest live volume called `name` in `region`, if any.

        Fly volumes carry no metadata, so a caller that may have lost a create's answer (a
        crash while `POST /volumes` was in flight) finds the volume again by a name only it
        uses, before creating another one.
        """
        return await self._new_volume_named(name, region, set())

    async def _new_volume_named(self, name: str, region: str, existing: set[str]) -> Volume | None:
        candidates = [
            volume
            for volume in await self.list_volumes()
            if volume.name == name
            and volume.region == region
            and volume.id not in existing
            and volume.state not in _GONE_VOLUME_STATES
        ]
        if not candidates:
            return None
        return max(candidates, key=lambda volume: volume.created_at or _EPOCH)

    async def list_snapshots(self, volume_id: str) -> list[VolumeSnapshot]:
        """Snapshots of the volume (still listed for their retention after it is deleted)."""
        call = ApiCall(
            Action.SNAPSHOT_LIST,
            self._volume_key(volume_id),
            "GET",
            self._app_url("volumes", volume_id, "snapshots"),
        )
        return await self._send_models(call, VolumeSnapshot)

    async def create_snapshot(self, volume_id: str) -> VolumeSnapshot:
        """Snapshot the volume now and return the new snapshot (usually still `waiting`).

        Fly's answer has no body, so the snapshot is found by listing (see the module docstring).
        """
        before = {snapshot.id for snapshot in await self.list_snapshots(volume_id)}
        call = ApiCall(
            Action.SNAPSHOT_CREATE,
            self._volume_key(volume_id),
            "POST",
            self._app_url("volumes", volume_id, "snapshots"),
        )
        try:
            await self._send(call)
        except FlyError as error:
            if not error.maybe_applied:
                raise
            lost = error
        else:
            return await self._await_new_snapshot(volume_id, before, call)
        # The request may or may not have taken effect: look once, do not wait for it.
        fresh = [s for s in await self.list_snapshots(volume_id) if s.id not in before]
        if fresh:
            return _newest(fresh)
        raise lost

    async def _await_new_snapshot(
        self, volume_id: str, before: set[str], call: ApiCall
    ) -> VolumeSnapshot:
        schedule = self._transport.retry_policy.schedule()
        while True:
            schedule.record_attempt()
            fresh = [s for s in await self.list_snapshots(volume_id) if s.id not in before]
            if fresh:
                return _newest(fresh)
            delay = schedule.next_delay_s()
            if delay is None:
                raise FlyError(
                    f"Fly accepted a snapshot of {volume_id} but has not listed it yet",
                    method=call.method,
                    path=call.path,
                    maybe_applied=True,
                )
            await self._transport.sleep(delay)

    async def latest_usable_snapshot(self, volume_id: str) -> VolumeSnapshot | None:
        """The newest snapshot with status `created` (by `created_at`), or None."""
        usable = [
            snapshot
            for snapshot in await self.list_snapshots(volume_id)
            if snapshot.status == SNAPSHOT_USABLE_STATUS
        ]
        return _newest(usable) if usable else None


def _newest(snapshots: list[VolumeSnapshot]) -> VolumeSnapshot:
    return max(snapshots, key=lambda snapshot: snapshot.created_at or _EPOCH)
