"""The pairing use cases: an end user submits a code, an admin approves or rejects it, an
admin approves a code directly, an agent is released from its end user.

Running an approved code on the machine is `bot.fleet.pairing_executor`'s (exactly once);
this module records the submission (with the ops chat's approval card, in one transaction)
and the admin's decision, then hands the request to the executor.
"""

from __future__ import annotations

import contextlib

from bot.fleet import validation
from bot.fleet.context import FleetContext
from bot.fleet.errors import AgentBusy, FleetError
from bot.fleet.fly_boundary import fly_errors_become_fleet_errors
from bot.fleet.pairing_executor import PairingExecutor, PairingResult
from storage.errors import StateTransitionError
from storage.models import (
    Actor,
    Agent,
    AgentStatus,
    AlertKind,
    AlertSeverity,
    PairingRequest,
    PairingSource,
    PairingState,
    SubmitResult,
)


@fly_errors_become_fleet_errors
class Pairing:
    def __init__(self, ctx: FleetContext, executor: PairingExecutor) -> None:
        self.ctx = ctx
        self._executor = executor

    async def submit_user_pairing_code(
        self, agent_id: str, code: str, *, telegram_user_id: int
    ) -> SubmitResult:
        agent = await self.ctx.find_agent(agent_id)
        if agent.telegram_user_id != telegram_user_id:
            raise FleetError("You can only pair your own agent.")
        return await self._submit(
            agent, code, actor=Actor.user(telegram_user_id), source=PairingSource.USER
        )

    async def approve_telegram_pairing(self, ref: str, code: str, *, actor: Actor) -> PairingResult:
        """An admin approves a code directly (the seed's `approveTelegramPairing`)."""
        agent = await self.ctx.find_agent(ref)
        submitted = await self._submit(agent, code, actor=actor, source=PairingSource.ADMIN)
        request = submitted.request
        if request.state is PairingState.SUBMITTED:
            with contextlib.suppress(StateTransitionError):
                request = await self.ctx.store.pairing.approve(request.id, admin=str(actor))
        return await self._executor.execute(request.id, actor=actor)

    async def approve_pairing_request(self, request_id: str, *, actor: Actor) -> PairingResult:
        """Approve (if still awaiting a decision) and execute: double taps run it once."""
        # Someone else may have decided first; execute() reports what happened then.
        with contextlib.suppress(StateTransitionError):
            await self.ctx.store.pairing.approve(request_id, admin=str(actor))
        return await self._executor.execute(request_id, actor=actor)

    async def reject_pairing_request(self, request_id: str, *, actor: Actor) -> None:
        await self.ctx.store.pairing.reject(request_id, admin=str(actor))

    async def unlink_telegram_user(self, ref: str, *, actor: Actor) -> tuple[Agent, int | None]:
        """Release the agent from its end user (so an invite can link someone else); answers
        the agent and the Telegram user who was linked (None when nobody was)."""
        agent = await self.ctx.find_agent(ref)
        return await self.ctx.store.agents.unlink_telegram_user(agent.id, actor=str(actor))

    async def expire_stale_requests(self) -> list[PairingRequest]:
        """Expire the requests whose code OpenClaw has forgotten (its codes live one hour);
        answers them, so their submitters can be told."""
        return await self.ctx.store.pairing.expire_stale()

    async def _submit(
        self, agent: Agent, raw_code: str, *, actor: Actor, source: PairingSource
    ) -> SubmitResult:
        code = validation.pairing_code(raw_code)
        if agent.machine_id is None or agent.status is AgentStatus.DELETED:
            raise AgentBusy(f"Agent {agent.id} has no machine yet, so it cannot be paired.")
        async with self.ctx.store.transaction() as tx:
            result = await self.ctx.store.pairing.submit(
                machine_id=agent.machine_id,
                agent_id=agent.id,
                code=code,
                submitted_by=str(actor),
                source=source,
                tx=tx,
            )
            if result.created and source is PairingSource.USER:
                # The approval card for the ops chat is queued with the request itself,
                # so a crash between the two cannot lose it.
                await self.ctx.store.outbox.enqueue(
                    AlertKind.PAIRING_SUBMITTED,
                    f"Pairing request {result.request.id}: user {actor} sent code {code} for "
                    f"agent {agent.id} ({agent.tenant_id}/{agent.user_id}).",
                    severity=AlertSeverity.INFO,
                    dedupe_key=f"pairing_submitted:{result.request.id}",
                    payload={
                        "request_id": result.request.id,
                        "agent_id": agent.id,
                        "code": code,
                        "submitted_by": actor,
                    },
                    tx=tx,
                )
        return result
