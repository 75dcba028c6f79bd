"""The SQLite database: connections, PRAGMAs, and serialised write transactions.

One writer connection, guarded by an asyncio lock, runs every write inside `BEGIN IMMEDIATE`,
so tasks of this process queue on the lock instead of racing for SQLite's write lock, and other
processes wait up to the busy timeout instead of failing with "database is locked" (tasks of
this process wait for the lock no longer than that either, so a deadlock surfaces as an error
instead of a hang). A separate read-only connection serves reads outside transactions; WAL
lets it read the last committed state while a write is in progress.

Durability: `journal_mode=WAL` with `synchronous=FULL`. WAL with NORMAL already keeps every
committed transaction through a process crash (SIGKILL); FULL also syncs the WAL on each commit,
so a commit acknowledged to a user survives a power loss or a VM being torn down. The cost is one
fsync per write transaction, which a chat-ops bot (a handful of writes per user action) does not
notice.

This module never interprets rows and never builds SQL from values: callers pass parameters.
Every text parameter of a write passes through `storage.redaction.redact_params` first, so no
secret value the process knows can reach the file, whichever repository wrote it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import aiosqlite

from storage.errors import StorageError, TransactionMisuseError
from storage.redaction import redact_params

log = logging.getLogger("storage.db")

Params = Sequence[object] | Mapping[str, object]
Row = sqlite3.Row
Synchronous = Literal["NORMAL", "FULL"]

DEFAULT_BUSY_TIMEOUT_MS = 10_000

# The transactions the current task holds, per database. A task-local variable lets repository
# calls made inside `async with db.transaction()` join it instead of deadlocking on the lock.
_active_transactions: ContextVar[Mapping[int, Transaction]] = ContextVar(
    "storage_active_transactions", default=MappingProxyType({})
)


class Transaction:
    """An open `BEGIN IMMEDIATE` transaction on the writer connection.

    Only the task that opened it may use it; it ends when its `async with` block ends (commit on
    success, rollback on any exception, cancellation included).
    """

    def __init__(self, database: Database, connection: aiosqlite.Connection) -> None:
        self._database = database
        self._connection = connection
        self._owner = asyncio.current_task()
        self._active = True
        self._savepoint_depth = 0
        self._after_commit: list[Callable[[], None]] = []

    @property
    def database(self) -> Database:
        return self._database

    @property
    def is_open(self) -> bool:
        return self._active

    @property
    def is_usable_here(self) -> bool:
        """True while open and used from the task that opened it."""
        return self._active and self._owner is asyncio.current_task()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` once this transaction committed (never if it rolls back), so a
        listener told about a change can read it. Inside a savepoint it waits for the outer
        commit; a savepoint rolled back alone still leaves its callbacks to that commit."""
        self._after_commit.append(callback)

    def _run_after_commit(self) -> None:
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                # The change is committed: a listener's failure must not look like the write's.
                log.exception("an after-commit callback failed")

    def _check_usable(self) -> None:
        if not self._active:
            raise TransactionMisuseError("transaction already ended")
        if self._owner is not asyncio.current_task():
            raise TransactionMisuseError(
                "a transaction may only be used by the task that opened it"
            )

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        self._check_usable()
        async with self._connection.execute(sql, redact_params(params)) as cursor:
            return cursor.rowcount

    async def insert(self, sql: str, params: Params = ()) -> int:
        """Run one INSERT; return the new row's rowid."""
        self._check_usable()
        async with self._connection.execute(sql, redact_params(params)) as cursor:
            rowid = cursor.lastrowid
        if rowid is None:
            raise StorageError("insert produced no rowid")
        return rowid

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        """Rows of a query (or of an `UPDATE … RETURNING`), seeing this transaction's writes."""
        self._check_usable()
        return list(await self._connection.execute_fetchall(sql, redact_params(params)))

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[Transaction]:
        """A nested block: its writes are undone on error without ending the outer transaction."""
        self._check_usable()
        self._savepoint_depth += 1
        name = f"sp_{self._savepoint_depth}"
        await self._connection.execute(f"SAVEPOINT {name}")
        try:
            yield self
        except BaseException:
            await asyncio.shield(self._rollback_to(name))
            raise
        else:
            await self._connection.execute(f"RELEASE {name}")
        finally:
            self._savepoint_depth -= 1

    async def _rollback_to(self, name: str) -> None:
        await self._connection.execute(f"ROLLBACK TO {name}")
        await self._connection.execute(f"RELEASE {name}")

    def _end(self) -> None:
        self._active = False


