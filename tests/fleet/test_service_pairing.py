"""The pairing executor: exactly once, one at a time per machine, never a blind retry."""

from __future__ import annotations

import asyncio

import pytest
from fleet_harness import ADMIN, Fleet, build_fleet

from bot.fleet.errors import FleetError
from bot.fleet.pairing_executor import PairingOutcome
from bot.fleet.validation import InvalidInput
from emulators.fly import FlyEmulator
from storage import Store
from storage.models import Actor, PairingState, StuckResolution

USER_A = 2002
USER_B = 3003


async def _agent_for(fleet: Fleet, telegram_user_id: int = USER_A):  # type: ignore[no-untyped-def]
    agent = (await fleet.provision()).agent
    return await fleet.store.agents.link_telegram_user(agent.id, telegram_user_id, actor=str(ADMIN))


async def test_user_code_approved_by_an_admin_runs_once_and_pairs(fleet: Fleet) -> None:
    agent = await _agent_for(fleet)
    code = await fleet.pairing_code(agent.machine_id, USER_A)
    submitted = await fleet.service.submit_user_pairing_code(
        agent.id, code.lower(), telegram_user_id=USER_A
    )
    assert submitted.created
    card = [a for a in await fleet.store.outbox.due(limit=50) if a.kind == "pairing_submitted"]
    assert len(card) == 1
    result = await fleet.service.approve_pairing_request(submitted.request.id, actor=ADMIN)
    assert result.outcome is PairingOutcome.SUCCEEDED
    assert len(await fleet.execs("pairing approve")) == 1
    # Ownership was confirmed with the real list command before the approve.
    assert len(await fleet.execs("pairing list")) == 1
    again = await fleet.service.approve_pairing_request(submitted.request.id, actor=Actor.admin(2))
    assert again.outcome is PairingOutcome.ALREADY_HANDLED
    assert len(await fleet.execs("pairing approve")) == 1


async def test_a_code_issued_to_another_user_is_refused_not_approved(fleet: Fleet) -> None:
    agent = await _agent_for(fleet, USER_B)
    code_of_a = await fleet.pairing_code(agent.machine_id, USER_A)
    submitted = await fleet.service.submit_user_pairing_code(
        agent.id, code_of_a, telegram_user_id=USER_B
    )
    result = await fleet.service.approve_pairing_request(submitted.request.id, actor=ADMIN)
    assert result.outcome is PairingOutcome.REFUSED
    assert await fleet.execs("pairing approve") == []
    kinds = [a.kind for a in await fleet.store.outbox.due(limit=50)]
    assert "pairing_foreign_code" in kinds


async def test_a_user_cannot_submit_for_someone_elses_agent(fleet: Fleet) -> None:
    agent = await _agent_for(fleet, USER_A)
    with pytest.raises(FleetError):
        await fleet.service.submit_user_pairing_code(agent.id, "ABCDEFGH", telegram_user_id=USER_B)


async def test_twenty_concurrent_approvals_run_one_exec(fleet: Fleet) -> None:
    agent = await _agent_for(fleet)
    code = await fleet.pairing_code(agent.machine_id, USER_A)
    submitted = await fleet.service.submit_user_pairing_code(
        agent.id, code, telegram_user_id=USER_A
    )
    before = len((await fleet.control.get("/_emulator/requests")).json())
    results = await asyncio.gather(
        *(
            fleet.service.approve_pairing_request(submitted.request.id, actor=Actor.admin(i))
            for i in range(20)
        )
    )
    outcomes = [r.outcome for r in results]
    assert outcomes.count(PairingOutcome.SUCCEEDED) == 1
    assert len(await fleet.execs("pairing approve")) == 1
    # The other 19 waited for the one attempt instead of each checking the gateway.
    during = (await fleet.control.get("/_emulator/requests")).json()[before:]
    machine_reads = [
        r for r in during if r["method"] == "GET" and r["path"].endswith(agent.machine_id)
    ]
    assert len(machine_reads) == 1, machine_reads


async def test_admin_direct_approval_and_a_used_code_is_reported_not_retried(fleet: Fleet) -> None:
    agent = await _agent_for(fleet)
    code = await fleet.pairing_code(agent.machine_id, USER_A)
    first = await fleet.service.approve_telegram_pairing(agent.id, code, actor=ADMIN)
    assert first.outcome is PairingOutcome.SUCCEEDED
    # The same code again is the same request: nothing runs twice.
    second = await fleet.service.approve_telegram_pairing(agent.id, code, actor=ADMIN)
    assert second.outcome is PairingOutcome.ALREADY_HANDLED
    assert len(await fleet.execs("pairing approve")) == 1
    unknown = await fleet.service.approve_telegram_pairing(agent.id, "ZZZZ2222", actor=ADMIN)
    assert unknown.outcome is PairingOutcome.FAILED
    assert "unknown, expired or already used" in unknown.message
    assert len(await fleet.execs("pairing approve")) == 2


