"""The alert outbox: alerts written in the same transaction as the change that caused them.

Delivery (to the ops chat) happens later and elsewhere; it claims due alerts, then marks each
sent or records a failed attempt with the next retry time. Nothing undelivered is ever deleted
(a trigger refuses it); only sent alerts may be purged. The same dedupe key while an alert is
still pending adds an occurrence to it instead of queueing a duplicate. Alert text and payload
are plain records: secret-named payload fields are refused and credential-shaped text scrubbed.
Whoever delivers registers with `on_enqueued` and is told of every alert queued in this process
once it is committed (inside a caller's transaction: after that transaction's commit), so no
caller has to remember to wake it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from storage.clock import Clock, from_db_time, from_db_time_or_none, to_db_time
from storage.db import Database, Row, Transaction
from storage.errors import NotFoundError, StateTransitionError
from storage.models import Alert, AlertKind, AlertSeverity, AlertStatus, EnqueueResult
from storage.redaction import ensure_no_secret_fields, redact_json, redact_text

_MAX_ERROR_CHARS = 2000


class AlertOutbox:
    """Repository for `alert_outbox`."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock
        self._listeners: list[Callable[[], None]] = []

    def on_enqueued(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` after each committed enqueue in this process (it must not block);
        returns the function that unregisters it."""
        self._listeners.append(listener)

        def unregister() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unregister

    def _tell_listeners(self) -> None:
        for listener in tuple(self._listeners):
            listener()

    async def enqueue(
        self,
        kind: AlertKind | str,
        text: str,
        *,
        severity: AlertSeverity = AlertSeverity.WARNING,
        dedupe_key: str | None = None,
        payload: Mapping[str, object] | None = None,
        tx: Transaction | None = None,
    ) -> EnqueueResult:
        """Queue an alert, or count one more occurrence of the pending one with `dedupe_key`.

        The bot's own producers pass an `AlertKind` (the fleet's `alert` takes nothing else);
        the outbox itself stores any kind, as it delivers any kind it reads back — an alert a
        newer version of the bot queued included."""
        payload_value: object = dict(payload or {})
        ensure_no_secret_fields(payload_value, f"alert payload for {kind}")
        payload_json = json.dumps(redact_json(payload_value), sort_keys=True, default=str)
        safe_text = redact_text(text)
        now = to_db_time(self._clock())
        async with self._db.transaction(tx) as transaction:
            transaction.after_commit(self._tell_listeners)
            if dedupe_key is not None:
                row = await transaction.fetch_one(
                    """
                    UPDATE alert_outbox
                    SET occurrences = occurrences + 1, last_seen_at = ?, text = ?, payload = ?,
                        severity = ?
                    WHERE dedupe_key = ? AND status = 'pending'
                    RETURNING *
                    """,
                    (now, safe_text, payload_json, severity.value, dedupe_key),
                )
                if row is not None:
                    return EnqueueResult(alert=_alert(row), created=False)
            row = await transaction.fetch_one(
                """
                INSERT INTO alert_outbox (
                    kind, severity, text, payload, dedupe_key, status,
                    next_attempt_at, created_at, last_seen_at
                ) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)
                RETURNING *
                """,
                (kind, severity.value, safe_text, payload_json, dedupe_key, now, now, now),
            )
        assert row is not None  # INSERT … RETURNING always yields the row
        return EnqueueResult(alert=_alert(row), created=True)

    async def get(self, alert_id: int) -> Alert:
        row = await self._db.fetch_one("SELECT * FROM alert_outbox WHERE id = ?", (alert_id,))
        if row is None:
            raise NotFoundError(f"no alert {alert_id}")
        return _alert(row)

    async def due(self, now: datetime | None = None, limit: int = 20) -> list[Alert]:
        """Pending alerts whose next attempt time has come, oldest first."""
        moment = to_db_time(now or self._clock())
        rows = await self._db.fetch_all(
            """
            SELECT * FROM alert_outbox
            WHERE status = 'pending' AND next_attempt_at <= ?
            ORDER BY next_attempt_at, id LIMIT ?
            """,
            (moment, limit),
        )
        return [_alert(row) for row in rows]

    async def claim_due(self, *, lease: timedelta, limit: int = 20) -> list[Alert]:
        """Like `due`, but pushes each returned alert's next attempt `lease` into the future.

        Two deliverers calling this at once never get the same alert; if a deliverer dies
        mid-send, the alert becomes due again when the lease runs out.
        """
        async with self._db.transaction() as transaction:
            # Read the clock once the write lock is held: alerts committed while this call
            # waited for it are due too, and belong in this claim rather than the next.
            now = self._clock()
            rows = await transaction.fetch_all(
                """
                UPDATE alert_outbox SET next_attempt_at = ?
                WHERE id IN (
                    SELECT id FROM alert_outbox
                    WHERE status = 'pending' AND next_attempt_at <= ?
                    ORDER BY next_attempt_at, id LIMIT ?
                )
                RETURNING *
                """,
                (to_db_time(now + lease), to_db_time(now), limit),
            )
        return sorted((_alert(row) for row in rows), key=lambda alert: alert.id)

    async def mark_sent(self, alert_id: int, *, tx: Transaction | None = None) -> Alert:
        async with self._db.transaction(tx) as transaction:
            row = await transaction.fetch_one(
                """
                UPDATE alert_outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1
                WHERE id = ? AND status = 'pending'
                RETURNING *
                """,
                (to_db_time(self._clock()), alert_id),
            )
            if row is None:
                raise await self._not_pending(transaction, alert_id)
        return _alert(row)

    async def mark_failed_attempt(
        self,
        alert_id: int,
        error: str,
        *,
        retry_at: datetime | None,
        tx: Transaction | None = None,
    ) -> Alert:
        """Record a failed delivery; retry at `retry_at`, or give up (status failed) when None."""
        safe_error = redact_text(error)[:_MAX_ERROR_CHARS]
        async with self._db.transaction(tx) as transaction:
            if retry_at is None:
                row = await transaction.fetch_one(
                    """
                    UPDATE alert_outbox
                    SET status = 'failed', attempts = attempts + 1, last_error = ?
                    WHERE id = ? AND status = 'pending'
                    RETURNING *
                    """,
                    (safe_error, alert_id),
                )
            else:
                row = await transaction.fetch_one(
                    """
                    UPDATE alert_outbox
                    SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?
                    WHERE id = ? AND status = 'pending'
                    RETURNING *
                    """,
                    (safe_error, to_db_time(retry_at), alert_id),
                )
            if row is None:
                raise await self._not_pending(transaction, alert_id)
        return _alert(row)

    async def requeue_failed(self, alert_id: int) -> Alert:
        """Give an alert that was given up on another chance, due now."""
        async with self._db.transaction() as transaction:
            row = await transaction.fetch_one(
                """
                UPDATE alert_outbox SET status = 'pending', next_attempt_at = ?
                WHERE id = ? AND status = 'failed'
                RETURNING *
                """,
                (to_db_time(self._clock()), alert_id),
            )
            if row is None:
                raise await self._not_pending(transaction, alert_id, expected="failed")
        return _alert(row)

    async def pending_count(self) -> int:
        row = await self._db.fetch_one("SELECT COUNT(*) FROM alert_outbox WHERE status = 'pending'")
        return int(row[0]) if row is not None else 0

    async def recent(
        self, *, status: AlertStatus | None = None, kind: str | None = None, limit: int = 100
    ) -> list[Alert]:
        """Newest first."""
        rows = await self._db.fetch_all(
            """
            SELECT * FROM alert_outbox
            WHERE (? IS NULL OR status = ?) AND (? IS NULL OR kind = ?)
            ORDER BY id DESC LIMIT ?
            """,
            (
                None if status is None else status.value,
                None if status is None else status.value,
                kind,
                kind,
                limit,
            ),
        )
        return [_alert(row) for row in rows]

    async def purge_sent(self, *, sent_before: datetime) -> int:
        """Delete delivered alerts older than `sent_before`; undelivered ones are kept."""
        async with self._db.transaction() as transaction:
            return await transaction.execute(
                "DELETE FROM alert_outbox WHERE status = 'sent' AND sent_at < ?",
                (to_db_time(sent_before),),
            )

    async def _not_pending(
        self, transaction: Transaction, alert_id: int, expected: str = "pending"
    ) -> Exception:
        row = await transaction.fetch_one("SELECT * FROM alert_outbox WHERE id = ?", (alert_id,))
        if row is None:
            return NotFoundError(f"no alert {alert_id}")
        current = _alert(row)
        return StateTransitionError(
            f"alert {alert_id} is {current.status.value}, not {expected}", current
        )


def _alert(row: Row) -> Alert:
    return Alert(
        id=row["id"],
        kind=row["kind"],
        severity=AlertSeverity(row["severity"]),
        text=row["text"],
        payload=json.loads(row["payload"]),
        dedupe_key=row["dedupe_key"],
        status=AlertStatus(row["status"]),
        attempts=row["attempts"],
        occurrences=row["occurrences"],
        next_attempt_at=from_db_time(row["next_attempt_at"]),
        last_error=row["last_error"],
        created_at=from_db_time(row["created_at"]),
        last_seen_at=from_db_time(row["last_seen_at"]),
        sent_at=from_db_time_or_none(row["sent_at"]),
    )
