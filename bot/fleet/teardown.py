"""Removing what an agent leaves on Fly: its volume, once no machine holds it.

Deprovision and recreate (its rollback and the old machine's cleanup) both delete volumes;
a failure is not raised but answered as nothing removed, so the caller names the volume as
a leftover with the command that removes it.
"""

from __future__ import annotations

import logging

from flyclient import FlyClient, FlyError, VolumeAttachedError

log = logging.getLogger("bot.fleet.teardown")


async def delete_volume(fly: FlyClient, volume_id: str, *, poll_s: float) -> list[str]:
    """`["volume <id>"]` once the volume is deleted (or was already gone); `[]` when it could
    not be deleted, including while a machine still held it after every try."""
    try:
        await fly.delete_volume_when_detached(volume_id, poll_s=poll_s)
    except VolumeAttachedError:
        return []
    except FlyError as error:
        log.warning("could not delete volume %s: %s", volume_id, error)
        return []
    return [f"volume {volume_id}"]
