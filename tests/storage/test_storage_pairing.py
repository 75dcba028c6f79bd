"""Pairing ledger: exactly-once execution, one run per machine, stuck handling, restart recovery.

Tests import the package's modules (`storage.store`, …) rather than `storage` itself: with
`tests/` on `sys.path`, this directory would otherwise shadow the package. Every test runs
against a real SQLite file. Where a guarantee must hold across processes, a second
`Store` on the same file stands in for the second process (its own connections, its own lock).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.errors import InvalidPairingCodeError, StateTransitionError
from storage.ids import new_executor_id
from storage.models import (
    AgentChanges,
    AlertSeverity,
    ClaimOutcome,
    PairingRequest,
    PairingSource,
    PairingState,
    StuckResolution,
)
from storage.store import Store


class ManualClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "flyagents.db"


@pytest.fixture
async def store(db_path: Path, clock: ManualClock) -> AsyncIterator[Store]:
    opened = await Store.open(db_path, clock=clock)
    yield opened
    await opened.close()


async def agent_on(store: Store, machine_id: str, user: str = "u1") -> str:
    agent = await store.agents.create(tenant_id="acme", user_id=user, actor="admin:1")
    await store.agents.update(agent.id, AgentChanges(machine_id=machine_id), actor="admin:1")
    return agent.id


async def approved_request(
    store: Store, machine_id: str, agent_id: str, code: str = "F864XLAV"
) -> PairingRequest:
    submitted = await store.pairing.submit(
        machine_id=machine_id,
        agent_id=agent_id,
        code=code,
        submitted_by="tg:2002",
        source=PairingSource.USER,
    )
    return await store.pairing.approve(submitted.request.id, admin="admin:1")


async def running_request(store: Store, machine_id: str, executor: str) -> PairingRequest:
    agent_id = await agent_on(store, machine_id, user=f"user-of-{machine_id}")
    request = await approved_request(store, machine_id, agent_id)
    claim = await store.pairing.claim_for_execution(request.id, executor=executor)
    assert claim.won
    return claim.request


async def test_the_latest_request_of_an_agent_is_its_newest_and_none_before_any(
    store: Store, clock: ManualClock
) -> None:
    agent_id = await agent_on(store, "m1")
    assert await store.pairing.latest_for_agent(agent_id) is None
    for code in ("F864XLAV", "A2B3C4D5", "ZZZZ2222"):
        clock.advance(timedelta(seconds=1))
        await store.pairing.submit(
            machine_id="m1",
            agent_id=agent_id,
            code=code,
            submitted_by="tg:2002",
            source=PairingSource.USER,
        )
    history = await store.pairing.for_agent(agent_id)
    latest = await store.pairing.latest_for_agent(agent_id)
    assert latest == history[-1]
    assert latest is not None and latest.code == "ZZZZ2222"


async def test_hundred_concurrent_claims_of_one_approved_request_have_exactly_one_winner(
    store: Store,
) -> None:
    agent_id = await agent_on(store, "m1")
    request = await approved_request(store, "m1", agent_id)

    results = await asyncio.gather(
        *(
            store.pairing.claim_for_execution(request.id, executor=f"executor-{n}")
            for n in range(100)
        )
    )

    winners = [result for result in results if result.won]
    assert len(winners) == 1
    winner = winners[0].request.executor
    losers = [result for result in results if not result.won]
    assert len(losers) == 99
    for loser in losers:
        assert loser.outcome is ClaimOutcome.ALREADY_CLAIMED
        assert loser.blocking_request is not None
        assert loser.blocking_request.executor == winner
        assert winner is not None and winner in loser.explanation
    stored = await store.pairing.get(request.id)
    assert stored.state is PairingState.RUNNING
    assert stored.attempts == 1
    claims = await store.audit.entries(action="pairing.claim", target=request.id)
    assert len(claims) == 1


async def test_claims_from_two_processes_on_one_file_have_exactly_one_winner(
    store: Store, db_path: Path, clock: ManualClock
) -> None:
    agent_id = await agent_on(store, "m1")
    request = await approved_request(store, "m1", agent_id)
    other_process = await Store.open(db_path, clock=clock)
    try:
        results = await asyncio.gather(
            *(
                (store if n % 2 else other_process).pairing.claim_for_execution(
                    request.id, executor=f"executor-{n}"
                )
                for n in range(60)
            )
        )
    finally:
        await other_process.close()

    assert sum(result.won for result in results) == 1


async def test_two_approved_requests_for_one_machine_are_never_both_running(
    store: Store,
) -> None:
    first_agent = await agent_on(store, "m1", user="alice")
    # A second agent cannot share the machine, so the second request comes from the same agent
    # via an admin submission of another code after the first was approved.
    first = await approved_request(store, "m1", first_agent, code="AAAAAAAA")
    claim_first = [
        store.pairing.claim_for_execution(first.id, executor=f"a-{n}") for n in range(50)
    ]
    results_first = await asyncio.gather(*claim_first)
    assert sum(result.won for result in results_first) == 1

    # While the first runs, a second approved request on the machine can never start.
    second_submitted = await store.pairing.submit(
        machine_id="m1",
        agent_id=first_agent,
        code="BBBBBBBB",
        submitted_by="admin:1",
        source=PairingSource.ADMIN,
    )
    second = await store.pairing.approve(second_submitted.request.id, admin="admin:1")
    results_second = await asyncio.gather(
        *(store.pairing.claim_for_execution(second.id, executor=f"b-{n}") for n in range(50))
    )
    assert not any(result.won for result in results_second)
    assert {result.outcome for result in results_second} == {ClaimOutcome.MACHINE_BUSY}
    assert all(
        result.blocking_request is not None and result.blocking_request.id == first.id
        for result in results_second
    )

    running = await store.pairing.for_machine("m1", states=(PairingState.RUNNING,))
    assert [request.id for request in running] == [first.id]


async def test_racing_claims_on_two_requests_of_one_machine_start_only_one(
    store: Store, db_path: Path, clock: ManualClock
) -> None:
    # Two agents' requests on two machines would not compete; to race two requests on ONE
    # machine, the first agent moves off the machine and a second agent takes it over while
    # the first agent's request is still approved for it.
    first_agent = await agent_on(store, "m1", user="alice")
    first = await approved_request(store, "m1", first_agent, code="AAAAAAAA")
    await store.agents.update(first_agent, AgentChanges(machine_id="m-old"), actor="admin:1")
    second_agent = await agent_on(store, "m1", user="bob")
    second = await approved_request(store, "m1", second_agent, code="BBBBBBBB")

    other_process = await Store.open(db_path, clock=clock)
    try:
        results = await asyncio.gather(
            *(
                (store if n % 2 else other_process).pairing.claim_for_execution(
                    (first if n % 3 else second).id, executor=f"executor-{n}"
                )
                for n in range(80)
            )
        )
    finally:
        await other_process.close()

    assert sum(result.won for result in results) == 1
    running = await store.pairing.for_machine("m1", states=(PairingState.RUNNING,))
    assert len(running) == 1


async def test_database_refuses_a_second_running_request_on_a_machine_even_by_raw_sql(
    store: Store,
) -> None:
    first_agent = await agent_on(store, "m1", user="alice")
    first = await approved_request(store, "m1", first_agent, code="AAAAAAAA")
    await store.agents.update(first_agent, AgentChanges(machine_id="m-old"), actor="admin:1")
    second_agent = await agent_on(store, "m1", user="bob")
    second = await approved_request(store, "m1", second_agent, code="BBBBBBBB")
    assert (await store.pairing.claim_for_execution(first.id, executor="ex-1")).won

    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        async with store.transaction() as tx:
            await tx.execute(
                "UPDATE pairing_requests SET state = 'running', executor = 'rogue', "
                "attempts = attempts + 1 WHERE id = ?",
                (second.id,),
            )
    assert (await store.pairing.get(second.id)).state is PairingState.APPROVED


async def test_database_refuses_running_a_request_twice_even_by_raw_sql(store: Store) -> None:
    agent_id = await agent_on(store, "m1")
    request = await approved_request(store, "m1", agent_id)
    assert (await store.pairing.claim_for_execution(request.id, executor="ex-1")).won
    await store.pairing.mark_failed(request.id, executor="ex-1", detail="exit 1")

    attacks = [
        # Back to approved to run it again: not a legal transition.
        "UPDATE pairing_requests SET state = 'approved' WHERE id = ?",
        # Rewind the attempt counter so the budget allows another run.
        "UPDATE pairing_requests SET attempts = 0 WHERE id = ?",
        "DELETE FROM pairing_requests WHERE id = ?",
    ]
    for statement in attacks:
        with pytest.raises(sqlite3.IntegrityError):
            async with store.transaction() as tx:
                await tx.execute(statement, (request.id,))
    stored = await store.pairing.get(request.id)
    assert stored.state is PairingState.FAILED
    assert stored.attempts == 1


async def test_a_running_request_cannot_be_reclaimed_by_raw_sql(store: Store) -> None:
    request = await running_request(store, "m1", executor="ex-1")
    with pytest.raises(sqlite3.IntegrityError, match="cannot be claimed again"):
        async with store.transaction() as tx:
            await tx.execute(
                "UPDATE pairing_requests SET executor = 'rogue' WHERE id = ?", (request.id,)
            )


async def test_claiming_a_request_that_is_not_approved_is_refused_with_its_state(
    store: Store,
) -> None:
    agent_id = await agent_on(store, "m1")
    submitted = await store.pairing.submit(
        machine_id="m1",
        agent_id=agent_id,
        code="F864XLAV",
        submitted_by="tg:2002",
        source=PairingSource.USER,
    )
    result = await store.pairing.claim_for_execution(submitted.request.id, executor="ex-1")
    assert result.outcome is ClaimOutcome.NOT_APPROVED
    assert "submitted" in result.explanation


async def test_a_finished_request_tells_a_late_claimer_who_ran_it(store: Store) -> None:
    request = await running_request(store, "m1", executor="ex-winner")
    await store.pairing.mark_succeeded(request.id, executor="ex-winner")
    late = await store.pairing.claim_for_execution(request.id, executor="ex-late")
    assert late.outcome is ClaimOutcome.NOT_APPROVED
    assert "ex-winner" in late.explanation


async def test_only_the_claiming_executor_can_finish_a_run(store: Store) -> None:
    request = await running_request(store, "m1", executor="ex-1")
    with pytest.raises(StateTransitionError, match="ex-1"):
        await store.pairing.mark_succeeded(request.id, executor="ex-2")
    finished = await store.pairing.mark_succeeded(
        request.id, executor="ex-1", detail="Approved telegram sender 2002."
    )
    assert finished.state is PairingState.SUCCEEDED
    with pytest.raises(StateTransitionError, match="succeeded"):
        await store.pairing.mark_failed(request.id, executor="ex-1")


async def test_restart_turns_running_requests_stuck_and_queues_an_alert(
    store: Store, db_path: Path, clock: ManualClock
) -> None:
    old_process = new_executor_id()
    request = await running_request(store, "m1", executor=old_process)
    await store.close()

    restarted = await Store.open(db_path, clock=clock)
    try:
        this_process = new_executor_id()
        stuck = await restarted.pairing.recover_after_restart(this_process)

        assert [item.id for item in stuck] == [request.id]
        stored = await restarted.pairing.get(request.id)
        assert stored.state is PairingState.STUCK
        assert stored.attempts == 1
        alerts = await restarted.outbox.due()
        assert len(alerts) == 1
        assert alerts[0].kind == "pairing_stuck"
        assert alerts[0].severity is AlertSeverity.CRITICAL
        assert request.id in alerts[0].text and "m1" in alerts[0].text
        assert alerts[0].payload["request_id"] == request.id
        # Never re-run automatically: nothing is approved or running, and claims are refused.
        claim = await restarted.pairing.claim_for_execution(request.id, executor=this_process)
        assert not claim.won
        # Running the recovery again changes nothing and queues nothing more.
        assert await restarted.pairing.recover_after_restart(this_process) == []
        assert await restarted.outbox.pending_count() == 1
    finally:
        await restarted.close()


async def test_restart_recovery_spares_requests_claimed_by_the_current_process(
    store: Store,
) -> None:
    current = new_executor_id()
    request = await running_request(store, "m1", executor=current)
    assert await store.pairing.recover_after_restart(current) == []
    assert (await store.pairing.get(request.id)).state is PairingState.RUNNING


async def test_stuck_alert_and_state_change_commit_together(store: Store) -> None:
    request = await running_request(store, "m1", executor="ex-1")

    class Abort(Exception):
        pass

    async def mark_stuck_then_fail() -> None:
        async with store.transaction() as tx:
            await store.pairing.mark_stuck(request.id, executor="ex-1", detail="timeout", tx=tx)
            assert await store.outbox.pending_count() == 1  # visible inside the transaction
            raise Abort

    with pytest.raises(Abort):
        await mark_stuck_then_fail()

    assert (await store.pairing.get(request.id)).state is PairingState.RUNNING
    assert await store.outbox.pending_count() == 0


async def test_a_stuck_machine_accepts_no_execution_until_recovered(store: Store) -> None:
    first = await running_request(store, "m1", executor="ex-1")
    await store.pairing.mark_stuck(first.id, executor="ex-1", detail="exec timed out after 60 s")
    agent = await store.agents.get_by_machine("m1")
    assert agent is not None
    second = await approved_request(store, "m1", agent.id, code="BBBBBBBB")

    blocked = await store.pairing.claim_for_execution(second.id, executor="ex-2")
    assert blocked.outcome is ClaimOutcome.MACHINE_BLOCKED
    assert blocked.blocking_request is not None and blocked.blocking_request.id == first.id

    with pytest.raises(sqlite3.IntegrityError, match="stuck"):
        async with store.transaction() as tx:
            await tx.execute(
                "UPDATE pairing_requests SET state = 'running', executor = 'rogue', "
                "attempts = attempts + 1 WHERE id = ?",
                (second.id,),
            )


async def test_recovery_grants_exactly_one_new_attempt(store: Store) -> None:
    request = await running_request(store, "m1", executor="ex-1")
    await store.pairing.mark_stuck(request.id, executor="ex-1")

    recovered = await store.pairing.mark_machine_recovered("m1", by="admin:1")
    assert recovered is not None
    assert recovered.state is PairingState.APPROVED
    assert recovered.recoveries == 1

    results = await asyncio.gather(
        *(store.pairing.claim_for_execution(request.id, executor=f"ex-{n}") for n in range(20))
    )
    assert sum(result.won for result in results) == 1
    retried = await store.pairing.get(request.id)
    assert retried.attempts == 2

    # A second recovery with nothing stuck grants nothing.
    assert await store.pairing.mark_machine_recovered("m1", by="admin:1") is None
    executor = retried.executor
    assert executor is not None
    await store.pairing.mark_failed(request.id, executor=executor)
    again = await store.pairing.claim_for_execution(request.id, executor="ex-extra")
    assert not again.won


async def test_the_database_caps_attempts_at_one_per_recovery(store: Store) -> None:
    request = await running_request(store, "m1", executor="ex-1")
    await store.pairing.mark_stuck(request.id, executor="ex-1")
    # Bypassing the ledger to re-approve without counting a recovery is refused.
    with pytest.raises(sqlite3.IntegrityError, match="recoveries"):
        async with store.transaction() as tx:
            await tx.execute(
                "UPDATE pairing_requests SET state = 'approved' WHERE id = ?", (request.id,)
            )
    with pytest.raises(sqlite3.IntegrityError):
        async with store.transaction() as tx:
            await tx.execute(
                "UPDATE pairing_requests SET recoveries = recoveries + 5 WHERE id = ?",
                (request.id,),
            )


@pytest.mark.parametrize(
    ("resolution", "final_state"),
    [
        (StuckResolution.APPLIED, PairingState.SUCCEEDED),
        (StuckResolution.ABANDONED, PairingState.FAILED),
    ],
)
async def test_a_stuck_request_can_be_resolved_without_running_it_again(
    store: Store, resolution: StuckResolution, final_state: PairingState
) -> None:
    request = await running_request(store, "m1", executor="ex-1")
    await store.pairing.mark_stuck(request.id, executor="ex-1")
    resolved = await store.pairing.mark_machine_recovered(
        "m1", by="admin:1", resolution=resolution, detail="pairing list no longer shows the code"
    )
    assert resolved is not None
    assert resolved.state is final_state
    assert resolved.attempts == 1
    assert (await store.pairing.blocked_machines()) == []


async def test_the_same_code_submitted_twice_for_one_machine_is_one_request(
    store: Store,
) -> None:
    agent_id = await agent_on(store, "m1")
    results = await asyncio.gather(
        *(
            store.pairing.submit(
                machine_id="m1",
                agent_id=agent_id,
                code=spelling,
                submitted_by="tg:2002",
                source=PairingSource.USER,
            )
            for spelling in ["F864XLAV", " f864xlav", "F864xlav\n"] * 10
        )
    )
    assert sum(result.created for result in results) == 1
    assert len({result.request.id for result in results}) == 1
    assert len(await store.pairing.for_machine("m1")) == 1


async def test_a_succeeded_code_resubmitted_is_still_the_same_request(store: Store) -> None:
    request = await running_request(store, "m1", executor="ex-1")
    await store.pairing.mark_succeeded(request.id, executor="ex-1")
    again = await store.pairing.submit(
        machine_id="m1",
        agent_id=request.agent_id,
        code=request.code,
        submitted_by="tg:2002",
        source=PairingSource.USER,
    )
    assert not again.created
    assert again.request.id == request.id
    assert again.request.state is PairingState.SUCCEEDED


async def test_a_failed_code_may_be_submitted_again_as_a_new_request(store: Store) -> None:
    request = await running_request(store, "m1", executor="ex-1")
    await store.pairing.mark_failed(request.id, executor="ex-1")
    again = await store.pairing.submit(
        machine_id="m1",
        agent_id=request.agent_id,
        code=request.code,
        submitted_by="tg:2002",
        source=PairingSource.USER,
    )
    assert again.created
    assert again.request.state is PairingState.SUBMITTED


async def test_a_new_code_for_the_same_agent_supersedes_its_pending_requests(
    store: Store,
) -> None:
    agent_id = await agent_on(store, "m1")
    old_submitted = await store.pairing.submit(
        machine_id="m1",
        agent_id=agent_id,
        code="AAAAAAAA",
        submitted_by="tg:2002",
        source=PairingSource.USER,
    )
    newer = await store.pairing.submit(
        machine_id="m1",
        agent_id=agent_id,
        code="BBBBBBBB",
        submitted_by="tg:2002",
        source=PairingSource.USER,
    )
    assert [item.id for item in newer.superseded] == [old_submitted.request.id]
    old = await store.pairing.get(old_submitted.request.id)
    assert old.state is PairingState.SUPERSEDED
    assert old.superseded_by == newer.request.id
    with pytest.raises(StateTransitionError):
        await store.pairing.approve(old.id, admin="admin:1")


async def test_two_admins_approving_at_once_approve_once_and_the_second_learns_who(
    store: Store,
) -> None:
    agent_id = await agent_on(store, "m1")
    submitted = await store.pairing.submit(
        machine_id="m1",
        agent_id=agent_id,
        code="F864XLAV",
        submitted_by="tg:2002",
        source=PairingSource.USER,
    )
    outcomes = await asyncio.gather(
        store.pairing.approve(submitted.request.id, admin="admin:1"),
        store.pairing.approve(submitted.request.id, admin="admin:2"),
        return_exceptions=True,
    )
    approvals = [item for item in outcomes if isinstance(item, PairingRequest)]
    refusals = [item for item in outcomes if isinstance(item, StateTransitionError)]
    assert len(approvals) == 1 and len(refusals) == 1
    assert approvals[0].decided_by is not None
    assert approvals[0].decided_by in str(refusals[0])


async def test_requests_older_than_openclaws_code_lifetime_expire(
    store: Store, clock: ManualClock
) -> None:
    agent_id = await agent_on(store, "m1")
    old = await approved_request(store, "m1", agent_id, code="AAAAAAAA")
    clock.advance(timedelta(minutes=61))
    other_agent = await agent_on(store, "m2", user="bob")
    fresh = await approved_request(store, "m2", other_agent, code="BBBBBBBB")

    expired = await store.pairing.expire_stale()

    assert [item.id for item in expired] == [old.id]
    assert (await store.pairing.get(old.id)).state is PairingState.EXPIRED
    assert (await store.pairing.get(fresh.id)).state is PairingState.APPROVED


@pytest.mark.parametrize("typed", ["F864XLA", "F864XLA0", "F864XLAVV", "F864 XLAV", "I864XLAV", ""])
async def test_malformed_codes_are_refused_before_anything_is_stored(
    store: Store, typed: str
) -> None:
    agent_id = await agent_on(store, "m1")
    with pytest.raises(InvalidPairingCodeError):
        await store.pairing.submit(
            machine_id="m1",
            agent_id=agent_id,
            code=typed,
            submitted_by="tg:2002",
            source=PairingSource.USER,
        )
    assert await store.pairing.for_machine("m1") == []


async def test_a_code_cannot_be_submitted_for_a_machine_the_agent_does_not_run_on(
    store: Store,
) -> None:
    agent_id = await agent_on(store, "m1")
    with pytest.raises(Exception, match="does not run on machine m2"):
        await store.pairing.submit(
            machine_id="m2",
            agent_id=agent_id,
            code="F864XLAV",
            submitted_by="tg:2002",
            source=PairingSource.USER,
        )
