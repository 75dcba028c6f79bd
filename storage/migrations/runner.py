"""Applies numbered, forward-only schema migrations; safe to run on every start.

Each migration runs in its own `BEGIN IMMEDIATE` transaction together with the row that records
its version, and the current version is re-read inside that transaction, so a crash mid-way or
two processes starting at once can never apply a migration twice or half. A database whose
version is newer than this code knows is refused rather than touched. Migrations are never
edited once released, and this module never downgrades.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from storage.clock import Clock, to_db_time, utc_now
from storage.db import Database, Transaction
from storage.errors import MigrationError, SchemaTooNewError

_log = logging.getLogger(__name__)

_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY CHECK (version > 0),
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class Migration:
    """One schema step: statements run in order, in one transaction."""

    version: int
    name: str
    statements: tuple[str, ...]


def check_sequence(migrations: Sequence[Migration]) -> None:
    """Versions must be 1, 2, 3, … with no gap or repeat."""
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"migration list is not contiguous: expected version {expected}, "
                f"found {migration.version} ({migration.name})"
            )


async def _version_in(transaction: Transaction) -> int:
    row = await transaction.fetch_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
    return int(row[0]) if row is not None else 0


async def current_version(database: Database) -> int:
    """The highest applied version; 0 for an empty database."""
    table = await database.fetch_one(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    )
    if table is None:
        return 0
    row = await database.fetch_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
    return int(row[0]) if row is not None else 0


async def migrate(
    database: Database,
    migrations: Sequence[Migration],
    *,
    target: int | None = None,
    clock: Clock = utc_now,
) -> list[int]:
    """Bring the schema up to `target` (default: the last migration); return versions applied."""
    check_sequence(migrations)
    latest = len(migrations)
    goal = latest if target is None else target
    if not 0 <= goal <= latest:
        raise MigrationError(f"target version {goal} is outside 0..{latest}")

    async with database.transaction() as transaction:
        await transaction.execute(_VERSION_TABLE)
        found = await _version_in(transaction)
    if found > latest:
        raise SchemaTooNewError(
            f"database {database.path} has schema version {found}, newer than this code's "
            f"{latest}; run a newer release of the service against it"
        )

    applied: list[int] = []
    for migration in migrations[:goal]:
        async with database.transaction() as transaction:
            if await _version_in(transaction) >= migration.version:
                continue
            for statement in migration.statements:
                await transaction.execute(statement)
            await transaction.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, to_db_time(clock())),
            )
        _log.info("applied schema migration %d (%s)", migration.version, migration.name)
        applied.append(migration.version)
    return applied
