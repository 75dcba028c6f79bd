"""Schema version 1: the core tables and the rules the database itself enforces.

The pairing ledger's guarantees live here as constraints and triggers — not in Python — so no
code path (or a second process, or a hand-typed UPDATE) can run a request twice, run two on one
machine, or run one on a machine blocked by a stuck request. Released migrations are never
edited; changes go in a new numbered module.
"""

from __future__ import annotations

from storage.migrations.runner import Migration

_PAIRING_TERMINAL = "('succeeded', 'failed', 'rejected', 'expired', 'superseded')"

_AGENTS = """
CREATE TABLE agents (
    id TEXT PRIMARY KEY CHECK (id GLOB 'ag_*'),
    tenant_id TEXT NOT NULL CHECK (length(tenant_id) BETWEEN 1 AND 128),
    user_id TEXT NOT NULL CHECK (length(user_id) BETWEEN 1 AND 128),
    telegram_user_id INTEGER,
    fly_app TEXT,
    machine_id TEXT,
    volume_id TEXT,
    region TEXT,
    image TEXT,
    model TEXT,
    memory_mb INTEGER CHECK (memory_mb IS NULL OR memory_mb > 0),
    allowed_skills TEXT NOT NULL DEFAULT '[]'
        CHECK (json_valid(allowed_skills) AND json_type(allowed_skills) = 'array'),
    status TEXT NOT NULL CHECK (status IN (
        'provisioning', 'running', 'stopped', 'recreating', 'deprovisioning', 'error', 'deleted'
    )),
    last_error TEXT,
    last_activity_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT,
    CHECK ((status = 'deleted') = (deleted_at IS NOT NULL))
)
"""

_AGENT_STATEMENTS = (
    _AGENTS,
    """
    CREATE UNIQUE INDEX agents_one_live_per_tenant_user
        ON agents (tenant_id, user_id) WHERE deleted_at IS NULL
    """,
    """
    CREATE UNIQUE INDEX agents_one_live_per_machine
        ON agents (machine_id) WHERE deleted_at IS NULL AND machine_id IS NOT NULL
    """,
    """
    CREATE TRIGGER agents_deleted_are_final BEFORE UPDATE ON agents
    WHEN OLD.status = 'deleted'
    BEGIN SELECT RAISE(ABORT, 'deleted agents are final'); END
    """,
    """
    CREATE TABLE agent_status_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        agent_id TEXT NOT NULL REFERENCES agents (id),
        from_status TEXT,
        to_status TEXT NOT NULL,
        actor TEXT NOT NULL,
        reason TEXT,
        at TEXT NOT NULL
    )
    """,
    "CREATE INDEX agent_status_history_by_agent ON agent_status_history (agent_id, id)",
)

_SNAPSHOT_STATEMENTS = (
    """
    CREATE TABLE snapshots (
        id TEXT PRIMARY KEY CHECK (id GLOB 'sn_*'),
        agent_id TEXT NOT NULL REFERENCES agents (id),
        fly_snapshot_id TEXT,
        source_machine_id TEXT,
        source_volume_id TEXT NOT NULL,
        region TEXT,
        status TEXT NOT NULL CHECK (status IN ('created', 'restored', 'failed')),
        detail TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        CHECK (status = 'failed' OR fly_snapshot_id IS NOT NULL)
    )
    """,
    """
    CREATE UNIQUE INDEX snapshots_one_record_per_fly_snapshot
        ON snapshots (fly_snapshot_id) WHERE fly_snapshot_id IS NOT NULL
    """,
)

