"""Tenant profiles: a display name and plain per-tenant overrides (model, image, region, …).

Overrides are non-secret defaults for every agent of a tenant, stored as a JSON object; a field
named like a secret is refused (`UnsafeRecordError`) — a tenant's tokens and keys go in the
vault under `SecretScope.tenant(...)`. This module never stores a secret.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from pydantic import JsonValue

from storage.audit import AuditLog
from storage.clock import Clock, from_db_time, to_db_time
from storage.db import Database, Row, Transaction
from storage.models import AuditOutcome, TenantProfile
from storage.redaction import ensure_no_secret_fields


class TenantRepository:
    """Repository for `tenant_profiles`."""

    def __init__(self, database: Database, clock: Clock, audit: AuditLog) -> None:
        self._db = database
        self._clock = clock
        self._audit = audit

    async def upsert(
        self,
        tenant_id: str,
        *,
        display_name: str,
        overrides: Mapping[str, JsonValue] | None = None,
        actor: str,
        tx: Transaction | None = None,
    ) -> TenantProfile:
        """Create or replace a tenant's profile (overrides are replaced as a whole)."""
        overrides_value = dict(overrides or {})
        ensure_no_secret_fields(overrides_value, f"overrides of tenant {tenant_id}")
        now = to_db_time(self._clock())
        async with self._db.transaction(tx) as transaction:
            row = await transaction.fetch_one(
                """
                INSERT INTO tenant_profiles (
                    tenant_id, display_name, overrides, created_at, updated_at
                ) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (tenant_id) DO UPDATE SET
                    display_name = excluded.display_name, overrides = excluded.overrides,
                    updated_at = excluded.updated_at
                RETURNING *
                """,
                (tenant_id, display_name, json.dumps(overrides_value, sort_keys=True), now, now),
            )
            await self._audit.record(
                actor=actor,
                action="tenant.upsert",
                target=f"tenant:{tenant_id}",
                outcome=AuditOutcome.OK,
                detail={"fields": sorted(overrides_value)},
                tx=transaction,
            )
        assert row is not None  # upsert … RETURNING always yields the row
        return _profile(row)

    async def get(self, tenant_id: str) -> TenantProfile | None:
        row = await self._db.fetch_one(
            "SELECT * FROM tenant_profiles WHERE tenant_id = ?", (tenant_id,)
        )
        return None if row is None else _profile(row)

    async def delete(self, tenant_id: str, *, actor: str, tx: Transaction | None = None) -> bool:
        """Remove a profile (its vault secrets are the caller's to clear in the same `tx`)."""
        async with self._db.transaction(tx) as transaction:
            changed = await transaction.execute(
                "DELETE FROM tenant_profiles WHERE tenant_id = ?", (tenant_id,)
            )
            if changed:
                await self._audit.record(
                    actor=actor,
                    action="tenant.remove",
                    target=f"tenant:{tenant_id}",
                    outcome=AuditOutcome.OK,
                    tx=transaction,
                )
        return bool(changed)

    async def all(self) -> list[TenantProfile]:
        rows = await self._db.fetch_all("SELECT * FROM tenant_profiles ORDER BY tenant_id")
        return [_profile(row) for row in rows]


def _profile(row: Row) -> TenantProfile:
    return TenantProfile(
        tenant_id=row["tenant_id"],
        display_name=row["display_name"],
        overrides=json.loads(row["overrides"]),
        created_at=from_db_time(row["created_at"]),
        updated_at=from_db_time(row["updated_at"]),
    )
