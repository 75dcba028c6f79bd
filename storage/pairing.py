"""The pairing ledger: OpenClaw DM-pairing codes, executed exactly once, one at a time per machine.

States: `submitted → approved → running → succeeded | failed | stuck`, plus `rejected`,
`expired` and `superseded`; a `stuck` request leaves that state only through
`mark_machine_recovered` (back to `approved` for exactly one more attempt, or resolved).

Guarantees, each held by the database (schema version 1), not by in-process locks:
- executed at most once per grant: `claim_for_execution` is one conditional UPDATE
  (`approved → running`); the loser is told who holds it. A trigger lets `attempts` grow only on
  that transition and a CHECK caps it at `recoveries + 1`;
- at most one `running` request per machine (partial unique index);
- a machine with a `stuck` request runs nothing until it is recovered (trigger), and recovery
  grants exactly one new attempt (a trigger lets `recoveries` grow only on `stuck → approved`);
- `recover_after_restart` turns every request left `running` by a previous process into
  `stuck` and queues an alert in the same transaction; nothing is ever re-run automatically;
- the same code for the same machine is one request (partial unique index) while it is live or
  once it succeeded.
Alerts the ledger raises and its audit entries are written in the same transaction as the state
change. This module never runs a pairing command and never talks to Fly: the executor does.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta

from storage.audit import AuditLog
from storage.clock import Clock, from_db_time, from_db_time_or_none, to_db_time
from storage.db import Database, Row, Transaction
from storage.errors import (
    ConflictError,
    InvalidPairingCodeError,
    NotFoundError,
    StateTransitionError,
)
from storage.ids import new_id
from storage.models import (
    THE_BOT,
    AlertKind,
    AlertSeverity,
    AuditOutcome,
    ClaimOutcome,
    ClaimResult,
    PairingRequest,
    PairingSource,
    PairingState,
    StuckResolution,
    SubmitResult,
)
from storage.outbox import AlertOutbox
from storage.redaction import redact_text

# The one definition of an OpenClaw pairing code in the product: 8 characters of OpenClaw's
# alphabet (A-Z and 2-9 without I, O, 0 and 1, so no two characters look alike). Validation,
# the forwarded-message reader and the demo build their patterns from these. The emulators keep
# their own copy (`emulators/fly/openclaw_sim.py`): they import none of the product. The
# `pairing_requests.code` CHECK of migration m0001 spells the alphabet out too, as migrations are
# history and never change.
PAIRING_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
PAIRING_CODE_LENGTH = 8
# One character of a code, as a regular expression character class.
PAIRING_CODE_CHAR = f"[{PAIRING_CODE_ALPHABET}]"
PAIRING_CODE_PATTERN = re.compile(f"^{PAIRING_CODE_CHAR}{{{PAIRING_CODE_LENGTH}}}$")
OPENCLAW_CODE_LIFETIME = timedelta(hours=1)
_MAX_DETAIL_CHARS = 4000

# States in which a (machine, code) pair counts as already submitted.
_CODE_TAKEN_STATES = ("submitted", "approved", "running", "stuck", "succeeded")
_PENDING_STATES = ("submitted", "approved")


def normalize_pairing_code(raw: str) -> str:
    """Trim and upper-case what a user typed; refuse anything that is not an OpenClaw code."""
    code = raw.strip().upper()
    if not PAIRING_CODE_PATTERN.fullmatch(code):
        raise InvalidPairingCodeError(
            "a pairing code is 8 characters from A-Z and 2-9 without I, O, 0 and 1"
        )
    return code


def _placeholders(values: Sequence[str]) -> str:
    return ", ".join("?" for _ in values)


class PairingLedger:
    """Repository for `pairing_requests`."""

    def __init__(
        self, database: Database, clock: Clock, outbox: AlertOutbox, audit: AuditLog
    ) -> None:
        self._db = database
        self._clock = clock
        self._outbox = outbox
        self._audit = audit

    # --- reads ----------------------------------------------------------------------------------

    async def get(self, request_id: str) -> PairingRequest:
        row = await self._db.fetch_one("SELECT * FROM pairing_requests WHERE id = ?", (request_id,))
        if row is None:
            raise NotFoundError(f"no pairing request {request_id}")
        return _request(row)

    async def for_machine(
        self, machine_id: str, *, states: Sequence[PairingState] | None = None
    ) -> list[PairingRequest]:
        """Requests on one machine, oldest first, optionally only in some states."""
        wanted = [state.value for state in (states or tuple(PairingState))]
        rows = await self._db.fetch_all(
            f"SELECT * FROM pairing_requests WHERE machine_id = ? AND state IN "  # noqa: S608 - placeholders only
            f"({_placeholders(wanted)}) ORDER BY created_at, id",
            (machine_id, *wanted),
        )
        return [_request(row) for row in rows]

    async def for_agent(self, agent_id: str) -> list[PairingRequest]:
        rows = await self._db.fetch_all(
            "SELECT * FROM pairing_requests WHERE agent_id = ? ORDER BY created_at, id",
            (agent_id,),
        )
        return [_request(row) for row in rows]

    async def latest_for_agent(self, agent_id: str) -> PairingRequest | None:
        """The agent's newest request (what its end user is waiting on), or None; one row,
        however long the agent's history."""
        row = await self._db.fetch_one(
            "SELECT * FROM pairing_requests WHERE agent_id = ? "
            "ORDER BY created_at DESC, id DESC LIMIT 1",
            (agent_id,),
        )
        return None if row is None else _request(row)

    async def awaiting_decision(self) -> list[PairingRequest]:
        """Submitted requests an admin has not approved or rejected yet, oldest first."""
        rows = await self._db.fetch_all(
            "SELECT * FROM pairing_requests WHERE state = 'submitted' ORDER BY created_at, id"
        )
        return [_request(row) for row in rows]

    async def blocked_machines(self) -> list[PairingRequest]:
        """The stuck request of every machine that needs recovery."""
        rows = await self._db.fetch_all(
            "SELECT * FROM pairing_requests WHERE state = 'stuck' ORDER BY updated_at, id"
        )
        return [_request(row) for row in rows]

    # --- submission and decision ----------------------------------------------------------------

    async def submit(
        self,
        *,
        machine_id: str,
        agent_id: str,
        code: str,
        submitted_by: str,
        source: PairingSource,
        tx: Transaction | None = None,
    ) -> SubmitResult:
        """Record a code for a machine; the same code again returns the existing request.

        A new code for the same agent supersedes its older requests still awaiting execution
        (`submitted` or `approved`): OpenClaw issues a new code when the old one lapsed.
        """
        normalized = normalize_pairing_code(code)
        now = to_db_time(self._clock())
        async with self._db.transaction(tx) as transaction:
            existing = await transaction.fetch_one(
                f"SELECT * FROM pairing_requests WHERE machine_id = ? AND code = ? "  # noqa: S608 - placeholders only
                f"AND state IN ({_placeholders(_CODE_TAKEN_STATES)})",
                (machine_id, normalized, *_CODE_TAKEN_STATES),
            )
            if existing is not None:
                return SubmitResult(request=_request(existing), created=False)
            agent = await transaction.fetch_one(
                "SELECT machine_id, deleted_at FROM agents WHERE id = ?", (agent_id,)
            )
            if agent is None or agent["deleted_at"] is not None:
                raise NotFoundError(f"no live agent {agent_id}")
            if agent["machine_id"] != machine_id:
                raise ConflictError(f"agent {agent_id} does not run on machine {machine_id}")
            request_id = new_id("pr")
            await transaction.execute(
                """
                INSERT INTO pairing_requests (
                    id, machine_id, agent_id, code, state, source, submitted_by,
                    created_at, updated_at
                ) VALUES (?, ?, ?, ?, 'submitted', ?, ?, ?, ?)
                """,
                (
                    request_id,
                    machine_id,
                    agent_id,
                    normalized,
                    source.value,
                    submitted_by,
                    now,
                    now,
                ),
            )
            superseded_rows = await transaction.fetch_all(
                f"""
                UPDATE pairing_requests
                SET state = 'superseded', superseded_by = ?, finished_at = ?, updated_at = ?
                WHERE agent_id = ? AND id <> ? AND state IN ({_placeholders(_PENDING_STATES)})
                RETURNING *
                """,  # noqa: S608 - placeholders only
                (request_id, now, now, agent_id, request_id, *_PENDING_STATES),
            )
            await self._audit.record(
                actor=submitted_by,
                action="pairing.submit",
                target=request_id,
                outcome=AuditOutcome.OK,
                detail={
                    "machine_id": machine_id,
                    "agent_id": agent_id,
                    "source": source.value,
                    "superseded": sorted(str(row["id"]) for row in superseded_rows),
                },
                tx=transaction,
            )
            created = await self._require(transaction, request_id)
        return SubmitResult(
            request=created,
            created=True,
            superseded=tuple(sorted((_request(row) for row in superseded_rows), key=_by_id)),
        )

    async def approve(
        self, request_id: str, *, admin: str, tx: Transaction | None = None
    ) -> PairingRequest:
        """`submitted → approved`; a second approval is refused and names the first approver."""
        return await self._decide(request_id, admin, PairingState.APPROVED, ("submitted",), tx)

    async def reject(
        self, request_id: str, *, admin: str, tx: Transaction | None = None
    ) -> PairingRequest:
        """`submitted | approved → rejected`: an approved request can be stopped before it runs."""
        return await self._decide(
            request_id, admin, PairingState.REJECTED, ("submitted", "approved"), tx
        )

    async def _decide(
        self,
        request_id: str,
        admin: str,
        target: PairingState,
        from_states: Sequence[str],
        tx: Transaction | None,
    ) -> PairingRequest:
        now = to_db_time(self._clock())
        finished = now if target.is_final else None
        async with self._db.transaction(tx) as transaction:
            row = await transaction.fetch_one(
                f"""
                UPDATE pairing_requests
                SET state = ?, decided_by = ?, decided_at = ?, finished_at = ?, updated_at = ?
                WHERE id = ? AND state IN ({_placeholders(from_states)})
                RETURNING *
                """,  # noqa: S608 - placeholders only
                (target.value, admin, now, finished, now, request_id, *from_states),
            )
            if row is None:
                current = await self._require(transaction, request_id)
                who = f" by {current.decided_by}" if current.decided_by else ""
                raise StateTransitionError(
                    f"pairing request {request_id} is already {current.state.value}{who}; "
                    f"cannot mark it {target.value}",
                    current,
                )
            await self._audit.record(
                actor=admin,
                action=f"pairing.{'approve' if target is PairingState.APPROVED else 'reject'}",
                target=request_id,
                outcome=AuditOutcome.OK,
                detail={"machine_id": row["machine_id"]},
                tx=transaction,
            )
        return _request(row)

    # --- execution ------------------------------------------------------------------------------

    async def claim_for_execution(self, request_id: str, *, executor: str) -> ClaimResult:
        """Atomically take an approved request for execution (`approved → running`).

        Wins only if the request is approved, no other request runs on its machine, and the
        machine has no unrecovered stuck request. A loser learns who won or what blocks it.
        The claim is its own transaction: it must be durable before the command is run.
        """
        now = to_db_time(self._clock())
        try:
            async with self._db.transaction() as transaction:
                row = await transaction.fetch_one(
                    """
                    UPDATE pairing_requests
                    SET state = 'running', executor = ?, claimed_at = ?,
                        attempts = attempts + 1, updated_at = ?
                    WHERE id = ? AND state = 'approved'
                        AND NOT EXISTS (
                            SELECT 1 FROM pairing_requests AS other
                            WHERE other.machine_id = pairing_requests.machine_id
                                AND other.state IN ('running', 'stuck')
                        )
                    RETURNING *
                    """,
                    (executor, now, now, request_id),
                )
                if row is not None:
                    claimed = _request(row)
                    await self._audit.record(
                        actor=executor,
                        action="pairing.claim",
                        target=request_id,
                        outcome=AuditOutcome.OK,
                        detail={"machine_id": claimed.machine_id, "attempt": claimed.attempts},
                        tx=transaction,
                    )
                    return ClaimResult(
                        outcome=ClaimOutcome.WON,
                        request=claimed,
                        explanation=f"{executor} runs attempt {claimed.attempts}",
                    )
        except sqlite3.IntegrityError:
            # The database refused what the condition above already rules out (another process
            # on an older code path, say): report it as a lost claim, never run it.
            pass
        return await self._explain_lost_claim(request_id)

    async def _explain_lost_claim(self, request_id: str) -> ClaimResult:
        request = await self.get(request_id)
        if request.state is PairingState.RUNNING:
            return ClaimResult(
                outcome=ClaimOutcome.ALREADY_CLAIMED,
                request=request,
                blocking_request=request,
                explanation=f"already being run by {request.executor} since {request.claimed_at}",
            )
        if request.state is not PairingState.APPROVED:
            ran_by = (
                f" (attempt {request.attempts} run by {request.executor})"
                if request.executor
                else ""
            )
            return ClaimResult(
                outcome=ClaimOutcome.NOT_APPROVED,
                request=request,
                explanation=f"request is {request.state.value}{ran_by}, not approved",
            )
        blockers = await self.for_machine(
            request.machine_id, states=(PairingState.STUCK, PairingState.RUNNING)
        )
        stuck = next((item for item in blockers if item.state is PairingState.STUCK), None)
        if stuck is not None:
            return ClaimResult(
                outcome=ClaimOutcome.MACHINE_BLOCKED,
                request=request,
                blocking_request=stuck,
                explanation=(
                    f"machine {request.machine_id} is blocked by stuck request {stuck.id}; "
                    "restart it and mark it recovered first"
                ),
            )
        running = next(iter(blockers), None)
        if running is not None:
            return ClaimResult(
                outcome=ClaimOutcome.MACHINE_BUSY,
                request=request,
                blocking_request=running,
                explanation=(
                    f"machine {request.machine_id} is running request {running.id} "
                    f"for {running.executor}"
                ),
            )
        # The blocker finished between the claim and this read; the caller may simply retry.
        return ClaimResult(
            outcome=ClaimOutcome.MACHINE_BUSY,
            request=request,
            explanation=f"machine {request.machine_id} was busy; try again",
        )

    async def mark_succeeded(
        self,
        request_id: str,
        *,
        executor: str,
        detail: str | None = None,
        tx: Transaction | None = None,
    ) -> PairingRequest:
        return await self._finish_run(request_id, executor, PairingState.SUCCEEDED, detail, tx)

    async def mark_failed(
        self,
        request_id: str,
        *,
        executor: str,
        detail: str | None = None,
        tx: Transaction | None = None,
    ) -> PairingRequest:
        return await self._finish_run(request_id, executor, PairingState.FAILED, detail, tx)

    async def mark_stuck(
        self,
        request_id: str,
        *,
        executor: str,
        detail: str | None = None,
        tx: Transaction | None = None,
    ) -> PairingRequest:
        """The command hung or its answer was lost: the outcome is unknown. Blocks the machine
        and queues an alert in the same transaction."""
        return await self._finish_run(request_id, executor, PairingState.STUCK, detail, tx)

    async def _finish_run(
        self,
        request_id: str,
        executor: str,
        target: PairingState,
        detail: str | None,
        tx: Transaction | None,
    ) -> PairingRequest:
        now = to_db_time(self._clock())
        safe_detail = _safe_detail(detail)
        async with self._db.transaction(tx) as transaction:
            row = await transaction.fetch_one(
                """
                UPDATE pairing_requests
                SET state = ?, detail = COALESCE(?, detail), finished_at = ?, updated_at = ?
                WHERE id = ? AND state = 'running' AND executor = ?
                RETURNING *
                """,
                (
                    target.value,
                    safe_detail,
                    now if target.is_final else None,
                    now,
                    request_id,
                    executor,
                ),
            )
            if row is None:
                current = await self._require(transaction, request_id)
                raise StateTransitionError(
                    f"pairing request {request_id} is {current.state.value} "
                    f"(executor {current.executor}); {executor} cannot mark it {target.value}",
                    current,
                )
            finished = _request(row)
            outcome = {
                PairingState.SUCCEEDED: AuditOutcome.OK,
                PairingState.FAILED: AuditOutcome.FAILED,
                PairingState.STUCK: AuditOutcome.UNKNOWN,
            }[target]
            await self._audit.record(
                actor=executor,
                action=f"pairing.{target.value}",
                target=request_id,
                outcome=outcome,
                detail={"machine_id": finished.machine_id, "detail": safe_detail},
                tx=transaction,
            )
            if target is PairingState.STUCK:
                await self._alert_stuck(transaction, finished, "its pairing command did not finish")
        return finished

    # --- recovery -------------------------------------------------------------------------------

    async def recover_after_restart(self, executor: str) -> list[PairingRequest]:
        """At start-up: every request running under another executor id becomes `stuck`.

        `executor` is this process's id (`storage.ids.new_executor_id`); a request running
        under any other id was left behind by a process that is gone, so its outcome is unknown.
        Each gets an alert in the same transaction; none is ever re-run automatically.
        """
        now = to_db_time(self._clock())
        async with self._db.transaction() as transaction:
            rows = await transaction.fetch_all(
                """
                UPDATE pairing_requests
                SET state = 'stuck', updated_at = ?,
                    detail = 'interrupted: the service stopped while the command was running'
                WHERE state = 'running' AND executor <> ?
                RETURNING *
                """,
                (now, executor),
            )
            stuck = sorted((_request(row) for row in rows), key=_by_id)
            for request in stuck:
                await self._audit.record(
                    actor=str(THE_BOT),
                    action="pairing.stuck",
                    target=request.id,
                    outcome=AuditOutcome.UNKNOWN,
                    detail={
                        "machine_id": request.machine_id,
                        "previous_executor": request.executor,
                        "reason": "restart",
                    },
                    tx=transaction,
                )
                await self._alert_stuck(
                    transaction, request, "the service restarted while it was running"
                )
        return stuck

    async def mark_machine_recovered(
        self,
        machine_id: str,
        *,
        by: str,
        resolution: StuckResolution = StuckResolution.RETRY,
        detail: str | None = None,
        tx: Transaction | None = None,
    ) -> PairingRequest | None:
        """Unblock a machine after it was restarted and its gateway is healthy again.

        RETRY puts the stuck request back to `approved` for exactly one more attempt; APPLIED
        (a later `pairing list` shows the code was consumed) marks it succeeded; ABANDONED marks
        it failed. Returns None when the machine had nothing stuck: a second recovery without a
        new stuck request grants nothing.
        """
        now = to_db_time(self._clock())
        target, outcome = {
            StuckResolution.RETRY: (PairingState.APPROVED, AuditOutcome.OK),
            StuckResolution.APPLIED: (PairingState.SUCCEEDED, AuditOutcome.OK),
            StuckResolution.ABANDONED: (PairingState.FAILED, AuditOutcome.FAILED),
        }[resolution]
        is_retry = resolution is StuckResolution.RETRY
        async with self._db.transaction(tx) as transaction:
            row = await transaction.fetch_one(
                """
                UPDATE pairing_requests
                SET state = ?, recoveries = recoveries + ?, recovered_by = ?,
                    detail = COALESCE(?, detail), finished_at = ?, updated_at = ?
                WHERE machine_id = ? AND state = 'stuck'
                RETURNING *
                """,
                (
                    target.value,
                    1 if is_retry else 0,
                    by,
                    _safe_detail(detail),
                    None if is_retry else now,
                    now,
                    machine_id,
                ),
            )
            if row is None:
                return None
            recovered = _request(row)
            await self._audit.record(
                actor=by,
                action="pairing.recover",
                target=recovered.id,
                outcome=outcome,
                detail={"machine_id": machine_id, "resolution": resolution.value},
                tx=transaction,
            )
        return recovered

    async def expire_older_than(self, cutoff: datetime) -> list[PairingRequest]:
        """Requests still awaiting execution that were submitted before `cutoff` expire."""
        now = to_db_time(self._clock())
        async with self._db.transaction() as transaction:
            rows = await transaction.fetch_all(
                f"""
                UPDATE pairing_requests
                SET state = 'expired', finished_at = ?, updated_at = ?
                WHERE created_at < ? AND state IN ({_placeholders(_PENDING_STATES)})
                RETURNING *
                """,  # noqa: S608 - placeholders only
                (now, now, to_db_time(cutoff), *_PENDING_STATES),
            )
        return sorted((_request(row) for row in rows), key=_by_id)

    async def expire_stale(
        self, max_age: timedelta = OPENCLAW_CODE_LIFETIME
    ) -> list[PairingRequest]:
        """Expire what OpenClaw has already forgotten (its codes live one hour)."""
        return await self.expire_older_than(self._clock() - max_age)

    # --- helpers --------------------------------------------------------------------------------

    async def _alert_stuck(
        self, transaction: Transaction, request: PairingRequest, why: str
    ) -> None:
        await self._outbox.enqueue(
            AlertKind.PAIRING_STUCK,
            (
                f"Pairing request {request.id} (agent {request.agent_id}) on machine "
                f"{request.machine_id} is stuck: {why}. Its outcome is unknown and it will not "
                "be run again by itself. Restart the machine; once its gateway is healthy the code "
                "is looked up before a single retry is allowed."
            ),
            severity=AlertSeverity.CRITICAL,
            dedupe_key=f"pairing_stuck:{request.id}:{request.attempts}",
            payload={
                "request_id": request.id,
                "agent_id": request.agent_id,
                "machine_id": request.machine_id,
                "executor": request.executor,
                "attempts": request.attempts,
            },
            tx=transaction,
        )

    async def _require(self, transaction: Transaction, request_id: str) -> PairingRequest:
        row = await transaction.fetch_one(
            "SELECT * FROM pairing_requests WHERE id = ?", (request_id,)
        )
        if row is None:
            raise NotFoundError(f"no pairing request {request_id}")
        return _request(row)


def _safe_detail(detail: str | None) -> str | None:
    return None if detail is None else redact_text(detail)[:_MAX_DETAIL_CHARS]


def _by_id(request: PairingRequest) -> str:
    return request.id


def _request(row: Row) -> PairingRequest:
    return PairingRequest(
        id=row["id"],
        machine_id=row["machine_id"],
        agent_id=row["agent_id"],
        code=row["code"],
        state=PairingState(row["state"]),
        source=PairingSource(row["source"]),
        submitted_by=row["submitted_by"],
        decided_by=row["decided_by"],
        decided_at=from_db_time_or_none(row["decided_at"]),
        executor=row["executor"],
        claimed_at=from_db_time_or_none(row["claimed_at"]),
        attempts=row["attempts"],
        recoveries=row["recoveries"],
        recovered_by=row["recovered_by"],
        finished_at=from_db_time_or_none(row["finished_at"]),
        detail=row["detail"],
        superseded_by=row["superseded_by"],
        created_at=from_db_time(row["created_at"]),
        updated_at=from_db_time(row["updated_at"]),
    )
