"""Schema version 6: machines that may still be running a command whose outcome is unknown.

A row is written before each CLI command is sent to a machine and deleted when the command's
answer arrived. A row that stays (the exec timed out, its answer was lost, or the bot died
meanwhile) means the command may still be running inside the machine: the machine takes no
other command until it was restarted. `instance_id` is the machine's version when the outcome
became unknown (a different one later means the machine was restarted or updated).
"""

from __future__ import annotations

from storage.migrations.runner import Migration

MIGRATION = Migration(
    version=6,
    name="machines busy with a command of unknown outcome",
    statements=(
        """
        CREATE TABLE machine_exec_marks (
            machine_id TEXT PRIMARY KEY CHECK (length(machine_id) BETWEEN 1 AND 64),
            command TEXT NOT NULL CHECK (length(command) BETWEEN 1 AND 200),
            state TEXT NOT NULL CHECK (state IN ('sent', 'unknown')),
            instance_id TEXT,
            marked_at TEXT NOT NULL
        )
        """,
    ),
)
