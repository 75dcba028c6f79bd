"""Operations journal: each step recorded before and after it runs, so a crash resumes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.errors import (
    IdempotencyConflictError,
    StateTransitionError,
    UnsafeRecordError,
)
from storage.models import OperationKind, OperationStatus, StepStatus
from storage.store import Store


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "journal.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(db_path)
    yield opened
    await opened.close()


async def test_beginning_twice_with_one_idempotency_key_returns_the_same_operation(
    store: Store,
) -> None:
    first = await store.journal.begin(
        OperationKind.PROVISION, "provision:acme:u1", params={"region": "iad"}
    )
    again = await store.journal.begin(
        OperationKind.PROVISION, "provision:acme:u1", params={"region": "iad"}
    )
    assert first.created and not again.created
    assert again.operation.id == first.operation.id
    assert again.operation.params == {"region": "iad"}
    with pytest.raises(IdempotencyConflictError, match="provision"):
        await store.journal.begin(OperationKind.DEPROVISION, "provision:acme:u1")


async def test_after_a_crash_the_journal_says_what_finished_and_what_may_have_happened(
    db_path: Path, store: Store
) -> None:
    begun = await store.journal.begin(OperationKind.PROVISION, "provision:acme:u1")
    op_id = begun.operation.id
    await store.journal.step_started(op_id, "create_volume")
    await store.journal.step_done(op_id, "create_volume", {"volume_id": "vol_123"})
    await store.journal.step_started(op_id, "create_machine")
    await store.close()  # the process dies here, before create_machine is known to have run

    restarted = await Store.open(db_path)
    try:
        [unfinished] = await restarted.journal.unfinished()
        assert unfinished.id == op_id
        assert unfinished.current_step == "create_machine"
        steps = await restarted.journal.steps(op_id)
        assert [(step.step, step.status) for step in steps] == [
            ("create_volume", StepStatus.DONE),
            ("create_machine", StepStatus.STARTED),
        ]
        assert await restarted.journal.completed_results(op_id) == {
            "create_volume": {"volume_id": "vol_123"}
        }
        # Resuming: the same key yields the same operation, the done step is not redone...
        resumed = await restarted.journal.begin(OperationKind.PROVISION, "provision:acme:u1")
        assert not resumed.created
        with pytest.raises(StateTransitionError, match="already done"):
            await restarted.journal.step_started(op_id, "create_volume")
        # ...and the uncertain step is retried, counting the attempt.
        retried = await restarted.journal.step_started(op_id, "create_machine")
        assert retried.attempts == 2
        await restarted.journal.step_done(op_id, "create_machine", {"machine_id": "m_1"})
        finished = await restarted.journal.finish(
            op_id, OperationStatus.SUCCEEDED, result={"machine_id": "m_1"}
        )
        assert finished.status is OperationStatus.SUCCEEDED
        assert finished.finished_at is not None
        assert await restarted.journal.unfinished() == []
    finally:
        await restarted.close()


async def test_a_finished_operation_accepts_no_more_steps_or_outcomes(store: Store) -> None:
    op_id = (await store.journal.begin(OperationKind.DEPROVISION, "deprovision:1")).operation.id
    await store.journal.finish(op_id, OperationStatus.FAILED, error="machine refused to stop")
    with pytest.raises(StateTransitionError, match="already failed"):
        await store.journal.step_started(op_id, "destroy_volume")
    with pytest.raises(StateTransitionError):
        await store.journal.finish(op_id, OperationStatus.SUCCEEDED)
    # The database refuses it too, whatever code path tries.
    with pytest.raises(Exception, match="finished operations are final"):
        async with store.transaction() as tx:
            await tx.execute("UPDATE operations SET status = 'running' WHERE id = ?", (op_id,))


async def test_a_step_must_be_started_before_it_is_done(store: Store) -> None:
    op_id = (await store.journal.begin(OperationKind.RECREATE, "recreate:1")).operation.id
    with pytest.raises(StateTransitionError, match="not started"):
        await store.journal.step_done(op_id, "create_machine", {"machine_id": "m"})
    await store.journal.step_started(op_id, "create_machine")
    failed = await store.journal.step_failed(op_id, "create_machine", "429 Too Many Requests")
    assert failed.status is StepStatus.FAILED
    assert failed.error == "429 Too Many Requests"


async def test_params_and_results_with_secret_named_fields_are_refused(store: Store) -> None:
    with pytest.raises(UnsafeRecordError, match="fly_api_token"):
        await store.journal.begin(
            OperationKind.PROVISION, "p:1", params={"fly_api_token": "FlyV1 abc"}
        )
    op_id = (await store.journal.begin(OperationKind.PROVISION, "p:2")).operation.id
    await store.journal.step_started(op_id, "create_machine")
    with pytest.raises(UnsafeRecordError, match=r"env\.OPENCLAW_GATEWAY_TOKEN"):
        await store.journal.step_done(
            op_id, "create_machine", {"env": {"OPENCLAW_GATEWAY_TOKEN": "x"}}
        )


async def test_step_errors_are_scrubbed_of_credentials(store: Store) -> None:
    op_id = (await store.journal.begin(OperationKind.PROVISION, "p:3")).operation.id
    await store.journal.step_started(op_id, "create_machine")
    failed = await store.journal.step_failed(
        op_id, "create_machine", "401 for Authorization: Bearer fm2_abcdefghijklmnopqrstuvwx"
    )
    assert failed.error is not None
    assert "fm2_abcdefghijklmnopqrstuvwx" not in failed.error
