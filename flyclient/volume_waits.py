"""Waiting on volumes and snapshots, which have no wait endpoint (machines do: `wait.py`).

Fly offers no long poll for a volume or a snapshot, so these poll at the caller's interval
until a deadline:

- `wait_for_volume_ready`: a volume restored from a snapshot starts `restoring` (or
  `creating`, `hydrating`) and cannot be mounted usefully until that ends; `WaitTimeoutError`
  past the deadline.
- `wait_for_snapshot_created`: a new snapshot is listed `waiting` until Fly has made it; only
  a `created` one can be restored. Past the deadline the snapshot is returned as it is (a
  snapshot that is still being made is not a failure).
- `delete_volume_when_detached`: a just-destroyed machine still holds its volume for a
  moment, and Fly refuses the delete with 412 (`VolumeAttachedError`) meanwhile; the delete is
  tried again a bounded number of times. A volume already gone counts as deleted.
"""

from __future__ import annotations

import time
from typing import Final

from flyclient.errors import NotFoundError, VolumeAttachedError, WaitTimeoutError
from flyclient.models import Volume, VolumeSnapshot
from flyclient.volumes import SNAPSHOT_USABLE_STATUS, VolumesMixin

# The states a volume passes through before it holds its data.
_NOT_READY_VOLUME_STATES: Final = frozenset({"restoring", "creating", "hydrating"})
DELETE_ATTEMPTS: Final = 10


class VolumeWaitsMixin(VolumesMixin):
    async def wait_for_volume_ready(
        self, volume_id: str, deadline_s: float, *, poll_s: float
    ) -> Volume:
        """The volume once it is no longer being created or restored; `WaitTimeoutError`
        when it still is after `deadline_s` seconds."""
        deadline = time.monotonic() + deadline_s
        while True:
            volume = await self.get_volume(volume_id)
            if volume.state not in _NOT_READY_VOLUME_STATES:
                return volume
            if time.monotonic() > deadline:
                raise WaitTimeoutError(
                    f"Volume {volume_id} is still {volume.state}.",
                    method="GET",
                    path=f"/apps/{self._app}/volumes/{volume_id}",
                )
            await self._transport.sleep(poll_s)

    async def wait_for_snapshot_created(
        self, volume_id: str, snapshot: VolumeSnapshot, deadline_s: float, *, poll_s: float
    ) -> VolumeSnapshot:
        """`snapshot` as Fly lists it once `created`, or as last listed when `deadline_s`
        passes first."""
        deadline = time.monotonic() + deadline_s
        while snapshot.status != SNAPSHOT_USABLE_STATUS and time.monotonic() < deadline:
            await self._transport.sleep(poll_s)
            listed = {s.id: s for s in await self.list_snapshots(volume_id)}
            snapshot = listed.get(snapshot.id, snapshot)
        return snapshot

    async def delete_volume_when_detached(
        self, volume_id: str, *, poll_s: float, attempts: int = DELETE_ATTEMPTS
    ) -> None:
        """Delete the volume, trying again while a machine still holds it; returns when it is
        deleted or already gone. `VolumeAttachedError` when it stayed attached every time;
        any other `FlyError` at once."""
        refused: VolumeAttachedError | None = None
        for _ in range(attempts):
            try:
                await self.delete_volume(volume_id)
                return
            except NotFoundError:
                return
            except VolumeAttachedError as error:
                refused = error
            await self._transport.sleep(poll_s)
        if refused is not None:
            raise refused
