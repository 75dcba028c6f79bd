"""Snapshots of agents' volumes, so an agent can be recreated from its latest state.

A snapshot is recorded only once its Fly snapshot id is known (Fly's create-snapshot answer has
no id; the service lists the volume's snapshots to find it), or as `failed`. This module never
talks to Fly.
"""

from __future__ import annotations

from storage.clock import Clock, from_db_time, to_db_time
from storage.db import Database, Row, Transaction
from storage.errors import NotFoundError
from storage.ids import new_id
from storage.models import Snapshot, SnapshotStatus


class SnapshotRepository:
    """Repository for `snapshots`."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock

    async def record(
        self,
        *,
        agent_id: str,
        source_volume_id: str,
        fly_snapshot_id: str | None,
        source_machine_id: str | None = None,
        region: str | None = None,
        status: SnapshotStatus = SnapshotStatus.CREATED,
        detail: str | None = None,
        tx: Transaction | None = None,
    ) -> Snapshot:
        """Record a snapshot; recording the same Fly snapshot id again returns the first record."""
        now = to_db_time(self._clock())
        async with self._db.transaction(tx) as transaction:
            if fly_snapshot_id is not None:
                existing = await transaction.fetch_one(
                    "SELECT * FROM snapshots WHERE fly_snapshot_id = ?", (fly_snapshot_id,)
                )
                if existing is not None:
                    return _snapshot(existing)
            row = await transaction.fetch_one(
                """
                INSERT INTO snapshots (
                    id, agent_id, fly_snapshot_id, source_machine_id, source_volume_id, region,
                    status, detail, created_at, updated_at
                ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                RETURNING *
                """,
                (
                    new_id("sn"),
                    agent_id,
                    fly_snapshot_id,
                    source_machine_id,
                    source_volume_id,
                    region,
                    status.value,
                    detail,
                    now,
                    now,
                ),
            )
        assert row is not None  # INSERT … RETURNING always yields the row
        return _snapshot(row)

    async def set_status(
        self,
        snapshot_id: str,
        status: SnapshotStatus,
        *,
        detail: str | None = None,
        tx: Transaction | None = None,
    ) -> Snapshot:
        async with self._db.transaction(tx) as transaction:
            row = await transaction.fetch_one(
                """
                UPDATE snapshots SET status = ?, detail = COALESCE(?, detail), updated_at = ?
                WHERE id = ?
                RETURNING *
                """,
                (status.value, detail, to_db_time(self._clock()), snapshot_id),
            )
        if row is None:
            raise NotFoundError(f"no snapshot {snapshot_id}")
        return _snapshot(row)

    async def latest_usable(self, agent_id: str) -> Snapshot | None:
        """The newest snapshot of an agent that can be restored from."""
        row = await self._db.fetch_one(
            """
            SELECT * FROM snapshots
            WHERE agent_id = ? AND status IN ('created', 'restored')
            ORDER BY created_at DESC, rowid DESC LIMIT 1
            """,
            (agent_id,),
        )
        return None if row is None else _snapshot(row)

    async def for_agent(self, agent_id: str) -> list[Snapshot]:
        """Oldest first."""
        rows = await self._db.fetch_all(
            "SELECT * FROM snapshots WHERE agent_id = ? ORDER BY created_at, rowid", (agent_id,)
        )
        return [_snapshot(row) for row in rows]


def _snapshot(row: Row) -> Snapshot:
    return Snapshot(
        id=row["id"],
        agent_id=row["agent_id"],
        fly_snapshot_id=row["fly_snapshot_id"],
        source_machine_id=row["source_machine_id"],
        source_volume_id=row["source_volume_id"],
        region=row["region"],
        status=SnapshotStatus(row["status"]),
        detail=row["detail"],
        created_at=from_db_time(row["created_at"]),
        updated_at=from_db_time(row["updated_at"]),
    )
