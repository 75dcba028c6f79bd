"""The records the store hands out: immutable pydantic models and the enums they use.

Repositories return these, never database rows. No model here carries a secret in plain text:
secret values and invite tokens only travel as `SecretStr`, which hides them in repr and logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, JsonValue, SecretStr


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- agents -------------------------------------------------------------------------------------


class AgentStatus(StrEnum):
    PROVISIONING = "provisioning"
    RUNNING = "running"
    STOPPED = "stopped"
    RECREATING = "recreating"
    DEPROVISIONING = "deprovisioning"
    ERROR = "error"
    DELETED = "deleted"


class Agent(_Record):
    """One (tenant, user) pair's agent and where it runs on Fly."""

    id: str
    tenant_id: str
    user_id: str
    telegram_user_id: int | None
    fly_app: str | None
    machine_id: str | None
    volume_id: str | None
    region: str | None
    image: str | None
    model: str | None
    memory_mb: int | None
    allowed_skills: tuple[str, ...]
    status: AgentStatus
    last_error: str | None
    last_activity_at: datetime | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    # When its provisioning finished (None: it did not, e.g. failed at the model step).
    provisioned_at: datetime | None = None

    @property
    def provisioned(self) -> bool:
        return self.provisioned_at is not None


@dataclass(frozen=True, slots=True)
class AgentGlance:
    """What a sweep over the whole fleet needs of an agent, and nothing else: a plain slotted
    record, since a monitor reads one per live agent on every sweep (10,000 full `Agent`
    models cost ~12 MiB, these a fraction)."""

    id: str
    tenant_id: str
    fly_app: str | None
    machine_id: str | None
    status: AgentStatus
    provisioned: bool = True


class AgentChanges(_Record):
    """Fields to change on an agent; a field left unset is not touched.

    Pass a field explicitly as None to clear it (e.g. `machine_id=None` once it is destroyed).
    """

    fly_app: str | None = None
    machine_id: str | None = None
    volume_id: str | None = None
    region: str | None = None
    image: str | None = None
    model: str | None = None
    memory_mb: int | None = None
    allowed_skills: tuple[str, ...] | None = None
    last_error: str | None = None


class AgentStatusChange(_Record):
    id: int
    agent_id: str
    from_status: AgentStatus | None
    to_status: AgentStatus
    actor: str
    reason: str | None
    at: datetime


# --- snapshots ----------------------------------------------------------------------------------


class SnapshotStatus(StrEnum):
    CREATED = "created"
    RESTORED = "restored"
    FAILED = "failed"


class Snapshot(_Record):
    id: str
    agent_id: str
    fly_snapshot_id: str | None
    source_machine_id: str | None
    source_volume_id: str
    region: str | None
    status: SnapshotStatus
    detail: str | None
    created_at: datetime
    updated_at: datetime


# --- secrets ------------------------------------------------------------------------------------


class SecretScopeKind(StrEnum):
    AGENT = "agent"
    TENANT = "tenant"
    STAGED = "staged"  # an agent's own secrets kept before it is provisioned


class SecretScope(_Record):
    """Whose secret: an agent's own, a tenant's default, or staged for an agent-to-be."""

    kind: SecretScopeKind
    id: str

    @classmethod
    def agent(cls, agent_id: str) -> SecretScope:
        return cls(kind=SecretScopeKind.AGENT, id=agent_id)

    @classmethod
    def tenant(cls, tenant_id: str) -> SecretScope:
        return cls(kind=SecretScopeKind.TENANT, id=tenant_id)

    @classmethod
    def staged(cls, tenant_id: str, user_id: str) -> SecretScope:
        """Secrets of the agent-to-be of (tenant, user), moved to it at provisioning."""
        return cls(kind=SecretScopeKind.STAGED, id=f"{tenant_id}/{user_id}")


class SecretMeta(_Record):
    """What may be shown about a stored secret: never its value."""

    scope: SecretScope
    name: str
    key_id: str
    fingerprint: str
    created_at: datetime
    updated_at: datetime


class RotationReport(_Record):
    re_encrypted: int
    already_current: int
    current_key_id: str


# --- invites ------------------------------------------------------------------------------------


class Invite(_Record):
    """A one-time link that ties a Telegram user to an agent. Only its hash is stored."""

    id: str
    agent_id: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    redeemed_at: datetime | None
    redeemed_by_telegram_user_id: int | None
    revoked_at: datetime | None


class IssuedInvite(_Record):
    """A freshly created invite and its token — the only time the token is available."""

    invite: Invite
    token: SecretStr


