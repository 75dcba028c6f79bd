"""Alert outbox: written with the change that caused it, deduplicated, never lost undelivered."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.errors import StateTransitionError, UnsafeRecordError
from storage.models import AgentStatus, AlertSeverity, AlertStatus
from storage.store import Store


class ManualClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def store(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "outbox.db", clock=clock)
    yield opened
    await opened.close()


async def test_an_alert_commits_or_rolls_back_with_the_state_change_that_caused_it(
    store: Store,
) -> None:
    agent = await store.agents.create(tenant_id="acme", user_id="u1", actor="admin:1")

    async def fail_agent_then_crash() -> None:
        async with store.transaction() as tx:
            await store.agents.set_status(agent.id, AgentStatus.ERROR, actor="monitor", tx=tx)
            await store.outbox.enqueue("agent_error", f"{agent.id} failed", tx=tx)
            raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError):
        await fail_agent_then_crash()
    assert (await store.agents.get(agent.id)).status is AgentStatus.PROVISIONING
    assert await store.outbox.pending_count() == 0

    async with store.transaction() as tx:
        await store.agents.set_status(agent.id, AgentStatus.ERROR, actor="monitor", tx=tx)
        await store.outbox.enqueue("agent_error", f"{agent.id} failed", tx=tx)
    assert (await store.agents.get(agent.id)).status is AgentStatus.ERROR
    assert await store.outbox.pending_count() == 1


async def test_listeners_are_told_of_each_alert_once_it_is_committed(store: Store) -> None:
    """The alert worker registers here instead of every caller waking it: told after the
    commit (so its claim sees the alert), after the outer one inside a caller's transaction,
    never for a rollback, and no more once unregistered."""
    told: list[int] = []

    def listener() -> None:
        told.append(0)

    unregister = store.outbox.on_enqueued(listener)
    await store.outbox.enqueue("alone", "one alert")
    assert len(told) == 1

    async with store.transaction() as tx:
        await store.outbox.enqueue("sweep", "first", tx=tx)
        await store.outbox.enqueue("sweep", "second", tx=tx)
        assert len(told) == 1, "told before the transaction committed"
        assert await store.outbox.pending_count() == 3
    assert len(told) == 3

    async def enqueue_then_crash() -> None:
        async with store.transaction() as tx:
            await store.outbox.enqueue("lost", "rolled back", tx=tx)
            raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError):
        await enqueue_then_crash()
    assert len(told) == 3

    unregister()
    await store.outbox.enqueue("unheard", "nobody listens")
    assert len(told) == 3


async def test_the_same_dedupe_key_while_pending_is_one_alert_with_a_count(
    store: Store, clock: ManualClock
) -> None:
    first = await store.outbox.enqueue("machine_down", "m1 down", dedupe_key="down:m1")
    clock.now += timedelta(minutes=5)
    second = await store.outbox.enqueue(
        "machine_down", "m1 still down", dedupe_key="down:m1", severity=AlertSeverity.CRITICAL
    )
    assert first.created and not second.created
    assert second.alert.id == first.alert.id
    assert second.alert.occurrences == 2
    assert second.alert.text == "m1 still down"
    assert second.alert.last_seen_at == clock.now
    assert await store.outbox.pending_count() == 1

    await store.outbox.mark_sent(first.alert.id)
    third = await store.outbox.enqueue("machine_down", "m1 down again", dedupe_key="down:m1")
    assert third.created and third.alert.id != first.alert.id


async def test_delivery_marks_sent_or_schedules_a_retry_or_gives_up(
    store: Store, clock: ManualClock
) -> None:
    alert = (await store.outbox.enqueue("x", "text")).alert
    assert [item.id for item in await store.outbox.due()] == [alert.id]

    retry_at = clock.now + timedelta(seconds=30)
    retried = await store.outbox.mark_failed_attempt(alert.id, "429", retry_at=retry_at)
    assert retried.status is AlertStatus.PENDING and retried.attempts == 1
    assert await store.outbox.due() == []
    clock.now = retry_at
    assert [item.id for item in await store.outbox.due()] == [alert.id]

    sent = await store.outbox.mark_sent(alert.id)
    assert sent.status is AlertStatus.SENT and sent.sent_at == clock.now
    with pytest.raises(StateTransitionError, match="sent"):
        await store.outbox.mark_sent(alert.id)

    other = (await store.outbox.enqueue("y", "text")).alert
    given_up = await store.outbox.mark_failed_attempt(other.id, "chat not found", retry_at=None)
    assert given_up.status is AlertStatus.FAILED
    assert await store.outbox.due() == []
    requeued = await store.outbox.requeue_failed(other.id)
    assert requeued.status is AlertStatus.PENDING


async def test_two_deliverers_claiming_at_once_never_get_the_same_alert(store: Store) -> None:
    for n in range(10):
        await store.outbox.enqueue("x", f"alert {n}")
    batches = await asyncio.gather(
        *(store.outbox.claim_due(lease=timedelta(minutes=1), limit=3) for _ in range(5))
    )
    claimed = [alert.id for batch in batches for alert in batch]
    assert len(claimed) == len(set(claimed)) == 10


async def test_undelivered_alerts_are_never_deleted_and_sent_ones_can_be_purged(
    store: Store, clock: ManualClock
) -> None:
    pending = (await store.outbox.enqueue("x", "pending")).alert
    failed = (await store.outbox.enqueue("x", "failed")).alert
    await store.outbox.mark_failed_attempt(failed.id, "boom", retry_at=None)
    sent = (await store.outbox.enqueue("x", "sent")).alert
    await store.outbox.mark_sent(sent.id)

    for alert_id in (pending.id, failed.id):
        with pytest.raises(sqlite3.IntegrityError, match="never deleted"):
            async with store.transaction() as tx:
                await tx.execute("DELETE FROM alert_outbox WHERE id = ?", (alert_id,))

    clock.now += timedelta(days=1)
    assert await store.outbox.purge_sent(sent_before=clock.now) == 1
    remaining = {alert.id for alert in await store.outbox.recent()}
    assert remaining == {pending.id, failed.id}


async def test_alert_payloads_refuse_secret_fields_and_texts_are_scrubbed(store: Store) -> None:
    with pytest.raises(UnsafeRecordError):
        await store.outbox.enqueue("x", "text", payload={"llm_api_key": "sk-1"})
    alert = (
        await store.outbox.enqueue(
            "x", "bot token 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw leaked"
        )
    ).alert
    assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in alert.text
