"""A separate process that writes to the store in a loop, for the crash and concurrency tests.

Usage: `python storage_crash_writer.py DB_PATH NAME [COUNT]`. Each iteration commits, in ONE
transaction, a journal operation, an audit entry and an alert that all carry the same key, then
prints the operation's idempotency key. A printed key has therefore been committed. Without
COUNT it loops until killed. Never used by the product.
"""

from __future__ import annotations

import asyncio
import sys

from storage.models import AlertSeverity, AuditOutcome, OperationKind
from storage.store import Store


async def write(path: str, name: str, count: int | None) -> None:
    store = await Store.open(path)
    try:
        written = 0
        while count is None or written < count:
            key = f"{name}-{written}"
            async with store.transaction() as tx:
                await store.journal.begin(
                    OperationKind.PROVISION, key, params={"n": written}, tx=tx
                )
                await store.audit.record(
                    actor=name,
                    action="crash_test.write",
                    target=key,
                    outcome=AuditOutcome.OK,
                    tx=tx,
                )
                await store.outbox.enqueue(
                    "crash_test", key, severity=AlertSeverity.INFO, dedupe_key=key, tx=tx
                )
            print(key, flush=True)
            written += 1
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(write(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else None))
