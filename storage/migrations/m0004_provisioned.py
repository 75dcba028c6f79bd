"""Schema version 4: when an agent's provisioning finished.

Column `agents.provisioned_at`. An agent whose provisioning failed after its machine was
created keeps that machine for inspection; the machine may well be `started` although
OpenClaw on it never got its model. Only an agent with `provisioned_at` set may be called
running (the fleet monitor and the lifecycle commands check it). Existing agents count as
provisioned unless the journal holds a provisioning of theirs that did not succeed.
"""

from __future__ import annotations

from storage.migrations.runner import Migration

MIGRATION = Migration(
    version=4,
    name="agents remember when their provisioning finished",
    statements=(
        "ALTER TABLE agents ADD COLUMN provisioned_at TEXT",
        """
        UPDATE agents SET provisioned_at = updated_at
        WHERE status <> 'provisioning'
          AND NOT EXISTS (
              SELECT 1 FROM operations
              WHERE operations.agent_id = agents.id
                AND operations.kind = 'provision'
                AND operations.status <> 'succeeded'
          )
        """,
    ),
)
