"""A provisioning interrupted between any two steps resumes: one machine, one volume."""

from __future__ import annotations

import asyncio

import pytest
from fleet_harness import ADMIN, AGENT_BOT_TOKEN, Fleet

from bot.fleet.progress import Progress, StepState
from bot.fleet.provisioning import PROVISION_STEPS
from bot.fleet.service import ProvisionRequest
from storage.models import AgentStatus, OperationStatus

REQUEST = ProvisionRequest(
    tenant_id="acme", user_id="alice", secrets={"TELEGRAM_BOT_TOKEN": AGENT_BOT_TOKEN}
)


@pytest.mark.parametrize("crash_after", PROVISION_STEPS[:-1])
async def test_cancel_between_steps_then_resume_makes_exactly_one_of_each(
    fleet: Fleet, crash_after: str
) -> None:
    async def crash(progress: Progress) -> None:
        if progress.states.get(crash_after) is StepState.DONE:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()

    progress = Progress("provision", PROVISION_STEPS, crash)
    task = asyncio.create_task(
        fleet.service.provision_agent_machine(REQUEST, actor=ADMIN, progress=progress)
    )
    with pytest.raises(asyncio.CancelledError):
        await task
    unfinished = await fleet.store.journal.unfinished()
    assert len(unfinished) == 1
    assert unfinished[0].status is OperationStatus.RUNNING

    result = await fleet.service.provision_agent_machine(REQUEST, actor=ADMIN)
    assert result.resumed
    assert result.agent.status is AgentStatus.RUNNING
    machines = await fleet.machines()
    volumes = await fleet.volumes()
    assert [m["id"] for m in machines] == [result.agent.machine_id]
    assert [v["id"] for v in volumes] == [result.agent.volume_id]
    assert await fleet.store.journal.unfinished() == []
    # The model was forced exactly once overall.
    assert len(await fleet.execs("models set")) == 1


async def test_resume_unfinished_at_start_up(fleet: Fleet) -> None:
    async def crash(progress: Progress) -> None:
        if progress.states.get("machine") is StepState.DONE:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()

    task = asyncio.create_task(
        fleet.service.provision_agent_machine(
            REQUEST, actor=ADMIN, progress=Progress("provision", PROVISION_STEPS, crash)
        )
    )
    with pytest.raises(asyncio.CancelledError):
        await task
    resumed = await fleet.service.resume_unfinished()
    assert len(resumed) == 1
    agent = await fleet.store.agents.get(resumed[0])
    assert agent.status is AgentStatus.RUNNING
    assert len(await fleet.machines()) == 1
