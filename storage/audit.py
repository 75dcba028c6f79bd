"""The append-only audit log: who did what to which target, and how it ended.

Rows are only ever inserted; SQLite triggers refuse UPDATE and DELETE, and this module offers no
way to change or remove an entry. Details never hold secrets: a detail with a field named like a
secret (`token`, `apiKey`, `password`, …) is refused with `UnsafeRecordError`, and strings are
scrubbed of credential-shaped text (see `storage.redaction`) before they are written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from storage.clock import Clock, from_db_time, to_db_time
from storage.db import Database, Row, Transaction
from storage.models import AuditEntry, AuditOutcome
from storage.redaction import ensure_no_secret_fields, redact_json, redact_text


class AuditLog:
    """Repository for `audit_log`."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock

    async def record(
        self,
        *,
        actor: str,
        action: str,
        target: str | None,
        outcome: AuditOutcome,
        detail: Mapping[str, object] | None = None,
        tx: Transaction | None = None,
    ) -> AuditEntry:
        """Append one entry (inside `tx` when given, so it commits with the change it records)."""
        detail_value: object = dict(detail or {})
        ensure_no_secret_fields(detail_value, f"audit detail for {action}")
        detail_json = json.dumps(redact_json(detail_value), sort_keys=True, default=str)
        safe_target = None if target is None else redact_text(target)
        async with self._db.transaction(tx) as transaction:
            row = await transaction.fetch_one(
                """
                INSERT INTO audit_log (at, actor, action, target, outcome, detail)
                VALUES (?, ?, ?, ?, ?, ?)
                RETURNING *
                """,
                (
                    to_db_time(self._clock()),
                    actor,
                    action,
                    safe_target,
                    outcome.value,
                    detail_json,
                ),
            )
        assert row is not None  # INSERT … RETURNING always yields the row
        return _entry(row)

    async def entries(
        self,
        *,
        target: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Newest first, optionally filtered."""
        conditions: list[str] = []
        params: list[object] = []
        if target is not None:
            conditions.append("target = ?")
            params.append(target)
        if actor is not None:
            conditions.append("actor = ?")
            params.append(actor)
        if action is not None:
            conditions.append("action = ?")
            params.append(action)
        if since is not None:
            conditions.append("at >= ?")
            params.append(to_db_time(since))
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = await self._db.fetch_all(
            f"SELECT * FROM audit_log {where} ORDER BY id DESC LIMIT ?",  # noqa: S608 - fixed fragments
            (*params, limit),
        )
        return [_entry(row) for row in rows]


def _entry(row: Row) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        at=from_db_time(row["at"]),
        actor=row["actor"],
        action=row["action"],
        target=row["target"],
        outcome=AuditOutcome(row["outcome"]),
        detail=json.loads(row["detail"]),
    )
