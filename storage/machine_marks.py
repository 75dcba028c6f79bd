"""Machines that may still be running a CLI command: the durable half of "one at a time".

The fleet's CLI runner marks a machine before it sends a command and clears the mark when the
command's answer arrived. A mark that stays says the command's outcome is unknown (a timeout,
a lost answer, or a process that died meanwhile): the command may still run inside the
machine, so it takes no other command until it was restarted. Kept in the database so that
holds across restarts of the bot. This module never talks to Fly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from storage.clock import Clock, from_db_time, to_db_time
from storage.db import Database, Row


class MarkState(StrEnum):
    SENT = "sent"  # the command was being sent or run; no answer recorded yet
    UNKNOWN = "unknown"  # its answer was lost: it may still be running


@dataclass(frozen=True)
class MachineMark:
    machine_id: str
    command: str
    """The command's label (fixed words only, never user values)."""
    state: MarkState
    instance_id: str | None
    marked_at: datetime


class MachineMarks:
    """Repository for `machine_exec_marks`."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock

    async def get(self, machine_id: str) -> MachineMark | None:
        row = await self._db.fetch_one(
            "SELECT * FROM machine_exec_marks WHERE machine_id = ?", (machine_id,)
        )
        return None if row is None else _mark(row)

    async def sending(self, machine_id: str, command: str) -> None:
        """Before a command is sent: from now on its outcome is unknown until cleared."""
        async with self._db.transaction() as transaction:
            await transaction.execute(
                """
                INSERT INTO machine_exec_marks (machine_id, command, state, instance_id, marked_at)
                VALUES (?, ?, 'sent', NULL, ?)
                ON CONFLICT (machine_id) DO UPDATE SET
                    command = excluded.command, state = 'sent', instance_id = NULL,
                    marked_at = excluded.marked_at
                """,
                (machine_id, command[:200], to_db_time(self._clock())),
            )

    async def unknown(self, machine_id: str, instance_id: str | None) -> None:
        """The command's answer was lost: it may still run in the machine's `instance_id`."""
        async with self._db.transaction() as transaction:
            await transaction.execute(
                "UPDATE machine_exec_marks SET state = 'unknown', instance_id = ? "
                "WHERE machine_id = ?",
                (instance_id, machine_id),
            )

    async def clear(self, machine_id: str) -> bool:
        """The command ended, or the machine was restarted; True if there was a mark."""
        async with self._db.transaction() as transaction:
            changed = await transaction.execute(
                "DELETE FROM machine_exec_marks WHERE machine_id = ?", (machine_id,)
            )
        return changed > 0


def _mark(row: Row) -> MachineMark:
    return MachineMark(
        machine_id=row["machine_id"],
        command=row["command"],
        state=MarkState(row["state"]),
        instance_id=row["instance_id"],
        marked_at=from_db_time(row["marked_at"]),
    )
