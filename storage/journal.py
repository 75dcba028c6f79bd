"""The operations journal: multi-step Fly operations recorded step by step, for crash recovery.

A provision, recreate or deprovision is begun under an idempotency key (beginning it again
returns the same operation), and each step is recorded as started before it runs and as done,
with its result (a volume id, a machine id), after. After a crash, `unfinished()` lists what was
in flight and `steps()` says which steps completed and which one may or may not have happened,
so the service resumes or reconciles instead of starting over and duplicating Fly resources.

Params and results are plain records: secret-named fields are refused (`UnsafeRecordError`).
This module never calls Fly and never decides how to resume: the service does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from pydantic import JsonValue

from storage.clock import Clock, from_db_time, from_db_time_or_none, to_db_time
from storage.db import Database, Row, Transaction
from storage.errors import IdempotencyConflictError, NotFoundError, StateTransitionError
from storage.ids import new_id
from storage.models import (
    BeginResult,
    Operation,
    OperationKind,
    OperationStatus,
    OperationStep,
    StepStatus,
)
from storage.redaction import ensure_no_secret_fields, redact_text

_MAX_ERROR_CHARS = 4000


def _plain_json(value: object, what: str) -> str:
    ensure_no_secret_fields(value, what)
    return json.dumps(value, sort_keys=True)


class OperationsJournal:
    """Repository for `operations` and `operation_steps`."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock

    async def begin(
        self,
        kind: OperationKind,
        idempotency_key: str,
        *,
        params: Mapping[str, JsonValue] | None = None,
        agent_id: str | None = None,
        tx: Transaction | None = None,
    ) -> BeginResult:
        """Start an operation, or return the one already begun under `idempotency_key`."""
        params_json = _plain_json(dict(params or {}), f"{kind.value} operation params")
        now = to_db_time(self._clock())
        async with self._db.transaction(tx) as transaction:
            existing = await transaction.fetch_one(
                "SELECT * FROM operations WHERE idempotency_key = ?", (idempotency_key,)
            )
            if existing is not None:
                operation = _operation(existing)
                if operation.kind is not kind:
                    raise IdempotencyConflictError(
                        f"idempotency key {idempotency_key!r} belongs to a "
                        f"{operation.kind.value} operation ({operation.id}), not {kind.value}"
                    )
                return BeginResult(operation=operation, created=False)
            row = await transaction.fetch_one(
                """
                INSERT INTO operations (
                    id, kind, idempotency_key, agent_id, params, status, created_at, updated_at
                ) VALUES (?, ?, ?, ?, ?, 'running', ?, ?)
                RETURNING *
                """,
                (new_id("op"), kind.value, idempotency_key, agent_id, params_json, now, now),
            )
        assert row is not None  # INSERT … RETURNING always yields the row
        return BeginResult(operation=_operation(row), created=True)

    async def step_started(
        self, operation_id: str, step: str, *, tx: Transaction | None = None
    ) -> OperationStep:
        """Record that `step` is about to run. Starting it again (after a crash) counts an attempt;
        starting a step already done is refused — its result is in the journal."""
        now = to_db_time(self._clock())
        async with self._db.transaction(tx) as transaction:
            await self._require_running(transaction, operation_id)
            current = await transaction.fetch_one(
                "SELECT * FROM operation_steps WHERE operation_id = ? AND step = ?",
                (operation_id, step),
            )
            if current is not None and current["status"] == StepStatus.DONE.value:
                raise StateTransitionError(
                    f"step {step!r} of {operation_id} is already done", _step(current)
                )
            row = await transaction.fetch_one(
                """
                INSERT INTO operation_steps (operation_id, step, status, started_at)
                VALUES (?, ?, 'started', ?)
                ON CONFLICT (operation_id, step) DO UPDATE SET
                    status = 'started', attempts = attempts + 1, error = NULL,
                    started_at = excluded.started_at, finished_at = NULL
                RETURNING *
                """,
                (operation_id, step, now),
            )
            await transaction.execute(
                "UPDATE operations SET current_step = ?, updated_at = ? WHERE id = ?",
                (step, now, operation_id),
            )
        assert row is not None  # upsert … RETURNING always yields the row
        return _step(row)

    async def step_done(
        self,
        operation_id: str,
        step: str,
        result: JsonValue = None,
        *,
        tx: Transaction | None = None,
    ) -> OperationStep:
        """Record that a started step completed, with what it produced."""
        result_json = _plain_json(result, f"result of step {step!r}")
        return await self._end_step(operation_id, step, StepStatus.DONE, result_json, None, tx)

    async def step_failed(
        self, operation_id: str, step: str, error: str, *, tx: Transaction | None = None
    ) -> OperationStep:
        safe_error = redact_text(error)[:_MAX_ERROR_CHARS]
        return await self._end_step(operation_id, step, StepStatus.FAILED, None, safe_error, tx)

    async def _end_step(
        self,
        operation_id: str,
        step: str,
        status: StepStatus,
        result_json: str | None,
        error: str | None,
        tx: Transaction | None,
    ) -> OperationStep:
        now = to_db_time(self._clock())
        async with self._db.transaction(tx) as transaction:
            await self._require_running(transaction, operation_id)
            row = await transaction.fetch_one(
                """
                UPDATE operation_steps SET status = ?, result = ?, error = ?, finished_at = ?
                WHERE operation_id = ? AND step = ? AND status = 'started'
                RETURNING *
                """,
                (status.value, result_json, error, now, operation_id, step),
            )
            if row is None:
                current = await transaction.fetch_one(
                    "SELECT * FROM operation_steps WHERE operation_id = ? AND step = ?",
                    (operation_id, step),
                )
                raise StateTransitionError(
                    f"step {step!r} of {operation_id} was not started"
                    if current is None
                    else f"step {step!r} of {operation_id} is {current['status']}, not started",
                    None if current is None else _step(current),
                )
            await transaction.execute(
                "UPDATE operations SET updated_at = ? WHERE id = ?", (now, operation_id)
            )
        return _step(row)

    async def finish(
        self,
        operation_id: str,
        outcome: OperationStatus,
        *,
        result: JsonValue = None,
        error: str | None = None,
        tx: Transaction | None = None,
    ) -> Operation:
        """Close the operation for good (succeeded, failed or abandoned)."""
        if outcome is OperationStatus.RUNNING:
            raise ValueError("finish needs a final outcome")
        result_json = _plain_json(result, f"result of {operation_id}")
        safe_error = None if error is None else redact_text(error)[:_MAX_ERROR_CHARS]
        now = to_db_time(self._clock())
        async with self._db.transaction(tx) as transaction:
            await self._require_running(transaction, operation_id)
            row = await transaction.fetch_one(
                """
                UPDATE operations
                SET status = ?, result = ?, error = ?, finished_at = ?, updated_at = ?
                WHERE id = ? AND status = 'running'
                RETURNING *
                """,
                (outcome.value, result_json, safe_error, now, now, operation_id),
            )
        assert row is not None  # _require_running held inside this same transaction
        return _operation(row)

    async def get(self, operation_id: str) -> Operation:
        row = await self._db.fetch_one("SELECT * FROM operations WHERE id = ?", (operation_id,))
        if row is None:
            raise NotFoundError(f"no operation {operation_id}")
        return _operation(row)

    async def get_by_key(self, idempotency_key: str) -> Operation | None:
        row = await self._db.fetch_one(
            "SELECT * FROM operations WHERE idempotency_key = ?", (idempotency_key,)
        )
        return None if row is None else _operation(row)

    async def steps(self, operation_id: str) -> list[OperationStep]:
        """Every recorded step, in the order they were first started."""
        rows = await self._db.fetch_all(
            "SELECT * FROM operation_steps WHERE operation_id = ? ORDER BY rowid", (operation_id,)
        )
        return [_step(row) for row in rows]

    async def completed_results(self, operation_id: str) -> dict[str, JsonValue]:
        """Results of the steps that are done, by step name: what a resume can reuse."""
        return {
            step.step: step.result
            for step in await self.steps(operation_id)
            if step.status is StepStatus.DONE
        }

    async def unfinished(self, *, kind: OperationKind | None = None) -> list[Operation]:
        """Operations still running — after a restart, the ones to resume or reconcile."""
        rows = await self._db.fetch_all(
            "SELECT * FROM operations WHERE status = 'running' AND (? IS NULL OR kind = ?) "
            "ORDER BY created_at, id",
            (None if kind is None else kind.value, None if kind is None else kind.value),
        )
        return [_operation(row) for row in rows]

    async def _require_running(self, transaction: Transaction, operation_id: str) -> None:
        row = await transaction.fetch_one("SELECT * FROM operations WHERE id = ?", (operation_id,))
        if row is None:
            raise NotFoundError(f"no operation {operation_id}")
        if row["status"] != OperationStatus.RUNNING.value:
            raise StateTransitionError(
                f"operation {operation_id} is already {row['status']}", _operation(row)
            )


def _operation(row: Row) -> Operation:
    return Operation(
        id=row["id"],
        kind=OperationKind(row["kind"]),
        idempotency_key=row["idempotency_key"],
        agent_id=row["agent_id"],
        params=json.loads(row["params"]),
        status=OperationStatus(row["status"]),
        current_step=row["current_step"],
        result=None if row["result"] is None else json.loads(row["result"]),
        error=row["error"],
        created_at=from_db_time(row["created_at"]),
        updated_at=from_db_time(row["updated_at"]),
        finished_at=from_db_time_or_none(row["finished_at"]),
    )


def _step(row: Row) -> OperationStep:
    return OperationStep(
        operation_id=row["operation_id"],
        step=row["step"],
        status=StepStatus(row["status"]),
        attempts=row["attempts"],
        result=None if row["result"] is None else json.loads(row["result"]),
        error=row["error"],
        started_at=from_db_time(row["started_at"]),
        finished_at=from_db_time_or_none(row["finished_at"]),
    )