class InviteRefusal(StrEnum):
    UNKNOWN = "unknown"
    ALREADY_USED = "already_used"
    EXPIRED = "expired"
    REVOKED = "revoked"
    AGENT_GONE = "agent_gone"
    # The agent is linked to another Telegram user: an invite never swaps them silently.
    AGENT_TAKEN = "agent_taken"


# --- pairing ------------------------------------------------------------------------------------


class PairingState(StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    RUNNING = "running"
    STUCK = "stuck"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"

    @property
    def is_final(self) -> bool:
        return self in _PAIRING_FINAL


_PAIRING_FINAL = frozenset(
    {
        PairingState.SUCCEEDED,
        PairingState.FAILED,
        PairingState.REJECTED,
        PairingState.EXPIRED,
        PairingState.SUPERSEDED,
    }
)


class PairingSource(StrEnum):
    USER = "user"
    ADMIN = "admin"


class PairingRequest(_Record):
    id: str
    machine_id: str
    agent_id: str
    code: str
    state: PairingState
    source: PairingSource
    submitted_by: str
    decided_by: str | None
    decided_at: datetime | None
    executor: str | None
    claimed_at: datetime | None
    attempts: int
    recoveries: int
    recovered_by: str | None
    finished_at: datetime | None
    detail: str | None
    superseded_by: str | None
    created_at: datetime
    updated_at: datetime


class SubmitResult(_Record):
    request: PairingRequest
    created: bool
    superseded: tuple[PairingRequest, ...] = ()


class ClaimOutcome(StrEnum):
    WON = "won"
    ALREADY_CLAIMED = "already_claimed"
    NOT_APPROVED = "not_approved"
    MACHINE_BUSY = "machine_busy"
    MACHINE_BLOCKED = "machine_blocked"


class ClaimResult(_Record):
    """The answer to a claim: who runs the request, and if not us, why not."""

    outcome: ClaimOutcome
    request: PairingRequest
    blocking_request: PairingRequest | None = None
    explanation: str

    @property
    def won(self) -> bool:
        return self.outcome is ClaimOutcome.WON


class StuckResolution(StrEnum):
    """What to do with a machine's stuck request once the machine is healthy again."""

    RETRY = "retry"
    APPLIED = "applied"
    ABANDONED = "abandoned"


# --- operations journal -------------------------------------------------------------------------


class OperationKind(StrEnum):
    PROVISION = "provision"
    RECREATE = "recreate"
    DEPROVISION = "deprovision"
    START = "start"
    STOP = "stop"
    RESTART = "restart"
    SNAPSHOT = "snapshot"
    UPDATE_SKILLS = "update_skills"
    SET_MODEL = "set_model"


class OperationStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABANDONED = "abandoned"


class StepStatus(StrEnum):
    STARTED = "started"
    DONE = "done"
    FAILED = "failed"


class Operation(_Record):
    id: str
    kind: OperationKind
    idempotency_key: str
    agent_id: str | None
    params: dict[str, JsonValue]
    status: OperationStatus
    current_step: str | None
    result: JsonValue
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class OperationStep(_Record):
    operation_id: str
    step: str
    status: StepStatus
    attempts: int
    result: JsonValue
    error: str | None
    started_at: datetime
    finished_at: datetime | None


class BeginResult(_Record):
    operation: Operation
    created: bool


# --- audit --------------------------------------------------------------------------------------


class ActorKind(StrEnum):
    ADMIN = "admin"
    USER = "user"
    SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    """Who asked for a change: an admin or an end user (by Telegram user id), or a part of the
    bot itself (`system`, or `system:monitor` naming the part).

    The store records it as text, `str(actor)`: `admin:11`, `user:2002`, `system:monitor`,
    `system` (the audit log's and the ledger's rows keep the form they always had); `parse`
    reads such a text back.
    """

    kind: ActorKind
    # The Telegram user id (digits) of an admin or user; the part's name, or "", for system.
    id: str

    @classmethod
    def admin(cls, telegram_user_id: int) -> Actor:
        return cls(ActorKind.ADMIN, str(telegram_user_id))

    @classmethod
    def user(cls, telegram_user_id: int) -> Actor:
        return cls(ActorKind.USER, str(telegram_user_id))

    @classmethod
    def system(cls, part: str = "") -> Actor:
        return cls(ActorKind.SYSTEM, part)

    @classmethod
    def parse(cls, text: str) -> Actor | None:
        """The actor a stored text names; None for a text no `Actor` writes."""
        kind, colon, ident = text.partition(":")
        if kind == ActorKind.SYSTEM:
            return cls.system(ident) if ident or not colon else None
        if kind in (ActorKind.ADMIN, ActorKind.USER) and ident.isdigit():
            return cls(ActorKind(kind), ident)
        return None

    @property
    def telegram_user_id(self) -> int | None:
        """The Telegram user id of an admin or end user; None for the bot itself."""
        return int(self.id) if self.kind is not ActorKind.SYSTEM else None

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}" if self.id else str(self.kind)