# One table for every secret scope: the associated data binds each ciphertext to its scope kind,
# scope id, name and key id, so tenant secrets fit beside agent secrets without a new format.
_SECRET_STATEMENTS = (
    """
    CREATE TABLE vault_secrets (
        scope_kind TEXT NOT NULL CHECK (scope_kind IN ('agent', 'tenant')),
        scope_id TEXT NOT NULL CHECK (length(scope_id) BETWEEN 1 AND 128),
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
    """
    CREATE TRIGGER vault_secrets_agent_scope_exists BEFORE INSERT ON vault_secrets
    WHEN NEW.scope_kind = 'agent'
    BEGIN
        SELECT RAISE(ABORT, 'secret refers to an unknown agent')
        WHERE NOT EXISTS (SELECT 1 FROM agents WHERE id = NEW.scope_id);
    END
    """,
    "CREATE INDEX vault_secrets_by_key_id ON vault_secrets (key_id)",
)

_INVITE_STATEMENTS = (
    """
    CREATE TABLE invites (
        id TEXT PRIMARY KEY CHECK (id GLOB 'inv_*'),
        agent_id TEXT NOT NULL REFERENCES agents (id),
        token_hash TEXT NOT NULL UNIQUE CHECK (length(token_hash) = 64),
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        redeemed_at TEXT,
        redeemed_by_telegram_user_id INTEGER,
        revoked_at TEXT,
        CHECK ((redeemed_at IS NULL) = (redeemed_by_telegram_user_id IS NULL)),
        CHECK (expires_at > created_at)
    )
    """,
    """
    CREATE TRIGGER invites_redeemed_are_final BEFORE UPDATE ON invites
    WHEN OLD.redeemed_at IS NOT NULL
    BEGIN SELECT RAISE(ABORT, 'a redeemed invite cannot change'); END
    """,
)

_PAIRING_STATEMENTS = (
    f"""
    CREATE TABLE pairing_requests (
        id TEXT PRIMARY KEY CHECK (id GLOB 'pr_*'),
        machine_id TEXT NOT NULL CHECK (length(machine_id) > 0),
        agent_id TEXT NOT NULL REFERENCES agents (id),
        code TEXT NOT NULL CHECK (
            length(code) = 8 AND code NOT GLOB '*[^ABCDEFGHJKLMNPQRSTUVWXYZ23456789]*'
        ),
        state TEXT NOT NULL CHECK (state IN (
            'submitted', 'approved', 'running', 'stuck', 'succeeded', 'failed',
            'rejected', 'expired', 'superseded'
        )),
        source TEXT NOT NULL CHECK (source IN ('user', 'admin')),
        submitted_by TEXT NOT NULL,
        decided_by TEXT,
        decided_at TEXT,
        executor TEXT,
        claimed_at TEXT,
        attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        recoveries INTEGER NOT NULL DEFAULT 0 CHECK (recoveries >= 0),
        recovered_by TEXT,
        finished_at TEXT,
        detail TEXT,
        superseded_by TEXT REFERENCES pairing_requests (id),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        -- Exactly one execution per grant: the first approval, then one per recovery.
        CHECK (attempts <= recoveries + 1),
        CHECK (state <> 'running' OR executor IS NOT NULL),
        CHECK ((state IN {_PAIRING_TERMINAL}) = (finished_at IS NOT NULL))
    )
    """,
    """
    CREATE UNIQUE INDEX pairing_one_running_per_machine
        ON pairing_requests (machine_id) WHERE state = 'running'
    """,
    """
    CREATE UNIQUE INDEX pairing_one_stuck_per_machine
        ON pairing_requests (machine_id) WHERE state = 'stuck'
    """,
    # The same code for the same machine is one request while it is live or once it succeeded;
    # after a failure, rejection or expiry the code may be submitted again as a new request.
    """
    CREATE UNIQUE INDEX pairing_one_request_per_machine_code
        ON pairing_requests (machine_id, code)
        WHERE state IN ('submitted', 'approved', 'running', 'stuck', 'succeeded')
    """,
    """
    CREATE TRIGGER pairing_requests_start_submitted BEFORE INSERT ON pairing_requests
    WHEN NEW.state <> 'submitted' OR NEW.attempts <> 0 OR NEW.recoveries <> 0
    BEGIN SELECT RAISE(ABORT, 'pairing requests start as submitted with no attempts'); END
    """,
    """
    CREATE TRIGGER pairing_requests_legal_transitions BEFORE UPDATE OF state ON pairing_requests
    WHEN OLD.state <> NEW.state AND (OLD.state || '>' || NEW.state) NOT IN (
        'submitted>approved', 'submitted>rejected', 'submitted>expired', 'submitted>superseded',
        'approved>running', 'approved>rejected', 'approved>expired', 'approved>superseded',
        'running>succeeded', 'running>failed', 'running>stuck',
        'stuck>approved', 'stuck>succeeded', 'stuck>failed'
    )
    BEGIN SELECT RAISE(ABORT, 'illegal pairing state transition'); END
    """,
    f"""
    CREATE TRIGGER pairing_requests_finished_are_final BEFORE UPDATE ON pairing_requests
    WHEN OLD.state IN {_PAIRING_TERMINAL}
    BEGIN SELECT RAISE(ABORT, 'finished pairing requests are final'); END
    """,
    """
    CREATE TRIGGER pairing_requests_running_is_not_reclaimed BEFORE UPDATE ON pairing_requests
    WHEN OLD.state = 'running' AND NEW.state = 'running'
    BEGIN SELECT RAISE(ABORT, 'a running pairing request cannot be claimed again'); END
    """,
    """
    CREATE TRIGGER pairing_requests_attempt_only_on_claim BEFORE UPDATE ON pairing_requests
    WHEN NEW.attempts <> OLD.attempts
        + (CASE WHEN OLD.state = 'approved' AND NEW.state = 'running' THEN 1 ELSE 0 END)
    BEGIN SELECT RAISE(ABORT, 'attempts change only when a claim starts an execution'); END
    """,
    """
    CREATE TRIGGER pairing_requests_recovery_grants_once BEFORE UPDATE ON pairing_requests
    WHEN NEW.recoveries <> OLD.recoveries
        + (CASE WHEN OLD.state = 'stuck' AND NEW.state = 'approved' THEN 1 ELSE 0 END)
    BEGIN SELECT RAISE(ABORT, 'recoveries change only when a stuck request is re-approved'); END
    """,
    """
    CREATE TRIGGER pairing_requests_no_run_on_stuck_machine
    BEFORE UPDATE OF state ON pairing_requests
    WHEN NEW.state = 'running'
    BEGIN
        SELECT RAISE(ABORT, 'machine has an unrecovered stuck pairing request')
        WHERE EXISTS (
            SELECT 1 FROM pairing_requests
            WHERE machine_id = NEW.machine_id AND state = 'stuck'
        );
    END
    """,
    """
    CREATE TRIGGER pairing_requests_identity_is_fixed
    BEFORE UPDATE OF id, machine_id, agent_id, code, source, submitted_by, created_at
    ON pairing_requests
    WHEN NEW.id IS NOT OLD.id OR NEW.machine_id IS NOT OLD.machine_id
        OR NEW.agent_id IS NOT OLD.agent_id OR NEW.code IS NOT OLD.code
        OR NEW.source IS NOT OLD.source OR NEW.submitted_by IS NOT OLD.submitted_by
        OR NEW.created_at IS NOT OLD.created_at
    BEGIN SELECT RAISE(ABORT, 'a pairing request''s identity cannot change'); END
    """,
    """
    CREATE TRIGGER pairing_requests_are_kept BEFORE DELETE ON pairing_requests
    BEGIN SELECT RAISE(ABORT, 'pairing requests are a ledger and are never deleted'); END
    """,
)

_JOURNAL_STATEMENTS = (
    """
    CREATE TABLE operations (
        id TEXT PRIMARY KEY CHECK (id GLOB 'op_*'),
        kind TEXT NOT NULL CHECK (length(kind) > 0),
        idempotency_key TEXT NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 200),
        agent_id TEXT REFERENCES agents (id),
        params TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(params)),
        status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'abandoned')),
        current_step TEXT,
        result TEXT CHECK (result IS NULL OR json_valid(result)),
        error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        finished_at TEXT,
        CHECK ((status = 'running') = (finished_at IS NULL))
    )
    """,
    """
    CREATE TRIGGER operations_finished_are_final BEFORE UPDATE ON operations
    WHEN OLD.status <> 'running'
    BEGIN SELECT RAISE(ABORT, 'finished operations are final'); END
    """,
    """
    CREATE TABLE operation_steps (
        operation_id TEXT NOT NULL REFERENCES operations (id),
        step TEXT NOT NULL CHECK (length(step) BETWEEN 1 AND 100),
        status TEXT NOT NULL CHECK (status IN ('started', 'done', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 1 CHECK (attempts >= 1),
        result TEXT CHECK (result IS NULL OR json_valid(result)),
        error TEXT,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        PRIMARY KEY (operation_id, step)
    )
    """,
    """
    CREATE TRIGGER operation_steps_need_running_operation BEFORE INSERT ON operation_steps
    BEGIN
        SELECT RAISE(ABORT, 'steps can only be recorded on a running operation')
        WHERE NOT EXISTS (
            SELECT 1 FROM operations WHERE id = NEW.operation_id AND status = 'running'
        );
    END
    """,
    """
    CREATE TRIGGER operation_steps_change_only_while_running BEFORE UPDATE ON operation_steps
    BEGIN
        SELECT RAISE(ABORT, 'steps can only be recorded on a running operation')
        WHERE NOT EXISTS (
            SELECT 1 FROM operations WHERE id = NEW.operation_id AND status = 'running'
        );
    END
    """,
)

_AUDIT_STATEMENTS = (
    """
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        actor TEXT NOT NULL CHECK (length(actor) > 0),
        action TEXT NOT NULL CHECK (length(action) > 0),
        target TEXT,
        outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'failed', 'refused', 'unknown')),
        detail TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail))
    )
    """,
    """
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
    """,
    """
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
    """,
)

_OUTBOX_STATEMENTS = (
    """
    CREATE TABLE alert_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (length(kind) > 0),
        severity TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
        text TEXT NOT NULL,
        payload TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload)),
        dedupe_key TEXT,
        status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        occurrences INTEGER NOT NULL DEFAULT 1 CHECK (occurrences >= 1),
        next_attempt_at TEXT NOT NULL,
        last_error TEXT,
        created_at TEXT NOT NULL,
        last_seen_at TEXT NOT NULL,
        sent_at TEXT,
        CHECK ((status = 'sent') = (sent_at IS NOT NULL))
    )
    """,
    """
    CREATE UNIQUE INDEX alert_outbox_one_pending_per_dedupe_key
        ON alert_outbox (dedupe_key) WHERE status = 'pending' AND dedupe_key IS NOT NULL
    """,
    """
    CREATE TRIGGER alert_outbox_keep_undelivered BEFORE DELETE ON alert_outbox
    WHEN OLD.status <> 'sent'
    BEGIN SELECT RAISE(ABORT, 'undelivered alerts are never deleted'); END
    """,
    """
    CREATE TRIGGER alert_outbox_sent_is_final BEFORE UPDATE ON alert_outbox
    WHEN OLD.status = 'sent'
    BEGIN SELECT RAISE(ABORT, 'a delivered alert cannot change'); END
    """,
)

MIGRATION = Migration(
    version=1,
    name="core tables",
    statements=(
        *_AGENT_STATEMENTS,
        *_SNAPSHOT_STATEMENTS,
        *_SECRET_STATEMENTS,
        *_INVITE_STATEMENTS,
        *_PAIRING_STATEMENTS,
        *_JOURNAL_STATEMENTS,
        *_AUDIT_STATEMENTS,
        *_OUTBOX_STATEMENTS,
    ),
)
