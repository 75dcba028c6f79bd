"""Stable generated identifiers for stored records (`ag_…`, `pr_…`, `op_…`).

Identifiers are random, never derived from user input, so they are safe to show in chat, logs
and URLs. This module never hands out anything that doubles as a credential: invite tokens live
in `invites`.
"""

from __future__ import annotations

import base64
import secrets

_ID_CHARS = 12  # 60 random bits: collisions are negligible at fleet scale, and PKs catch them.


def new_id(prefix: str) -> str:
    """`prefix` + `_` + 12 lowercase base32 characters."""
    random_part = base64.b32encode(secrets.token_bytes(8)).decode("ascii").lower()
    return f"{prefix}_{random_part[:_ID_CHARS]}"


def new_executor_id() -> str:
    """An id for one process lifetime of a pairing executor.

    `PairingLedger.recover_after_restart` treats every request running under any other executor
    id as left behind by a previous process, so each process must use a fresh one.
    """
    return new_id("ex")