# The bot itself, unnamed (`system`): who acts when no person and no named part of the bot does.
THE_BOT = Actor.system()


class AuditOutcome(StrEnum):
    OK = "ok"
    FAILED = "failed"
    REFUSED = "refused"
    UNKNOWN = "unknown"


class AuditEntry(_Record):
    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    outcome: AuditOutcome
    detail: dict[str, JsonValue]


# --- alert outbox -------------------------------------------------------------------------------


class AlertSeverity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class AlertKind(StrEnum):
    """What an alert is about; its value is the `alert_outbox.kind` stored and shown as the
    alert's title. Values never change (stored rows and digests group by them); a new kind is a
    new member, and the renderer shows it like every other."""

    # pairing (each goes out as a card with buttons)
    PAIRING_SUBMITTED = "pairing_submitted"
    PAIRING_STUCK = "pairing_stuck"
    # pairing, on the way to approving
    PAIRING_FOREIGN_CODE = "pairing_foreign_code"
    OWNER_POLICY_FAILED = "owner_policy_failed"
    OWNER_BOOTSTRAP = "owner_bootstrap"
    # provisioning, recreating, lifecycle
    AGENT_PROVISIONED = "agent_provisioned"
    PROVISION_FAILED = "provision_failed"
    AGENT_RECREATED = "agent_recreated"
    RECREATE_FAILED = "recreate_failed"
    DEPROVISION_INCOMPLETE = "deprovision_incomplete"
    START_REFUSED = "start_refused"
    MODEL_MISMATCH = "model_mismatch"
    # the gateway did not come up (`bot.fleet.errors.GatewayFailure`)
    GATEWAY_AUTH_REFUSED = "gateway_auth_refused"
    GATEWAY_VERSION_MISMATCH = "gateway_version_mismatch"
    GATEWAY_NEVER_LISTENING = "gateway_never_listening"
    # the monitor: `machine_<condition>`, the condition also in the payload and dedupe key
    FLY_TOKEN_REFUSED = "fly_token_refused"  # noqa: S105 - an alert kind, not a token
    MACHINE_GONE = "machine_gone"
    MACHINE_CHECK_CRITICAL = "machine_check_critical"
    MACHINE_UNEXPECTED_STOPPED = "machine_unexpected_stopped"
    MACHINE_UNEXPECTED_FAILED = "machine_unexpected_failed"
    MACHINE_UNEXPECTED_SUSPENDED = "machine_unexpected_suspended"
    MACHINE_WEDGED_CREATING = "machine_wedged_creating"
    MACHINE_WEDGED_STARTING = "machine_wedged_starting"
    MACHINE_WEDGED_STOPPING = "machine_wedged_stopping"
    MACHINE_WEDGED_RESTARTING = "machine_wedged_restarting"
    MACHINE_WEDGED_SUSPENDING = "machine_wedged_suspending"
    MACHINE_WEDGED_DESTROYING = "machine_wedged_destroying"
    MACHINE_WEDGED_UPDATING = "machine_wedged_updating"
    MACHINE_WEDGED_REPLACING = "machine_wedged_replacing"
    MACHINE_WEDGED_LAUNCH_FAILED = "machine_wedged_launch_failed"
    # end users and invites
    INVITE_REDEEMED = "invite_redeemed"
    INVITE_AGENT_TAKEN = "invite_agent_taken"
    # the bot itself and its Telegram connection
    BOT_ERROR = "bot_error"
    OPS_CHAT_MIGRATED = "ops_chat_migrated"
    WEBHOOK_URL = "webhook_url"
    WEBHOOK_ERROR = "webhook_error"


class Alert(_Record):
    id: int
    # An `AlertKind` value, read as the plain string stored: an alert queued by another version
    # of the bot (a kind this one does not know) must still be delivered, never fail to load.
    kind: str
    severity: AlertSeverity
    text: str
    payload: dict[str, JsonValue]
    dedupe_key: str | None
    status: AlertStatus
    attempts: int
    occurrences: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    last_seen_at: datetime
    sent_at: datetime | None


class EnqueueResult(_Record):
    alert: Alert
    created: bool


# --- tenants ------------------------------------------------------------------------------------


class TenantProfile(_Record):
    tenant_id: str
    display_name: str
    overrides: dict[str, JsonValue]
    created_at: datetime
    updated_at: datetime
