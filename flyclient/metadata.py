"""Machine metadata: read all keys, set one key, delete one key.

Metadata is how the bot tags machines (agent id, tenant, operation id). Setting a key to the
value it already has, or deleting a missing key, leaves the same state, so these calls are
retried like reads.

This module must never touch the machine's config other than through the metadata endpoints.
"""

from __future__ import annotations

from flyclient._base import ClientBase
from flyclient._http import ApiCall
from flyclient.actions import Action


class MetadataMixin(ClientBase):
    async def get_metadata(self, machine_id: str) -> dict[str, str]:
        call = ApiCall(
            Action.METADATA_GET,
            self._machine_key(machine_id),
            "GET",
            self._machine_url(machine_id, "metadata"),
        )
        payload = await self._send_json(call)
        if not isinstance(payload, dict):
            return {}
        return {str(key): str(value) for key, value in payload.items() if value is not None}

    async def set_metadata(self, machine_id: str, key: str, value: str) -> None:
        call = ApiCall(
            Action.METADATA_SET,
            self._machine_key(machine_id),
            "POST",
            self._machine_url(machine_id, "metadata", key),
            json_body={"value": value},
        )
        await self._send(call)

    async def delete_metadata(self, machine_id: str, key: str) -> None:
        call = ApiCall(
            Action.METADATA_DELETE,
            self._machine_key(machine_id),
            "DELETE",
            self._machine_url(machine_id, "metadata", key),
        )
        await self._send(call)
