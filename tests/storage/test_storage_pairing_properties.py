"""Property test: no sequence of ledger operations breaks the pairing guarantees.

Hypothesis drives the real ledger on a real SQLite file through random sequences of submit,
approve, reject, concurrent claims, finishes (by the claimer and by strangers), process restarts
(close, reopen, `recover_after_restart`), recoveries, expiry — and raw SQL that bypasses the
ledger's code to try to start or re-approve requests, which only the database's constraints and
triggers can stop. A reference model predicts every outcome; after every step the invariants
are checked against what the database file holds:

- every request's state, attempts and recoveries are what the model predicts;
- at most one running and at most one stuck request per machine, never both at once;
- attempts never exceed recoveries + 1, and equal the number of claims that won;
- one live-or-succeeded request per (machine, code);
- every transition to stuck queued exactly one alert.

Each state machine run owns a private event loop, because Hypothesis drives it synchronously.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from storage.errors import StateTransitionError
from storage.ids import new_executor_id
from storage.models import (
    AgentChanges,
    ClaimOutcome,
    ClaimResult,
    PairingSource,
    PairingState,
    StuckResolution,
)
from storage.store import Store

T = TypeVar("T")

MACHINES = ("m1", "m2")
CODES = ("AAAAAAAA", "BBBBBBBB", "CCCCCCCC")
CODE_TAKEN = frozenset(
    {
        PairingState.SUBMITTED,
        PairingState.APPROVED,
        PairingState.RUNNING,
        PairingState.STUCK,
        PairingState.SUCCEEDED,
    }
)
AWAITING_EXECUTION = frozenset({PairingState.SUBMITTED, PairingState.APPROVED})


class ManualClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class ExpectedRequest:
    id: str
    machine: str
    code: str
    created_at: datetime
    state: PairingState = PairingState.SUBMITTED
    attempts: int = 0
    recoveries: int = 0
    executor: str | None = None


class PairingLedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.directory = Path(tempfile.mkdtemp(prefix="ledger-"))
        self.clock = ManualClock()
        self.store = self.run(Store.open(self.directory / "ledger.db", clock=self.clock))
        self.agent_on: dict[str, str] = {}
        for machine in MACHINES:
            agent = self.run(
                self.store.agents.create(tenant_id="acme", user_id=f"user-{machine}", actor="t")
            )
            self.run(
                self.store.agents.update(agent.id, AgentChanges(machine_id=machine), actor="t")
            )
            self.agent_on[machine] = agent.id
        self.process = new_executor_id()
        self.expected: dict[str, ExpectedRequest] = {}
        self.order: list[str] = []
        self.claims_won: Counter[str] = Counter()
        self.stuck_transitions = 0
        self.serial = 0

    def run(self, awaitable: Awaitable[T]) -> T:
        async def wrapped() -> T:
            return await awaitable

        return self.loop.run_until_complete(wrapped())

    def teardown(self) -> None:
        self.run(self.store.close())
        self.loop.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def pick(self, index: int, focused: bool, states: frozenset[PairingState]) -> ExpectedRequest:
        """A request; when `focused`, one in `states` if there is any (so the walk reaches deep
        paths such as stuck → recovered → re-claimed), otherwise any request at all (so refusals
        are exercised too)."""
        candidates = [
            request_id for request_id in self.order if self.expected[request_id].state in states
        ]
        pool = candidates if focused and candidates else self.order
        return self.expected[pool[index % len(pool)]]

    def has(self, state: PairingState) -> bool:
        return any(item.state is state for item in self.expected.values())

    def machine_busy(self, machine: str) -> bool:
        return any(
            other.machine == machine and other.state in (PairingState.RUNNING, PairingState.STUCK)
            for other in self.expected.values()
        )

    def refused(self, awaitable: Awaitable[object]) -> bool:
        try:
            self.run(awaitable)
        except StateTransitionError:
            return True
        return False

    def raw_write(self, sql: str, request_id: str) -> bool:
        async def write() -> None:
            async with self.store.transaction() as tx:
                await tx.execute(sql, (request_id,))

        try:
            self.run(write())
        except sqlite3.IntegrityError:
            return False
        return True

    # --- rules ------------------------------------------------------------------------------

    @rule(machine=st.sampled_from(MACHINES), code=st.sampled_from(CODES), admin=st.booleans())
    def submit(self, machine: str, code: str, admin: bool) -> None:
        self.submit_code(machine, code, admin)

    @rule(machine=st.sampled_from(MACHINES), code=st.sampled_from(CODES))
    def admin_submits_and_approves(self, machine: str, code: str) -> None:
        request = self.submit_code(machine, code, admin=True)
        refused = self.refused(self.store.pairing.approve(request.id, admin="admin:1"))
        assert refused == (request.state is not PairingState.SUBMITTED)
        if not refused:
            request.state = PairingState.APPROVED

    def submit_code(self, machine: str, code: str, admin: bool) -> ExpectedRequest:
        self.clock.now += timedelta(minutes=1)
        result = self.run(
            self.store.pairing.submit(
                machine_id=machine,
                agent_id=self.agent_on[machine],
                code=code,
                submitted_by="admin:1" if admin else "tg:2002",
                source=PairingSource.ADMIN if admin else PairingSource.USER,
            )
        )
        existing = [
            item
            for item in self.expected.values()
            if item.machine == machine and item.code == code and item.state in CODE_TAKEN
        ]
        if existing:
            assert not result.created
            assert result.request.id == existing[0].id
            assert result.superseded == ()
            return existing[0]
        assert result.created
        superseded = sorted(
            item.id
            for item in self.expected.values()
            if item.machine == machine and item.state in AWAITING_EXECUTION
        )
        assert sorted(item.id for item in result.superseded) == superseded
        for request_id in superseded:
            self.expected[request_id].state = PairingState.SUPERSEDED
        created = ExpectedRequest(
            id=result.request.id, machine=machine, code=code, created_at=self.clock.now
        )
        self.expected[created.id] = created
        self.order.append(created.id)
        return created

    @precondition(lambda self: self.order)
    @rule(index=st.integers(0, 1000), focused=st.booleans())
    def approve(self, index: int, focused: bool) -> None:
        request = self.pick(index, focused, frozenset({PairingState.SUBMITTED}))
        refused = self.refused(self.store.pairing.approve(request.id, admin="admin:1"))
        assert refused == (request.state is not PairingState.SUBMITTED)
        if not refused:
            request.state = PairingState.APPROVED

    @precondition(lambda self: self.order)
    @rule(index=st.integers(0, 1000), focused=st.booleans())
    def reject(self, index: int, focused: bool) -> None:
        request = self.pick(index, focused, AWAITING_EXECUTION)
        refused = self.refused(self.store.pairing.reject(request.id, admin="admin:1"))
        assert refused == (request.state not in AWAITING_EXECUTION)
        if not refused:
            request.state = PairingState.REJECTED

    @precondition(lambda self: self.order)
    @rule(index=st.integers(0, 1000), focused=st.booleans(), contenders=st.integers(1, 8))
    def claim(self, index: int, focused: bool, contenders: int) -> None:
        request = self.pick(index, focused, frozenset({PairingState.APPROVED}))
        executors = [f"{self.process}:{self.serial + n}" for n in range(contenders)]
        self.serial += contenders

        async def contend() -> list[ClaimResult]:
            return await asyncio.gather(
                *(
                    self.store.pairing.claim_for_execution(request.id, executor=executor)
                    for executor in executors
                )
            )

        results = self.run(contend())
        winners = [result for result in results if result.won]
        blocked_by_stuck = any(
            other.machine == request.machine and other.state is PairingState.STUCK
            for other in self.expected.values()
        )
        claimable = request.state is PairingState.APPROVED and not self.machine_busy(
            request.machine
        )
        assert len(winners) == (1 if claimable else 0)
        if claimable:
            winner = winners[0].request
            request.state = PairingState.RUNNING
            request.attempts += 1
            request.executor = winner.executor
            self.claims_won[request.id] += 1
            event("claim won" if request.recoveries == 0 else "claim won after a recovery")
            for result in results:
                if not result.won:
                    assert result.outcome is ClaimOutcome.ALREADY_CLAIMED
                    assert result.blocking_request is not None
                    assert result.blocking_request.executor == winner.executor
            return
        expected_outcome = (
            ClaimOutcome.ALREADY_CLAIMED
            if request.state is PairingState.RUNNING
            else ClaimOutcome.NOT_APPROVED
            if request.state is not PairingState.APPROVED
            else ClaimOutcome.MACHINE_BLOCKED
            if blocked_by_stuck
            else ClaimOutcome.MACHINE_BUSY
        )
        assert {result.outcome for result in results} == {expected_outcome}
        event(f"claim refused: {expected_outcome.value}")

    @precondition(lambda self: self.has(PairingState.APPROVED))
    @rule(index=st.integers(0, 1000), contenders=st.integers(2, 8))
    def claim_an_approved_request(self, index: int, contenders: int) -> None:
        self.claim(index, focused=True, contenders=contenders)

    @precondition(lambda self: self.has(PairingState.RUNNING))
    @rule(
        index=st.integers(0, 1000),
        outcome=st.sampled_from([PairingState.SUCCEEDED, PairingState.FAILED, PairingState.STUCK]),
    )
    def claimer_finishes_a_running_request(self, index: int, outcome: PairingState) -> None:
        self.finish(index, outcome, by_claimer=True, focused=True)

    @precondition(lambda self: self.has(PairingState.STUCK))
    @rule(resolution=st.sampled_from(StuckResolution))
    def admin_recovers_a_blocked_machine(self, resolution: StuckResolution) -> None:
        self.recover(MACHINES[0], resolution, focused=True)

    @precondition(lambda self: self.order)
    @rule(
        index=st.integers(0, 1000),
        outcome=st.sampled_from([PairingState.SUCCEEDED, PairingState.FAILED, PairingState.STUCK]),
        by_claimer=st.booleans(),
        focused=st.booleans(),
    )
    def finish(self, index: int, outcome: PairingState, by_claimer: bool, focused: bool) -> None:
        request = self.pick(index, focused, frozenset({PairingState.RUNNING}))
        executor = (request.executor or "nobody") if by_claimer else "stranger"
        mark = {
            PairingState.SUCCEEDED: self.store.pairing.mark_succeeded,
            PairingState.FAILED: self.store.pairing.mark_failed,
            PairingState.STUCK: self.store.pairing.mark_stuck,
        }[outcome]
        refused = self.refused(mark(request.id, executor=executor, detail="exit 0"))
        allowed = request.state is PairingState.RUNNING and by_claimer
        assert refused == (not allowed)
        if allowed:
            request.state = outcome
            if outcome is PairingState.STUCK:
                self.stuck_transitions += 1

    @rule()
    def restart(self) -> None:
        self.run(self.store.close())
        self.store = self.run(Store.open(self.directory / "ledger.db", clock=self.clock))
        self.process = new_executor_id()
        stuck = self.run(self.store.pairing.recover_after_restart(self.process))
        running = sorted(
            item.id for item in self.expected.values() if item.state is PairingState.RUNNING
        )
        assert sorted(item.id for item in stuck) == running
        for request_id in running:
            self.expected[request_id].state = PairingState.STUCK
            self.stuck_transitions += 1
        if running:
            event("restart left a request stuck")

    @rule(
        machine=st.sampled_from(MACHINES),
        resolution=st.sampled_from(StuckResolution),
        focused=st.booleans(),
    )
    def recover(self, machine: str, resolution: StuckResolution, focused: bool) -> None:
        blocked = sorted(
            item.machine for item in self.expected.values() if item.state is PairingState.STUCK
        )
        if focused and blocked:
            machine = blocked[0]
        stuck = [
            item
            for item in self.expected.values()
            if item.machine == machine and item.state is PairingState.STUCK
        ]
        recovered = self.run(
            self.store.pairing.mark_machine_recovered(machine, by="admin:1", resolution=resolution)
        )
        if not stuck:
            assert recovered is None
            return
        [request] = stuck
        assert recovered is not None and recovered.id == request.id
        event(f"recovered a stuck machine: {resolution.value}")
        if resolution is StuckResolution.RETRY:
            request.state = PairingState.APPROVED
            request.recoveries += 1
        elif resolution is StuckResolution.APPLIED:
            request.state = PairingState.SUCCEEDED
        else:
            request.state = PairingState.FAILED

    @rule(minutes=st.sampled_from([0, 10, 61]))
    def expire(self, minutes: int) -> None:
        self.clock.now += timedelta(minutes=minutes)
        cutoff = self.clock.now - timedelta(hours=1)
        expired = self.run(self.store.pairing.expire_stale())
        due = sorted(
            item.id
            for item in self.expected.values()
            if item.state in AWAITING_EXECUTION and item.created_at < cutoff
        )
        assert sorted(item.id for item in expired) == due
        for request_id in due:
            self.expected[request_id].state = PairingState.EXPIRED

    @precondition(lambda self: self.order)
    @rule(index=st.integers(0, 1000), focused=st.booleans())
    def raw_sql_claim_bypassing_the_ledger(self, index: int, focused: bool) -> None:
        request = self.pick(index, focused, frozenset({PairingState.APPROVED}))
        started = self.raw_write(
            "UPDATE pairing_requests SET state = 'running', executor = 'raw', "
            "attempts = attempts + 1 WHERE id = ?",
            request.id,
        )
        # The database alone must allow exactly what a legitimate claim would.
        claimable = request.state is PairingState.APPROVED and not self.machine_busy(
            request.machine
        )
        assert started == claimable
        if started:
            event("raw claim allowed (request was claimable)")
            request.state = PairingState.RUNNING
            request.attempts += 1
            request.executor = "raw"
            self.claims_won[request.id] += 1

    @precondition(lambda self: self.order)
    @rule(index=st.integers(0, 1000), focused=st.booleans())
    def raw_sql_reapproval_bypassing_the_ledger(self, index: int, focused: bool) -> None:
        request = self.pick(index, focused, frozenset({PairingState.STUCK}))
        reapproved = self.raw_write(
            "UPDATE pairing_requests SET state = 'approved', recoveries = recoveries + 1 "
            "WHERE id = ?",
            request.id,
        )
        # Only a stuck request can be given another attempt, and only one per recovery.
        assert reapproved == (request.state is PairingState.STUCK)
        if reapproved:
            event("raw re-approval allowed (request was stuck)")
            request.state = PairingState.APPROVED
            request.recoveries += 1

    # --- invariants ---------------------------------------------------------------------------

    @invariant()
    def database_matches_the_model_and_the_guarantees_hold(self) -> None:
        rows = self.run(
            self.store.db.fetch_all(
                "SELECT id, machine_id, code, state, attempts, recoveries FROM pairing_requests"
            )
        )
        stored = {
            row["id"]: (PairingState(row["state"]), row["attempts"], row["recoveries"])
            for row in rows
        }
        assert stored == {
            item.id: (item.state, item.attempts, item.recoveries) for item in self.expected.values()
        }
        for machine in MACHINES:
            states = [PairingState(row["state"]) for row in rows if row["machine_id"] == machine]
            running = states.count(PairingState.RUNNING)
            stuck = states.count(PairingState.STUCK)
            assert running <= 1
            assert stuck <= 1
            assert not (running and stuck)
        for row in rows:
            assert row["attempts"] <= row["recoveries"] + 1
            assert row["attempts"] == self.claims_won[row["id"]]
        taken = [
            (row["machine_id"], row["code"])
            for row in rows
            if PairingState(row["state"]) in CODE_TAKEN
        ]
        assert len(taken) == len(set(taken))
        alerts = self.run(
            self.store.db.fetch_one(
                "SELECT COUNT(*) FROM alert_outbox WHERE kind = 'pairing_stuck'"
            )
        )
        assert alerts is not None and alerts[0] == self.stuck_transitions


def test_no_sequence_of_ledger_operations_breaks_the_pairing_guarantees() -> None:
    run_state_machine_as_test(
        PairingLedgerMachine,
        settings=settings(
            max_examples=50,
            stateful_step_count=50,
            deadline=None,
            # No shrinking: on a 50-step walk it takes minutes and would hit the suite's timeout;
            # a failure still prints the whole falsifying sequence of steps.
            phases=(Phase.explicit, Phase.reuse, Phase.generate),
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