HOSTILE_CODES = [
    "ABCD;EFG",
    "$(reboot)",
    "`id`xxxx",
    "AB'CD\"EF",
    "ABCD\nEFG",
    "ABC EFGH",
    "АВСDEFGH",
    "ABCDEFGß",
    "A" * 10_000,
    "ABCDEFG0",
    "'; rm -rf / #",
    "${IFS}abc",
]


@pytest.mark.parametrize("code", HOSTILE_CODES)
async def test_hostile_codes_never_reach_exec(fleet: Fleet, code: str) -> None:
    agent = await _agent_for(fleet)
    before = len(await fleet.execs())
    with pytest.raises(InvalidInput):
        await fleet.service.approve_telegram_pairing(agent.id, code, actor=ADMIN)
    with pytest.raises(InvalidInput):
        await fleet.service.submit_user_pairing_code(agent.id, code, telegram_user_id=USER_A)
    assert len(await fleet.execs()) == before


@pytest.mark.parametrize(
    "model",
    [
        "openai/x;reboot",
        "$(id)/x",
        "openai/`id`",
        "openai/x y",
        "openai/x\nid",
        "o/" + "x" * 10_000,
    ],
)
async def test_hostile_model_ids_never_reach_exec(fleet: Fleet, model: str) -> None:
    agent = await _agent_for(fleet)
    before = len(await fleet.execs())
    with pytest.raises(InvalidInput):
        await fleet.service.set_model(agent.id, model, actor=ADMIN)
    assert len(await fleet.execs()) == before


async def test_a_hung_approve_is_stuck_then_restart_and_exactly_one_retry(
    fly_emulator: FlyEmulator, store: Store
) -> None:
    fleet = await build_fleet(fly_emulator, store, exec_timeout_s=10)
    try:
        agent = await _agent_for(fleet)
        code = await fleet.pairing_code(agent.machine_id, USER_A)
        await fleet.fault(
            {"exec_hang": {"machine_id": agent.machine_id, "match": "pairing approve", "count": 1}}
        )
        submitted = await fleet.service.submit_user_pairing_code(
            agent.id, code, telegram_user_id=USER_A
        )
        stuck = await fleet.service.approve_pairing_request(submitted.request.id, actor=ADMIN)
        assert stuck.outcome is PairingOutcome.STUCK
        assert "restart" in stuck.message
        assert any(a.kind == "pairing_stuck" for a in await fleet.store.outbox.due(limit=50))
        # No blind retry: approving again runs nothing.
        again = await fleet.service.approve_pairing_request(submitted.request.id, actor=ADMIN)
        assert again.outcome is PairingOutcome.ALREADY_HANDLED
        assert len(await fleet.execs("pairing approve")) == 1
        # Restart first; once healthy, the code is still pending, so one retry is allowed.
        _, recovery = await fleet.service.restart_agent_machine(agent.id, actor=ADMIN)
        assert recovery.resolution is StuckResolution.RETRY
        retried = await fleet.service.approve_pairing_request(submitted.request.id, actor=ADMIN)
        assert retried.outcome is PairingOutcome.SUCCEEDED
        assert len(await fleet.execs("pairing approve")) == 2
        # A second restart grants nothing more.
        _, second = await fleet.service.restart_agent_machine(agent.id, actor=ADMIN)
        assert second.resolution is None
    finally:
        await fleet.control.aclose()
        await fleet.service.aclose()


async def test_a_lost_answer_whose_command_completed_is_recognised_after_restart(
    fly_emulator: FlyEmulator, store: Store
) -> None:
    fleet = await build_fleet(fly_emulator, store, exec_timeout_s=10)
    try:
        agent = await _agent_for(fleet)
        code = await fleet.pairing_code(agent.machine_id, USER_A)
        await fleet.fault(
            {
                "exec_slow": {
                    "machine_id": agent.machine_id,
                    "match": "pairing approve",
                    "seconds": 1.5,
                    "count": 1,
                }
            }
        )
        submitted = await fleet.service.submit_user_pairing_code(
            agent.id, code, telegram_user_id=USER_A
        )
        stuck = await fleet.service.approve_pairing_request(submitted.request.id, actor=ADMIN)
        assert stuck.outcome is PairingOutcome.STUCK
        await asyncio.sleep(1.6)  # the command finishes inside the machine
        _, recovery = await fleet.service.restart_agent_machine(agent.id, actor=ADMIN)
        assert recovery.resolution is StuckResolution.APPLIED
        request = await fleet.store.pairing.get(submitted.request.id)
        assert request.state is PairingState.SUCCEEDED
        assert len(await fleet.execs("pairing approve")) == 1
    finally:
        await fleet.control.aclose()
        await fleet.service.aclose()
