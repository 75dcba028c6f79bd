"""Agents: one per live (tenant, user) pair, and the Fly resources it runs on.

Every status change is appended to `agent_status_history` in the same transaction. Agents are
never hard-deleted: `mark_deleted` keeps the row (history, audit and snapshots point at it) and
frees the (tenant, user) pair for a new agent. This module never talks to Fly and never stores a
secret: an agent's secrets live in the vault.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Sequence
from datetime import datetime

from storage.audit import AuditLog
from storage.clock import Clock, from_db_time, from_db_time_or_none, to_db_time
from storage.db import Database, Row, Transaction
from storage.errors import (
    AgentAlreadyExistsError,
    ConflictError,
    NotFoundError,
    StateTransitionError,
)
from storage.ids import new_id
from storage.models import (
    Agent,
    AgentChanges,
    AgentGlance,
    AgentStatus,
    AgentStatusChange,
    AuditOutcome,
)
from storage.redaction import redact_text

# Columns `AgentChanges` may write, in a fixed order; SQL is only ever built from these names.
_CHANGEABLE_COLUMNS = (
    "fly_app",
    "machine_id",
    "volume_id",
    "region",
    "image",
    "model",
    "memory_mb",
    "allowed_skills",
    "last_error",
)


class AgentRepository:
    """Repository for `agents` and `agent_status_history`."""

    def __init__(self, database: Database, clock: Clock, audit: AuditLog) -> None:
        self._db = database
        self._clock = clock
        self._audit = audit

    async def create(
        self,
        *,
        tenant_id: str,
        user_id: str,
        actor: str,
        status: AgentStatus = AgentStatus.PROVISIONING,
        fly_app: str | None = None,
        region: str | None = None,
        image: str | None = None,
        model: str | None = None,
        memory_mb: int | None = None,
        allowed_skills: Sequence[str] = (),
        telegram_user_id: int | None = None,
        tx: Transaction | None = None,
    ) -> Agent:
        """Create the live agent for (tenant, user); `AgentAlreadyExistsError` if one exists."""
        if status is AgentStatus.DELETED:
            raise ValueError("an agent cannot be created deleted")
        agent_id = new_id("ag")
        now = to_db_time(self._clock())
        try:
            async with self._db.transaction(tx) as transaction:
                existing = await transaction.fetch_one(
                    "SELECT id FROM agents WHERE tenant_id = ? AND user_id = ? "
                    "AND deleted_at IS NULL",
                    (tenant_id, user_id),
                )
                if existing is not None:
                    raise AgentAlreadyExistsError(
                        f"tenant {tenant_id!r} user {user_id!r} already has agent {existing['id']}"
                    )
                await transaction.execute(
                    """
                    INSERT INTO agents (
                        id, tenant_id, user_id, telegram_user_id, fly_app, region, image, model,
                        memory_mb, allowed_skills, status, created_at, updated_at,
                        provisioned_at
                    ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    (
                        agent_id,
                        tenant_id,
                        user_id,
                        telegram_user_id,
                        fly_app,
                        region,
                        image,
                        model,
                        memory_mb,
                        json.dumps(list(allowed_skills)),
                        status.value,
                        now,
                        now,
                        # An agent recorded in any other status than `provisioning` was set up
                        # elsewhere (imports, seeding): it counts as provisioned.
                        None if status is AgentStatus.PROVISIONING else now,
                    ),
                )
                await self._append_history(transaction, agent_id, None, status, actor, "created")
                await self._audit.record(
                    actor=actor,
                    action="agent.create",
                    target=agent_id,
                    outcome=AuditOutcome.OK,
                    detail={"tenant_id": tenant_id, "user_id": user_id},
                    tx=transaction,
                )
                return await self._require(transaction, agent_id)
        except sqlite3.IntegrityError as error:
            # Another process won the race past the check above; the unique index held.
            raise AgentAlreadyExistsError(
                f"tenant {tenant_id!r} user {user_id!r} already has a live agent"
            ) from error

    async def get(self, agent_id: str) -> Agent:
        agent = await self.find(agent_id)
        if agent is None:
            raise NotFoundError(f"no agent {agent_id}")
        return agent

    async def find(self, agent_id: str) -> Agent | None:
        row = await self._db.fetch_one("SELECT * FROM agents WHERE id = ?", (agent_id,))
        return None if row is None else _agent(row)

    async def get_live(self, tenant_id: str, user_id: str) -> Agent | None:
        row = await self._db.fetch_one(
            "SELECT * FROM agents WHERE tenant_id = ? AND user_id = ? AND deleted_at IS NULL",
            (tenant_id, user_id),
        )
        return None if row is None else _agent(row)

    async def get_by_machine(self, machine_id: str) -> Agent | None:
        row = await self._db.fetch_one(
            "SELECT * FROM agents WHERE machine_id = ? AND deleted_at IS NULL", (machine_id,)
        )
        return None if row is None else _agent(row)

    async def for_telegram_user(self, telegram_user_id: int) -> list[Agent]:
        rows = await self._db.fetch_all(
            "SELECT * FROM agents WHERE telegram_user_id = ? AND deleted_at IS NULL "
            "ORDER BY created_at, id",
            (telegram_user_id,),
        )
        return [_agent(row) for row in rows]

    async def live(self, *, tenant_id: str | None = None) -> list[Agent]:
        """Live agents, optionally of one tenant, oldest first."""
        rows = await self._db.fetch_all(
            "SELECT * FROM agents WHERE deleted_at IS NULL AND (? IS NULL OR tenant_id = ?) "
            "ORDER BY created_at, id",
            (tenant_id, tenant_id),
        )
        return [_agent(row) for row in rows]

    async def live_glances(self) -> list[AgentGlance]:
        """Every live agent with a machine, as the fleet monitor needs it, oldest first."""
        rows = await self._db.fetch_all(
            "SELECT id, tenant_id, fly_app, machine_id, status, provisioned_at FROM agents "
            "WHERE deleted_at IS NULL AND machine_id IS NOT NULL ORDER BY created_at, id"
        )
        return [
            AgentGlance(
                id=row["id"],
                tenant_id=row["tenant_id"],
                fly_app=row["fly_app"],
                machine_id=row["machine_id"],
                status=AgentStatus(row["status"]),
                provisioned=row["provisioned_at"] is not None,
            )
            for row in rows
        ]

    async def update(
        self,
        agent_id: str,
        changes: AgentChanges,
        *,
        actor: str,
        tx: Transaction | None = None,
    ) -> Agent:
        """Write the fields set on `changes`; the status is changed with `set_status` only."""
        values: dict[str, object] = {}
        for column in _CHANGEABLE_COLUMNS:
            if column in changes.model_fields_set:
                value = getattr(changes, column)
                if column == "allowed_skills" and value is not None:
                    value = json.dumps(list(value))
                if column == "last_error" and value is not None:
                    value = redact_text(value)
                values[column] = value
        if "allowed_skills" in values and values["allowed_skills"] is None:
            raise ValueError("allowed_skills cannot be cleared; pass an empty tuple")
        async with self._db.transaction(tx) as transaction:
            if not values:
                current = await self._require(transaction, agent_id)
                if current.status is AgentStatus.DELETED:
                    raise StateTransitionError(f"agent {agent_id} is deleted", current)
                return current
            assignments = ", ".join(f"{column} = ?" for column in values)
            try:
                # One statement checks, writes and reads back: every await inside the write
                # transaction holds the store's only writer (see `_status_change`).
                row = await transaction.fetch_one(
                    f"UPDATE agents SET {assignments}, updated_at = ? "  # noqa: S608 - column names from _CHANGEABLE_COLUMNS
                    "WHERE id = ? AND status != ? RETURNING *",
                    (
                        *values.values(),
                        to_db_time(self._clock()),
                        agent_id,
                        AgentStatus.DELETED.value,
                    ),
                )
            except sqlite3.IntegrityError as error:
                raise ConflictError(
                    f"cannot update agent {agent_id}: machine already belongs to another agent"
                    if "machine_id" in values
                    else f"cannot update agent {agent_id}: {error}"
                ) from error
            if row is None:
                current = await self._require(transaction, agent_id)
                raise StateTransitionError(f"agent {agent_id} is deleted", current)
            await self._audit.record(
                actor=actor,
                action="agent.update",
                target=agent_id,
                outcome=AuditOutcome.OK,
                detail={"fields": sorted(values)},
                tx=transaction,
            )
            return _agent(row)

    async def mark_provisioned(
        self, agent_id: str, *, actor: str, tx: Transaction | None = None
    ) -> Agent:
        """Record that the agent's provisioning finished (or a repair completed it); only such
        an agent may be called running. Keeps the first time it was recorded."""
        now = to_db_time(self._clock())
        async with self._db.transaction(tx) as transaction:
            row = await transaction.fetch_one(
                "UPDATE agents SET provisioned_at = COALESCE(provisioned_at, ?), updated_at = ? "
                "WHERE id = ? AND status != ? RETURNING *",
                (now, now, agent_id, AgentStatus.DELETED.value),
            )
            if row is None:
                current = await self._require(transaction, agent_id)
                raise StateTransitionError(f"agent {agent_id} is deleted", current)
            await self._audit.record(
                actor=actor,
                action="agent.provisioned",
                target=agent_id,
                outcome=AuditOutcome.OK,
                tx=transaction,
            )
            return _agent(row)

    async def set_status(
        self,
        agent_id: str,
        status: AgentStatus,
        *,
        actor: str,
        reason: str | None = None,
        expected: Collection[AgentStatus] | None = None,
        tx: Transaction | None = None,
    ) -> Agent:
        """Change the status and append it to the history.

        With `expected`, the change only happens if the current status is one of those
        (compare-and-set); otherwise `StateTransitionError` carries the agent as it is.
        """
        now = to_db_time(self._clock())
        wanted = None if expected is None else sorted({state.value for state in expected})
        async with self._db.transaction(tx) as transaction:
            recorded_at = to_db_time(self._clock())
            changed = await self._status_change(
                transaction, agent_id, status, now, recorded_at, wanted, actor, reason
            )
            if changed is not None:
                return changed
            # Nothing changed: say why, from the row as it is (the write lock is still held).
            current = await self._require(transaction, agent_id)
            if current.status is AgentStatus.DELETED:
                raise StateTransitionError(f"agent {agent_id} is deleted", current)
            if expected is not None and current.status not in expected:
                raise StateTransitionError(
                    f"agent {agent_id} is {current.status.value}, expected one of {wanted}",
                    current,
                )
            return current

    async def _status_change(
        self,
        transaction: Transaction,
        agent_id: str,
        status: AgentStatus,
        now: str,
        recorded_at: str,
        wanted: Sequence[str] | None,
        actor: str,
        reason: str | None,
    ) -> Agent | None:
        """The changed agent, or None if the row is missing, deleted, already in `status` or
        not in `wanted`.

        Two statements instead of read, update, history, read again: the store has one writer,
        and under load (a bulk stop of hundreds of agents) every await inside the transaction
        waits its turn on a busy event loop while the lock is held. The history row comes first
        because only then is the old status still in the row to copy.
        """
        guard = "" if wanted is None else f" AND status IN ({', '.join('?' * len(wanted))})"
        history = f"""
            INSERT INTO agent_status_history (agent_id, from_status, to_status, actor, reason, at)
            SELECT id, status, ?, ?, ?, ? FROM agents
            WHERE id = ? AND status != ? AND status != ?{guard}
            """  # noqa: S608 - only placeholders are inserted
        appended = await transaction.execute(
            history,
            (
                status.value,
                actor,
                reason,
                recorded_at,
                agent_id,
                AgentStatus.DELETED.value,
                status.value,
                *(wanted or ()),
            ),
        )
        if appended == 0:
            return None
        row = await transaction.fetch_one(
            "UPDATE agents SET status = ?, deleted_at = ?, updated_at = ? WHERE id = ? RETURNING *",
            (status.value, now if status is AgentStatus.DELETED else None, now, agent_id),
        )
        if row is None:
            raise NotFoundError(f"no agent {agent_id}")
        return _agent(row)

    async def mark_deleted(
        self,
        agent_id: str,
        *,
        actor: str,
        reason: str | None = None,
        tx: Transaction | None = None,
    ) -> Agent:
        """Soft-delete: the row stays, the (tenant, user) pair and machine are freed."""
        async with self._db.transaction(tx) as transaction:
            agent = await self.set_status(
                agent_id, AgentStatus.DELETED, actor=actor, reason=reason, tx=transaction
            )
            await self._audit.record(
                actor=actor,
                action="agent.delete",
                target=agent_id,
                outcome=AuditOutcome.OK,
                detail={"reason": reason} if reason else None,
                tx=transaction,
            )
            return agent

    async def touch_activity(self, agent_id: str, at: datetime | None = None) -> None:
        """Record activity; never moves the time backwards."""
        moment = to_db_time(at or self._clock())
        async with self._db.transaction() as transaction:
            changed = await transaction.execute(
                """
                UPDATE agents SET last_activity_at = ?
                WHERE id = ? AND deleted_at IS NULL
                    AND (last_activity_at IS NULL OR last_activity_at < ?)
                """,
                (moment, agent_id, moment),
            )
            if changed == 0:
                await self._require(transaction, agent_id)

    async def link_telegram_user(
        self,
        agent_id: str,
        telegram_user_id: int,
        *,
        actor: str,
        tx: Transaction | None = None,
    ) -> Agent:
        async with self._db.transaction(tx) as transaction:
            current = await self._require(transaction, agent_id)
            if current.status is AgentStatus.DELETED:
                raise StateTransitionError(f"agent {agent_id} is deleted", current)
            await transaction.execute(
                "UPDATE agents SET telegram_user_id = ?, updated_at = ? WHERE id = ?",
                (telegram_user_id, to_db_time(self._clock()), agent_id),
            )
            await self._audit.record(
                actor=actor,
                action="agent.link_telegram_user",
                target=agent_id,
                outcome=AuditOutcome.OK,
                detail={"telegram_user_id": telegram_user_id},
                tx=transaction,
            )
            return await self._require(transaction, agent_id)

    async def unlink_telegram_user(
        self, agent_id: str, *, actor: str, tx: Transaction | None = None
    ) -> tuple[Agent, int | None]:
        """Remove the agent's linked Telegram user; answers the agent and who was linked."""
        async with self._db.transaction(tx) as transaction:
            current = await self._require(transaction, agent_id)
            previous = current.telegram_user_id
            await transaction.execute(
                "UPDATE agents SET telegram_user_id = NULL, updated_at = ? WHERE id = ?",
                (to_db_time(self._clock()), agent_id),
            )
            await self._audit.record(
                actor=actor,
                action="agent.unlink_telegram_user",
                target=agent_id,
                outcome=AuditOutcome.OK,
                detail={"telegram_user_id": previous},
                tx=transaction,
            )
            return await self._require(transaction, agent_id), previous

    async def status_history(self, agent_id: str) -> list[AgentStatusChange]:
        """Oldest first."""
        rows = await self._db.fetch_all(
            "SELECT * FROM agent_status_history WHERE agent_id = ? ORDER BY id", (agent_id,)
        )
        return [
            AgentStatusChange(
                id=row["id"],
                agent_id=row["agent_id"],
                from_status=None if row["from_status"] is None else AgentStatus(row["from_status"]),
                to_status=AgentStatus(row["to_status"]),
                actor=row["actor"],
                reason=row["reason"],
                at=from_db_time(row["at"]),
            )
            for row in rows
        ]

    async def _append_history(
        self,
        transaction: Transaction,
        agent_id: str,
        from_status: AgentStatus | None,
        to_status: AgentStatus,
        actor: str,
        reason: str | None,
    ) -> None:
        await transaction.execute(
            """
            INSERT INTO agent_status_history (agent_id, from_status, to_status, actor, reason, at)
            VALUES (?, ?, ?, ?, ?, ?)
            """,
            (
                agent_id,
                None if from_status is None else from_status.value,
                to_status.value,
                actor,
                reason,
                to_db_time(self._clock()),
            ),
        )

    async def _require(self, transaction: Transaction, agent_id: str) -> Agent:
        row = await transaction.fetch_one("SELECT * FROM agents WHERE id = ?", (agent_id,))
        if row is None:
            raise NotFoundError(f"no agent {agent_id}")
        return _agent(row)


def _agent(row: Row) -> Agent:
    return Agent(
        id=row["id"],
        tenant_id=row["tenant_id"],
        user_id=row["user_id"],
        telegram_user_id=row["telegram_user_id"],
        fly_app=row["fly_app"],
        machine_id=row["machine_id"],
        volume_id=row["volume_id"],
        region=row["region"],
        image=row["image"],
        model=row["model"],
        memory_mb=row["memory_mb"],
        allowed_skills=tuple(json.loads(row["allowed_skills"])),
        status=AgentStatus(row["status"]),
        last_error=row["last_error"],
        last_activity_at=from_db_time_or_none(row["last_activity_at"]),
        created_at=from_db_time(row["created_at"]),
        updated_at=from_db_time(row["updated_at"]),
        deleted_at=from_db_time_or_none(row["deleted_at"]),
        provisioned_at=from_db_time_or_none(row["provisioned_at"]),
    )
