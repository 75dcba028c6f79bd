"""Durability and write serialisation across real processes.

A writer process is killed with SIGKILL mid-loop; the database must reopen intact with every
row it reported as committed. Several processes writing at once must never hit "database is
locked". Each writer runs `storage_crash_writer.py` with this interpreter.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from storage.models import AuditOutcome
from storage.store import Store

WRITER = Path(__file__).with_name("storage_crash_writer.py")
ROWS_BEFORE_KILL = 150


async def start_writer(
    db_path: Path, name: str, count: int | None = None
) -> asyncio.subprocess.Process:
    args = [str(WRITER), str(db_path), name]
    if count is not None:
        args.append(str(count))
    return await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=db_path.parent,
    )


async def test_committed_rows_survive_sigkill_and_the_file_stays_intact(tmp_path: Path) -> None:
    db_path = tmp_path / "crash.db"
    writer = await start_writer(db_path, "victim")
    assert writer.stdout is not None
    committed: list[str] = []
    while len(committed) < ROWS_BEFORE_KILL:
        line = await asyncio.wait_for(writer.stdout.readline(), timeout=60)
        assert line, (await writer.stderr.read()).decode() if writer.stderr else "writer exited"
        committed.append(line.decode().strip())
    os.kill(writer.pid, signal.SIGKILL)
    assert await writer.wait() == -signal.SIGKILL
    assert (tmp_path / "crash.db-wal").exists()  # killed with its WAL not checkpointed

    store = await Store.open(db_path)
    try:
        assert await store.db.integrity_check() == "ok"
        for key in committed:
            operation = await store.journal.get_by_key(key)
            assert operation is not None, f"committed operation {key} lost"
        # Each transaction is all-or-nothing, including the one the kill interrupted.
        operations = await store.db.fetch_all("SELECT idempotency_key FROM operations")
        audits = await store.db.fetch_all(
            "SELECT target FROM audit_log WHERE action = 'crash_test.write'"
        )
        alerts = await store.db.fetch_all("SELECT dedupe_key FROM alert_outbox")
        keys = {row[0] for row in operations}
        assert keys == {row[0] for row in audits} == {row[0] for row in alerts}
        assert set(committed) <= keys
        assert len(keys) - len(committed) <= 1  # at most the commit it had no time to print
        # The reopened database takes writes again.
        await store.audit.record(
            actor="test", action="after_crash", target=None, outcome=AuditOutcome.OK
        )
    finally:
        await store.close()


async def test_several_processes_writing_at_once_never_see_database_is_locked(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "shared.db"
    # Create and migrate once so the writers race on data, not on the first migration.
    await (await Store.open(db_path)).close()
    writers = [await start_writer(db_path, f"writer{n}", count=40) for n in range(3)]

    local = await Store.open(db_path)
    try:

        async def local_write(n: int) -> None:
            async with local.transaction() as tx:
                await local.audit.record(
                    actor="local",
                    action="local.write",
                    target=str(n),
                    outcome=AuditOutcome.OK,
                    tx=tx,
                )

        await asyncio.gather(*(local_write(n) for n in range(60)))
        results = [await writer.communicate() for writer in writers]
        for writer, (stdout, stderr) in zip(writers, results, strict=True):
            assert writer.returncode == 0, stderr.decode()
            assert b"locked" not in stderr
            assert len(stdout.decode().split()) == 40
        count = await local.db.fetch_one("SELECT COUNT(*) FROM operations")
        assert count is not None and count[0] == 120
        local_rows = await local.audit.entries(action="local.write", limit=1000)
        assert len(local_rows) == 60
        assert await local.db.integrity_check() == "ok"
    finally:
        await local.close()
