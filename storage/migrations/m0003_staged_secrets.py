"""Schema version 3: secrets staged for an agent that is not provisioned yet.

An admin may store an agent's own secrets (its Telegram bot token, say) under `tenant/user`
before provisioning, so that a whole provisioning can be scripted. They live under scope kind
`staged` (scope id `tenant/user`) and are moved to the agent's scope when it is created.
SQLite cannot change a CHECK constraint in place, so the table is rebuilt; rows keep their
ciphertexts untouched (the associated data does not change for existing scopes).
"""

from __future__ import annotations

from storage.migrations.runner import Migration

MIGRATION = Migration(
    version=3,
    name="staged secrets for agents to be provisioned",
    statements=(
        """
        CREATE TABLE vault_secrets_v3 (
            scope_kind TEXT NOT NULL CHECK (scope_kind IN ('agent', 'tenant', 'staged')),
            scope_id TEXT NOT NULL CHECK (length(scope_id) BETWEEN 1 AND 129),
            name TEXT NOT NULL CHECK (
                length(name) BETWEEN 1 AND 64
                AND name GLOB '[A-Z]*'
                AND name NOT GLOB '*[^A-Z0-9_]*'
            ),
            key_id TEXT NOT NULL,
            nonce BLOB NOT NULL CHECK (length(nonce) = 12),
            ciphertext BLOB NOT NULL,
            fingerprint TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (scope_kind, scope_id, name)
        )
        """,
        "INSERT INTO vault_secrets_v3 SELECT * FROM vault_secrets",
        "DROP TABLE vault_secrets",
        "ALTER TABLE vault_secrets_v3 RENAME TO vault_secrets",
        """
        CREATE TRIGGER vault_secrets_agent_scope_exists BEFORE INSERT ON vault_secrets
        WHEN NEW.scope_kind = 'agent'
        BEGIN
            SELECT RAISE(ABORT, 'secret refers to an unknown agent')
            WHERE NOT EXISTS (SELECT 1 FROM agents WHERE id = NEW.scope_id);
        END
        """,
        "CREATE INDEX vault_secrets_by_key_id ON vault_secrets (key_id)",
    ),
)
