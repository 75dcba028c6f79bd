"""Machine leases: an exclusive, expiring lock on changing one machine.

Fly wraps lease answers as `{"status": "success", "data": {...}}` (the spec's flat `Lease` is not
what is sent); both shapes are read. A lease held by someone else answers 409
`{"status": "error", "message": ..., "code": ...}`, raised as `LeaseHeldError`. The holder passes
the nonce to update, start, stop, restart and destroy (`lease_nonce=`), which send it as the
`fly-machine-lease-nonce` header.

Acquiring is resent only when the request certainly was not executed (a lost answer could mean
we hold a lease whose nonce we never saw; it then just expires). Refresh and release end in the
same state when repeated and are retried like reads.

This module must never log a lease nonce at a level above DEBUG.
"""

from __future__ import annotations

from flyclient._base import ClientBase, json_of, parse_model
from flyclient._http import ApiCall
from flyclient.actions import Action
from flyclient.models import Lease


class LeasesMixin(ClientBase):
    async def acquire_lease(
        self, machine_id: str, ttl_s: int, *, description: str | None = None
    ) -> Lease:
        """Take the machine's lease for `ttl_s` seconds; `LeaseHeldError` if it is taken."""
        body: dict[str, object] = {"ttl": int(ttl_s)}
        if description is not None:
            body["description"] = description
        return await self._lease_call(
            ApiCall(
                Action.LEASE_ACQUIRE,
                self._machine_key(machine_id),
                "POST",
                self._machine_url(machine_id, "lease"),
                json_body=body,
            )
        )

    async def refresh_lease(self, machine_id: str, nonce: str, ttl_s: int) -> Lease:
        """Extend the lease we hold (identified by `nonce`) to `ttl_s` seconds from now."""
        return await self._lease_call(
            ApiCall(
                Action.LEASE_REFRESH,
                self._machine_key(machine_id),
                "POST",
                self._machine_url(machine_id, "lease"),
                json_body={"ttl": int(ttl_s)},
                lease_nonce=nonce,
            )
        )

    async def get_lease(self, machine_id: str) -> Lease:
        """The machine's current lease; `NotFoundError` when nobody holds one."""
        return await self._lease_call(
            ApiCall(
                Action.LEASE_GET,
                self._machine_key(machine_id),
                "GET",
                self._machine_url(machine_id, "lease"),
            )
        )

    async def release_lease(self, machine_id: str, nonce: str) -> None:
        call = ApiCall(
            Action.LEASE_RELEASE,
            self._machine_key(machine_id),
            "DELETE",
            self._machine_url(machine_id, "lease"),
            lease_nonce=nonce,
        )
        await self._send(call)

    async def _lease_call(self, call: ApiCall) -> Lease:
        response = await self._send(call)
        payload = json_of(response, call)
        if isinstance(payload, dict) and isinstance(payload.get("data"), dict):
            payload = payload["data"]
        return parse_model(Lease, payload, response, call)
