"""Bulk stop, wake and restart: a bounded number in flight, every agent's outcome reported.

How many agents were in flight is read from the Fly emulator's request log, not from the
service: each machine's requests span from its first to its last answer, and that span lies
inside the time the service worked on the agent, so the most spans open at once is a lower
bound of the real concurrency (and a cap it never passes).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fleet_harness import ADMIN, Fleet

from bot.fleet.bulk import BULK_STEP, BULK_STEPS, BulkAction
from bot.fleet.progress import Progress, StepState
from storage.models import AgentStatus, AuditOutcome


async def _running_agents(fleet: Fleet, count: int) -> list[tuple[str, str]]:
    """`count` provisioned, running agents: (agent id, machine id) each."""
    results = await asyncio.gather(*(fleet.provision(user=f"user{n}") for n in range(count)))
    pairs = []
    for result in results:
        assert result.agent.machine_id is not None
        pairs.append((result.agent.id, result.agent.machine_id))
    return pairs


async def _last_seq(fleet: Fleet) -> int:
    records = (await fleet.control.get("/_emulator/requests")).json()
    return int(records[-1]["seq"]) if records else 0


async def _records_since(fleet: Fleet, seq: int) -> list[dict[str, Any]]:
    answer = await fleet.control.get("/_emulator/requests", params={"since": seq})
    return list(answer.json())


def _machine_of(record: dict[str, Any], machine_ids: set[str]) -> str | None:
    """The machine a Machines API or logs API request was about, if one of ours."""
    parts = str(record["path"]).split("/")
    if "machines" in parts:
        index = parts.index("machines")
        if index + 1 < len(parts) and parts[index + 1] in machine_ids:
            return parts[index + 1]
    instance = record.get("query", {}).get("instance", [])
    return instance[0] if instance and instance[0] in machine_ids else None


def most_machines_at_once(records: list[dict[str, Any]], machine_ids: set[str]) -> int:
    """The most machines whose first-to-last answered request spans overlap."""
    spans: dict[str, list[int]] = {}
    for record in records:
        machine = _machine_of(record, machine_ids)
        if machine is not None:
            seq = int(record["seq"])
            span = spans.setdefault(machine, [seq, seq])
            span[1] = seq
    edges = sorted(
        [(first, 1) for first, _ in spans.values()] + [(last, -1) for _, last in spans.values()],
        key=lambda edge: (edge[0], -edge[1]),
    )
    open_now = most = 0
    for _, change in edges:
        open_now += change
        most = max(most, open_now)
    return most


async def _slow_lifecycle_calls(fleet: Fleet) -> None:
    """Each stop and start answers a little later, so agents in flight visibly overlap."""
    for verb in ("stop", "start"):
        await fleet.fault(
            {"route": {"method": "POST", "path_regex": f"/{verb}$"}, "latency_s": 0.05}
        )


async def test_a_bulk_stop_never_has_more_agents_in_flight_than_its_cap(fleet: Fleet) -> None:
    agents = await _running_agents(fleet, 6)
    machine_ids = {machine for _, machine in agents}
    await _slow_lifecycle_calls(fleet)

    seq = await _last_seq(fleet)
    capped = await fleet.service.bulk_lifecycle(
        BulkAction.STOP, [agent for agent, _ in agents], actor=ADMIN, concurrency=2
    )
    capped_records = await _records_since(fleet, seq)
    seq = await _last_seq(fleet)
    uncapped = await fleet.service.bulk_lifecycle(
        BulkAction.WAKE, [agent for agent, _ in agents], actor=ADMIN, concurrency=6
    )
    uncapped_records = await _records_since(fleet, seq)

    assert [outcome.ok for outcome in capped.outcomes] == [True] * 6
    assert [outcome.ok for outcome in uncapped.outcomes] == [True] * 6
    stops = [r for r in capped_records if r["method"] == "POST" and r["path"].endswith("/stop")]
    assert len(stops) == 6
    # Capped at 2: never more than 2 machines at once, and really more than one at a time.
    assert most_machines_at_once(capped_records, machine_ids) == 2
    assert capped.peak_in_flight == 2
    # The same reading sees more at once when the cap allows it: the check above can fail.
    assert most_machines_at_once(uncapped_records, machine_ids) > 2
    for agent_id, _ in agents:
        assert (await fleet.store.agents.get(agent_id)).status is AgentStatus.RUNNING


async def test_one_agent_failing_is_reported_while_the_others_finish(fleet: Fleet) -> None:
    agents = await _running_agents(fleet, 4)
    agent_ids = [agent for agent, _ in agents]
    stopped = await fleet.service.bulk_lifecycle(BulkAction.STOP, agent_ids, actor=ADMIN)
    assert stopped.failed == () and stopped.concurrency == 50
    refused_agent, refused_machine = agents[1]
    await fleet.fault(
        {
            "route": {"method": "POST", "path_regex": f"/machines/{refused_machine}/start$"},
            "status": 412,
            "body": {"error": "insufficient resources to start the machine"},
        }
    )
    notes: list[tuple[StepState, str]] = []

    async def listener(progress: Progress) -> None:
        notes.append((progress.states[BULK_STEP], progress.note))

    report = await fleet.service.bulk_lifecycle(
        BulkAction.WAKE,
        [*agent_ids, "ag_missing00000"],
        actor=ADMIN,
        concurrency=2,
        progress=Progress("wake", BULK_STEPS, listener),
    )

    by_agent = {outcome.agent_ref: outcome for outcome in report.outcomes}
    assert list(by_agent) == [*agent_ids, "ag_missing00000"]
    assert report.succeeded == (agent_ids[0], agent_ids[2], agent_ids[3])
    refused = by_agent[refused_agent].error or ""
    assert f"Fly refused to start machine {refused_machine}" in refused
    assert "insufficient resources" in refused
    assert "ag_missing00000" in (by_agent["ag_missing00000"].error or "")
    for agent_id in report.succeeded:
        assert (await fleet.store.agents.get(agent_id)).status is AgentStatus.RUNNING
    assert (await fleet.store.agents.get(refused_agent)).status is AgentStatus.STOPPED
    assert notes[0] == (StepState.RUNNING, "0/5 done · 0 failed · 0 in flight")
    assert notes[-1] == (StepState.FAILED, "5/5 done · 2 failed · 0 in flight")
    entries = await fleet.store.audit.entries(action="bulk.wake")
    assert [(entry.outcome, entry.detail["failed"]) for entry in entries] == [
        (AuditOutcome.FAILED, [refused_agent, "ag_missing00000"])
    ]
    # The single-agent audit trail is the same as for one /wake each.
    starts = await fleet.store.audit.entries(action="agent.start")
    assert sorted((e.target, e.outcome) for e in starts) == sorted(
        [(agent_id, AuditOutcome.OK) for agent_id in report.succeeded]
        + [(refused_agent, AuditOutcome.FAILED)]
    )


async def test_bulk_targets_skip_agents_another_operation_owns(fleet: Fleet) -> None:
    agents = await _running_agents(fleet, 4)
    first, second, third, fourth = (agent for agent, _ in agents)
    await fleet.service.bulk_lifecycle(BulkAction.STOP, [first, second], actor=ADMIN)
    await fleet.store.agents.set_status(fourth, AgentStatus.RECREATING, actor=str(ADMIN))

    to_stop = await fleet.service.bulk_targets(BulkAction.STOP)
    to_wake = await fleet.service.bulk_targets(BulkAction.WAKE, tenant_id="acme")

    assert [agent.id for agent in to_stop] == [third]
    assert [agent.id for agent in to_wake] == [first, second]
    assert await fleet.service.bulk_targets(BulkAction.WAKE, tenant_id="globex") == []


async def test_a_bulk_restart_restarts_each_machine_once_even_if_listed_twice(
    fleet: Fleet,
) -> None:
    agents = await _running_agents(fleet, 3)
    agent_ids = [agent for agent, _ in agents]
    seq = await _last_seq(fleet)

    report = await fleet.service.bulk_lifecycle(
        BulkAction.RESTART, [*agent_ids, agent_ids[0]], actor=ADMIN
    )

    assert report.succeeded == tuple(agent_ids) and report.failed == ()
    restarts = [
        r["path"].split("/")[-2]
        for r in await _records_since(fleet, seq)
        if r["method"] == "POST" and r["path"].endswith("/restart")
    ]
    assert sorted(restarts) == sorted(machine for _, machine in agents)
