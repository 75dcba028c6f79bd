"""Schema version 2: tenant profiles and the indexes the service's frequent queries need.

A tenant profile holds a display name and plain (non-secret) per-tenant overrides as a JSON
object; a tenant's secrets go in `vault_secrets` under scope kind `tenant`, never here.
Released migrations are never edited; changes go in a new numbered module.
"""

from __future__ import annotations

from storage.migrations.runner import Migration

MIGRATION = Migration(
    version=2,
    name="tenant profiles and query indexes",
    statements=(
        """
        CREATE TABLE tenant_profiles (
            tenant_id TEXT PRIMARY KEY CHECK (length(tenant_id) BETWEEN 1 AND 128),
            display_name TEXT NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
            overrides TEXT NOT NULL DEFAULT '{}'
                CHECK (json_valid(overrides) AND json_type(overrides) = 'object'),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """,
        """
        CREATE INDEX agents_live_by_telegram_user
            ON agents (telegram_user_id)
            WHERE telegram_user_id IS NOT NULL AND deleted_at IS NULL
        """,
        "CREATE INDEX agents_by_tenant ON agents (tenant_id, created_at)",
        "CREATE INDEX pairing_requests_by_agent ON pairing_requests (agent_id, created_at)",
        """
        CREATE INDEX pairing_requests_open_by_age
            ON pairing_requests (created_at) WHERE state IN ('submitted', 'approved')
        """,
        "CREATE INDEX snapshots_by_agent ON snapshots (agent_id, created_at)",
        "CREATE INDEX invites_by_agent ON invites (agent_id, created_at)",
        "CREATE INDEX audit_log_by_target ON audit_log (target, id)",
        """
        CREATE INDEX alert_outbox_due
            ON alert_outbox (next_attempt_at, id) WHERE status = 'pending'
        """,
        "CREATE INDEX operations_unfinished ON operations (created_at) WHERE status = 'running'",
    ),
)
