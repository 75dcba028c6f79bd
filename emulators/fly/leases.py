"""Machine leases: who holds a machine, until when, and the wrapped answers Fly sends.

A lease is active until its `expires_at` on the emulator clock; an expired
lease is as good as none. `owner_for_token` derives a stable owner name from
the caller's token without keeping the token. Never sleeps.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any


@dataclass
class Lease:
    nonce: str
    owner: str
    description: str
    expires_at: float
    version: str

    def active(self, now: float) -> bool:
        return now < self.expires_at

    def data(self) -> dict[str, Any]:
        return {
            "nonce": self.nonce,
            "expires_at": int(self.expires_at),
            "owner": self.owner,
            "description": self.description,
            "version": self.version,
        }

    def wrapped(self) -> dict[str, Any]:
        """The real API's envelope (the spec's flat Lease is not what is sent)."""
        return {"status": "success", "data": self.data()}


def owner_for_token(token: str | None) -> str:
    if not token:
        return "anonymous@tokens.fly.io"
    digest = hashlib.sha256(token.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}@tokens.fly.io"
