"""The database layer: PRAGMAs, serialised write transactions, savepoints, isolation."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.db import Database, Transaction
from storage.errors import StorageError, TransactionMisuseError
from storage.models import AuditOutcome
from storage.store import Store


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "db.sqlite"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(db_path)
    yield opened
    await opened.close()


async def count_audit(store: Store) -> int:
    row = await store.db.fetch_one("SELECT COUNT(*) FROM audit_log")
    assert row is not None
    return int(row[0])


async def record(store: Store, action: str, tx: Transaction | None = None) -> None:
    await store.audit.record(
        actor="test", action=action, target=None, outcome=AuditOutcome.OK, tx=tx
    )


async def test_both_connections_use_wal_full_sync_foreign_keys_and_a_busy_timeout(
    store: Store,
) -> None:
    async def pragmas(read: object) -> dict[str, object]:
        values: dict[str, object] = {}
        for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout"):
            row = await read(f"PRAGMA {name}")  # type: ignore[operator]
            values[name] = row[0]
        return values

    expected = {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1, "busy_timeout": 10_000}
    assert await pragmas(store.db.fetch_one) == expected
    async with store.transaction() as tx:
        assert await pragmas(tx.fetch_one) == expected


async def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        async with store.transaction() as tx:
            await tx.execute(
                "INSERT INTO agent_status_history (agent_id, to_status, actor, at) "
                "VALUES ('ag_missing', 'running', 'x', '2026-01-01T00:00:00.000000Z')"
            )


async def test_a_failed_transaction_leaves_nothing_behind(store: Store) -> None:
    async def write_then_fail() -> None:
        async with store.transaction() as tx:
            await record(store, "one", tx)
            await record(store, "two", tx)
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await write_then_fail()
    assert await count_audit(store) == 0


async def test_a_failed_nested_block_is_undone_without_undoing_the_outer_one(
    store: Store,
) -> None:
    async def failing_inner_block(tx: Transaction) -> None:
        async with store.transaction(tx):
            await record(store, "inner", tx)
            raise ValueError("inner")

    async with store.transaction() as tx:
        await record(store, "outer", tx)
        with pytest.raises(ValueError, match="inner"):
            await failing_inner_block(tx)
        # Repository calls without tx= join the task's transaction instead of deadlocking.
        await record(store, "joined")
    actions = [entry.action for entry in await store.audit.entries()]
    assert actions == ["joined", "outer"]


async def test_reads_outside_a_transaction_see_only_committed_rows(store: Store) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow_writer() -> None:
        async with store.transaction() as tx:
            await record(store, "uncommitted", tx)
            assert await count_audit(store) == 1  # the writer sees its own write
            started.set()
            await release.wait()

    writer = asyncio.create_task(slow_writer())
    await started.wait()
    assert await count_audit(store) == 0  # another task does not
    release.set()
    await writer
    assert await count_audit(store) == 1


async def test_a_cancelled_transaction_rolls_back_and_the_next_one_works(store: Store) -> None:
    inside = asyncio.Event()

    async def cancelled_writer() -> None:
        async with store.transaction() as tx:
            await record(store, "lost", tx)
            inside.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(cancelled_writer())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await record(store, "kept")
    assert [entry.action for entry in await store.audit.entries()] == ["kept"]


async def test_many_tasks_and_two_stores_writing_at_once_never_see_database_is_locked(
    store: Store, db_path: Path
) -> None:
    second = await Store.open(db_path, busy_timeout_ms=30_000)
    try:
        await asyncio.gather(
            *(record(store if n % 2 else second, f"write-{n}") for n in range(200))
        )
    finally:
        await second.close()
    assert await count_audit(store) == 200


async def test_a_transaction_is_refused_outside_its_task_and_after_it_ends(
    store: Store,
) -> None:
    async with store.transaction() as tx:
        with pytest.raises(TransactionMisuseError, match="task"):
            await asyncio.create_task(tx.execute("SELECT 1"))
    with pytest.raises(TransactionMisuseError, match="ended"):
        await tx.execute("SELECT 1")


async def test_writing_from_tasks_gathered_inside_a_transaction_fails_instead_of_hanging(
    tmp_path: Path,
) -> None:
    store = await Store.open(tmp_path / "deadlock.db", busy_timeout_ms=200)
    try:
        async with store.transaction():
            results = await asyncio.gather(
                record(store, "a"), record(store, "b"), return_exceptions=True
            )
        assert len(results) == 2
        for result in results:
            assert isinstance(result, TransactionMisuseError)
            assert "started inside an open transaction" in str(result)
        assert await count_audit(store) == 0
    finally:
        await store.close()


async def test_a_task_started_inside_a_transaction_writes_once_it_has_committed(
    store: Store,
) -> None:
    async with store.transaction() as tx:
        await record(store, "parent", tx)
        child = asyncio.create_task(record(store, "child"))
    await child
    assert [entry.action for entry in await store.audit.entries()] == ["child", "parent"]


async def test_a_transaction_of_one_database_cannot_be_used_with_another(
    store: Store, tmp_path: Path
) -> None:
    other = await Database.open(tmp_path / "other.sqlite")
    try:
        async with store.transaction() as tx:
            with pytest.raises(TransactionMisuseError, match="another database"):
                async with other.transaction(tx):
                    pass
    finally:
        await other.close()


async def test_a_closed_database_refuses_work(db_path: Path) -> None:
    store = await Store.open(db_path)
    await store.close()
    await store.close()  # closing twice is harmless
    with pytest.raises(StorageError, match="closed"):
        await store.db.fetch_all("SELECT 1")
    with pytest.raises(StorageError, match="closed"):
        async with store.transaction():
            pass
