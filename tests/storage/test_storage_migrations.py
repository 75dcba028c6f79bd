"""Schema migrations: from empty, re-run as a no-op, from each earlier version, all-or-nothing."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from storage.db import Database
from storage.errors import MigrationError, SchemaTooNewError
from storage.migrations import LATEST_VERSION, MIGRATIONS, Migration, current_version, migrate
from storage.store import Store

CORE_TABLES = {
    "agents",
    "agent_status_history",
    "snapshots",
    "vault_secrets",
    "invites",
    "pairing_requests",
    "operations",
    "operation_steps",
    "audit_log",
    "alert_outbox",
    "tenant_profiles",
    "schema_migrations",
}


async def schema_of(database: Database) -> list[tuple[str, str, str]]:
    rows = await database.fetch_all(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name"
    )
    return [(row[0], row[1], " ".join(str(row[2]).split())) for row in rows]


async def fresh_schema(path: Path) -> list[tuple[str, str, str]]:
    store = await Store.open(path)
    try:
        return await schema_of(store.db)
    finally:
        await store.close()


async def test_an_empty_database_is_migrated_to_the_latest_version(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "new" / "dir" / "flyagents.db")
    try:
        assert await store.schema_version() == LATEST_VERSION
        tables = {
            row[0]
            for row in await store.db.fetch_all(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            )
        }
        assert tables >= CORE_TABLES
        versions = await store.db.fetch_all("SELECT version, name FROM schema_migrations")
        assert [row[0] for row in versions] == list(range(1, LATEST_VERSION + 1))
    finally:
        await store.close()


async def test_opening_without_a_path_uses_data_flyagents_db_and_creates_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = await Store.open()
    try:
        assert store.db.path == Path("data/flyagents.db")
    finally:
        await store.close()
    assert (tmp_path / "data" / "flyagents.db").is_file()


async def test_running_migrations_again_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "flyagents.db"
    first = await Store.open(path)
    before = await schema_of(first.db)
    applied_before = [
        tuple(row)
        for row in await first.db.fetch_all("SELECT * FROM schema_migrations ORDER BY version")
    ]
    await first.close()

    second = await Store.open(path)
    try:
        assert await migrate(second.db, MIGRATIONS) == []
        assert await schema_of(second.db) == before
        applied_after = [
            tuple(row)
            for row in await second.db.fetch_all("SELECT * FROM schema_migrations ORDER BY version")
        ]
        assert applied_after == applied_before
    finally:
        await second.close()


async def seed_version_1_data(database: Database) -> None:
    """Rows as version-1 code would have written them."""
    async with database.transaction() as tx:
        await tx.execute(
            "INSERT INTO agents (id, tenant_id, user_id, machine_id, allowed_skills, status, "
            "created_at, updated_at) VALUES ('ag_legacy00001', 'acme', 'u1', 'm1', "
            "'[\"linkhub-bridge\"]', 'running', '2026-01-01T00:00:00.000000Z', "
            "'2026-01-01T00:00:00.000000Z')"
        )
        await tx.execute(
            "INSERT INTO pairing_requests (id, machine_id, agent_id, code, state, source, "
            "submitted_by, created_at, updated_at) VALUES ('pr_legacy00001', 'm1', "
            "'ag_legacy00001', 'F864XLAV', 'submitted', 'user', 'tg:2002', "
            "'2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')"
        )
        await tx.execute(
            "INSERT INTO audit_log (at, actor, action, target, outcome) VALUES "
            "('2026-01-01T00:00:00.000000Z', 'admin:1', 'agent.create', 'ag_legacy00001', 'ok')"
        )


@pytest.mark.parametrize("start_version", range(LATEST_VERSION))
async def test_a_database_at_each_earlier_version_migrates_to_the_fresh_schema_keeping_its_data(
    tmp_path: Path, start_version: int
) -> None:
    path = tmp_path / "old.db"
    old = await Database.open(path)
    try:
        assert await migrate(old, MIGRATIONS, target=start_version) == list(
            range(1, start_version + 1)
        )
        assert await current_version(old) == start_version
        if start_version >= 1:
            await seed_version_1_data(old)
    finally:
        await old.close()

    store = await Store.open(path)
    try:
        assert await store.schema_version() == LATEST_VERSION
        assert await schema_of(store.db) == await fresh_schema(tmp_path / "fresh.db")
        if start_version >= 1:
            agent = await store.agents.get("ag_legacy00001")
            assert agent.allowed_skills == ("linkhub-bridge",)
            request = await store.pairing.get("pr_legacy00001")
            assert request.code == "F864XLAV"
            assert len(await store.audit.entries(target="ag_legacy00001")) == 1
        # Version 2 is usable after the upgrade.
        profile = await store.tenants.upsert(
            "acme", display_name="Acme", overrides={"model": "openai/gpt-4.1-mini"}, actor="t"
        )
        assert profile.overrides == {"model": "openai/gpt-4.1-mini"}
    finally:
        await store.close()


async def test_a_database_from_a_newer_release_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    store = await Store.open(path)
    async with store.transaction() as tx:
        await tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) "
            "VALUES (?, 'from the future', '2030-01-01T00:00:00.000000Z')",
            (LATEST_VERSION + 1,),
        )
    await store.close()

    with pytest.raises(SchemaTooNewError, match=f"version {LATEST_VERSION + 1}"):
        await Store.open(path)


async def test_a_failing_migration_leaves_no_trace(tmp_path: Path) -> None:
    database = await Database.open(tmp_path / "broken.db")
    broken = (
        MIGRATIONS[0],
        Migration(
            version=2,
            name="broken",
            statements=("CREATE TABLE half_done (x INTEGER)", "THIS IS NOT SQL"),
        ),
    )
    try:
        with pytest.raises(sqlite3.OperationalError):
            await migrate(database, broken)
        assert await current_version(database) == 1
        leftover = await database.fetch_one(
            "SELECT name FROM sqlite_master WHERE name = 'half_done'"
        )
        assert leftover is None
    finally:
        await database.close()


async def test_a_gap_in_the_migration_list_is_refused(tmp_path: Path) -> None:
    database = await Database.open(tmp_path / "gap.db")
    try:
        with pytest.raises(MigrationError, match="not contiguous"):
            await migrate(database, (MIGRATIONS[0], Migration(3, "skips two", ())))
    finally:
        await database.close()


async def test_several_processes_starting_at_once_migrate_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    stores = await asyncio.gather(*(Store.open(path) for _ in range(5)))
    try:
        rows = await stores[0].db.fetch_all("SELECT version FROM schema_migrations")
        assert sorted(row[0] for row in rows) == list(range(1, LATEST_VERSION + 1))
    finally:
        for store in stores:
            await store.close()