async def _switch_to_wal(writer: aiosqlite.Connection, busy_timeout_ms: int) -> str:
    """`PRAGMA journal_mode=WAL`, retried while another process holds the file: SQLite answers
    "database is locked" to a journal-mode change at once, without its busy handler, when
    several processes open a new database together."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + busy_timeout_ms / 1000
    pause = 0.005
    while True:
        try:
            rows = list(await writer.execute_fetchall("PRAGMA journal_mode=WAL"))
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or loop.time() >= deadline:
                raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)
            continue
        return str(rows[0][0]).lower() if rows else ""


class Database:
    """An open SQLite database file. Create with `await Database.open(path)`."""

    def __init__(
        self,
        path: Path,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    ) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()
        self._closed = False

    @property
    def path(self) -> Path:
        return self._path

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        synchronous: Synchronous = "FULL",
    ) -> Database:
        """Open (creating the file and its directory if needed) with the store's PRAGMAs."""
        db_path = Path(path)
        db_path.parent.mkdir(parents=True, exist_ok=True)
        writer = await _connect(db_path, busy_timeout_ms, synchronous, read_only=False)
        try:
            mode = await _switch_to_wal(writer, busy_timeout_ms)
            if mode != "wal":
                raise StorageError(f"could not switch {db_path} to WAL journal mode (got {mode!r})")
            reader = await _connect(db_path, busy_timeout_ms, synchronous, read_only=True)
        except BaseException:
            await writer.close()
            raise
        return cls(db_path, writer, reader, busy_timeout_ms)

    async def close(self) -> None:
        """Close both connections; waits for a running write transaction to finish."""
        if self._closed:
            return
        async with self._write_lock:
            self._closed = True
            await self._reader.close()
            await self._writer.close()

    def _current_transaction(self) -> Transaction | None:
        transaction = _active_transactions.get().get(id(self))
        if transaction is not None and transaction.is_usable_here:
            return transaction
        return None

    async def _acquire_write_lock(self) -> None:
        """Queue for the writer, waiting at most the busy timeout (as SQLite does for others).

        An unbounded wait would turn one mistake into a silent hang: a task started inside a
        transaction (`asyncio.gather`, `create_task`) queues behind it, and if the transaction's
        task awaits it, neither can proceed.
        """
        try:
            async with asyncio.timeout(self._busy_timeout_ms / 1000):
                await self._write_lock.acquire()
        except TimeoutError:
            inherited = _active_transactions.get().get(id(self))
            if inherited is not None and inherited.is_open and not inherited.is_usable_here:
                raise TransactionMisuseError(
                    "a task started inside an open transaction waited for it to end and it did "
                    "not: write from the task that opened the transaction, one call after "
                    "another, or start this task after the transaction commits"
                ) from None
            raise StorageError(
                f"waited {self._busy_timeout_ms} ms for the write lock: a transaction is being "
                "held open too long"
            ) from None

    @asynccontextmanager
    async def transaction(self, within: Transaction | None = None) -> AsyncIterator[Transaction]:
        """A write transaction: `BEGIN IMMEDIATE`, commit on success, rollback on error.

        Inside a transaction the same task already holds (or with `within=` that transaction),
        this opens a savepoint instead, so repository calls compose into one atomic change.
        """
        if within is not None:
            if within.database is not self:
                raise TransactionMisuseError("transaction belongs to another database")
            within._check_usable()
        outer = within or self._current_transaction()
        if outer is not None:
            async with outer.savepoint():
                yield outer
            return
        committed = False
        await self._acquire_write_lock()
        try:
            if self._closed:
                raise StorageError("database is closed")
            if self._writer.in_transaction:
                # Only reachable if an earlier rollback was interrupted; never build on it.
                await self._writer.rollback()
            try:
                await self._writer.execute("BEGIN IMMEDIATE")
            except BaseException:
                # A cancelled await does not stop aiosqlite's thread: the BEGIN may still run
                # after this task gave up. A rollback queued behind it undoes it (a no-op if it
                # never ran) before the next writer's BEGIN, which queues behind both.
                await asyncio.shield(self._writer.rollback())
                raise
            transaction = Transaction(self, self._writer)
            token = _active_transactions.set(
                MappingProxyType({**_active_transactions.get(), id(self): transaction})
            )
            try:
                yield transaction
                await self._writer.commit()
                committed = True
            except BaseException:
                # Unconditional: a statement still queued in aiosqlite's thread may not have
                # opened anything yet when this runs, and rollback without a transaction is a
                # no-op. Shielded so a second cancellation cannot leave the connection
                # mid-transaction; aiosqlite runs calls in order, so the next BEGIN queues behind.
                await asyncio.shield(self._writer.rollback())
                raise
            finally:
                transaction._end()
                _active_transactions.reset(token)
        finally:
            self._write_lock.release()
        if committed:
            transaction._run_after_commit()

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        """Rows of a read query.

        Inside the caller's transaction this reads through it (seeing its uncommitted writes);
        otherwise it reads the last committed state on the reader connection.
        """
        current = self._current_transaction()
        if current is not None:
            return await current.fetch_all(sql, params)
        if self._closed:
            raise StorageError("database is closed")
        return list(await self._reader.execute_fetchall(sql, params))

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def integrity_check(self) -> str:
        """SQLite's own consistency check; `"ok"` when the file is sound."""
        rows = await self.fetch_all("PRAGMA integrity_check")
        return "\n".join(str(row[0]) for row in rows)


async def _connect(
    path: Path, busy_timeout_ms: int, synchronous: Synchronous, *, read_only: bool
) -> aiosqlite.Connection:
    # isolation_level=None: the sqlite3 module must not open transactions behind our back;
    # `Database.transaction` issues BEGIN IMMEDIATE itself.
    connection = await aiosqlite.connect(
        path, isolation_level=None, timeout=busy_timeout_ms / 1000, check_same_thread=False
    )
    try:
        connection.row_factory = sqlite3.Row
        await connection.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        await connection.execute("PRAGMA foreign_keys=ON")
        await connection.execute(f"PRAGMA synchronous={synchronous}")
        if read_only:
            await connection.execute("PRAGMA query_only=ON")
    except BaseException:
        await connection.close()
        raise
    return connection
