"""Runs approved Telegram pairing codes on agents' machines: exactly once, one at a time.

The flow of one request: gateway healthy? → claim it in the ledger (an atomic
compare-and-set; whoever loses is told who won) → if an end user submitted the code, confirm
with `pairing list telegram --json` that it is pending and was issued to that same Telegram
user → the owner policy's owners on the machine unless its record already shows them
(`owners.ensure_policy`: an approval never silently makes an owner the policy did not name)
→ `pairing approve telegram CODE` as an argv array with a bounded timeout → succeeded,
failed (OpenClaw said no: unknown, expired or already used) or stuck (no answer: the outcome
is unknown, nothing is retried, the machine is blocked until it is restarted and healthy).

A stuck request blocks its machine until it is restarted, healthy and looked at
(`bot.fleet.pairing_recovery`). Submitting a code and the admin's decisions are the pairing
use cases (`bot.fleet.pairing`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from enum import StrEnum

from bot.fleet import openclaw, owners
from bot.fleet.context import FleetContext
from bot.fleet.errors import MachineUnsettled
from bot.fleet.gateway import current_health
from bot.fleet.resolve import EffectiveConfig
from flyclient import (
    ExecOutcomeUnknownError,
    FlyClient,
    FlyConnectionError,
    FlyError,
    FlyTimeoutError,
)
from storage import new_executor_id
from storage.models import (
    Actor,
    ActorKind,
    Agent,
    AlertKind,
    AlertSeverity,
    AuditOutcome,
    PairingRequest,
    PairingSource,
    PairingState,
)

log = logging.getLogger("bot.fleet.pairing")


class PairingOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUSED = "refused"  # belongs to someone else, or not pending: nothing was approved
    STUCK = "stuck"
    ALREADY_HANDLED = "already_handled"
    NOT_READY = "not_ready"  # gateway unhealthy: nothing ran, the request stays approved


@dataclass(frozen=True)
class PairingResult:
    outcome: PairingOutcome
    request: PairingRequest
    message: str  # plain words, fit for the end user and the admin

    @property
    def done(self) -> bool:
        return self.outcome in (
            PairingOutcome.SUCCEEDED,
            PairingOutcome.FAILED,
            PairingOutcome.REFUSED,
        )


def unprovisioned_words(agent: Agent) -> str:
    """Why an agent whose provisioning did not finish takes no pairing (nor counts as running)."""
    why = f" ({agent.last_error})" if agent.last_error else ""
    return (
        f"Agent {agent.id} did not finish provisioning{why}, so nothing was run. Repair it "
        f"first: /recreate {agent.id} from a snapshot, or /deprovision {agent.id} and "
        "/provision again."
    )


def telegram_id_of(actor: str) -> str | None:
    """The Telegram user id in a stored `user:<id>` actor; None for any other actor."""
    parsed = Actor.parse(actor)
    return parsed.id if parsed is not None and parsed.kind is ActorKind.USER else None


class PairingExecutor:
    def __init__(self, ctx: FleetContext, executor_id: str | None = None) -> None:
        self.ctx = ctx
        self.executor_id = executor_id or new_executor_id()
        # Attempts running in this process, by request: a concurrent approval of the same
        # request waits for that one instead of checking the gateway itself (the ledger
        # would refuse its claim anyway, after Fly calls the rate limiter must pay for).
        self._attempts: dict[str, asyncio.Future[PairingResult]] = {}

    async def recover_after_restart(self) -> list[PairingRequest]:
        """At start-up: requests left running by a previous process become stuck (+ alert)."""
        return await self.ctx.store.pairing.recover_after_restart(self.executor_id)

    # --- execution ------------------------------------------------------------------------

    async def execute(self, request_id: str, *, actor: Actor) -> PairingResult:
        running = self._attempts.get(request_id)
        if running is not None:
            await asyncio.wait({running})
            if not running.cancelled() and running.exception() is None:
                request = running.result().request
                return PairingResult(PairingOutcome.ALREADY_HANDLED, request, _state_words(request))
            # That attempt ended without an outcome: try for ourselves (the ledger still
            # lets only one claim win).
        attempt: asyncio.Future[PairingResult] = asyncio.get_running_loop().create_future()
        self._attempts.setdefault(request_id, attempt)
        try:
            result = await self._execute(request_id, actor=actor)
        except asyncio.CancelledError:
            attempt.cancel()
            raise
        except Exception as error:
            attempt.set_exception(error)
            attempt.exception()  # retrieved: the caller sees it, not the loop's handler
            raise
        else:
            attempt.set_result(result)
            return result
        finally:
            if self._attempts.get(request_id) is attempt:
                del self._attempts[request_id]

    async def _execute(self, request_id: str, *, actor: Actor) -> PairingResult:
        ctx = self.ctx
        request = await ctx.store.pairing.get(request_id)
        if request.state is not PairingState.APPROVED:
            return PairingResult(
                PairingOutcome.ALREADY_HANDLED,
                request,
                _state_words(request),
            )
        agent = await ctx.store.agents.get(request.agent_id)
        if not agent.provisioned:
            # Its machine may run, but OpenClaw on it never got (all of) its setup, e.g. it
            # still runs the default model: pairing a user to it would hide that.
            return PairingResult(PairingOutcome.NOT_READY, request, unprovisioned_words(agent))
        fly, config = await ctx.fly_for(agent)
        health = await current_health(fly, request.machine_id)
        if not health.healthy:
            return PairingResult(
                PairingOutcome.NOT_READY,
                request,
                f"The agent is not ready to pair right now ({health.reason}). Nothing was run; "
                "try again once its gateway is healthy.",
            )
        try:
            # An earlier command that never answered may still run in the machine: nothing
            # is claimed (the request stays approved) until the machine was restarted.
            await ctx.cli.require_settled(fly, request.machine_id)
        except MachineUnsettled as busy:
            return PairingResult(
                PairingOutcome.NOT_READY, request, f"{busy.message} Nothing was run."
            )
        claim = await ctx.store.pairing.claim_for_execution(request_id, executor=self.executor_id)
        if not claim.won:
            return PairingResult(PairingOutcome.ALREADY_HANDLED, claim.request, claim.explanation)
        request = claim.request
        owner_id = telegram_id_of(request.submitted_by)
        if request.source is PairingSource.USER and owner_id is not None:
            refusal = await self._confirm_ownership(fly, config, request, owner_id)
            if refusal is not None:
                return refusal
        refusal = await self._ensure_owner_policy(fly, config, request, actor=actor)
        if refusal is not None:
            return refusal
        return await self._approve(fly, config, request, actor=actor)

    async def _ensure_owner_policy(
        self, fly: FlyClient, config: EffectiveConfig, request: PairingRequest, *, actor: Actor
    ) -> PairingResult | None:
        """The policy's owners go on the machine before its approval, unless recorded there:
        an approval never silently creates an owner the policy did not name."""
        ctx = self.ctx
        try:
            await owners.ensure_policy(ctx, fly, request.machine_id, config, actor=actor)
        except (ExecOutcomeUnknownError, FlyTimeoutError, FlyConnectionError) as error:
            return await self._end_stuck(
                request, f"setting the command owners did not answer: {error.message}"
            )
        except (FlyError, owners.OwnerPolicyFailed, MachineUnsettled) as error:
            result = await self._end_failed(
                request,
                f"command owners not set: {error.message}",
                "The agent's command owners could not be set, so nothing was approved. "
                "The operators have been told.",
            )
            await ctx.alert(
                AlertKind.OWNER_POLICY_FAILED,
                f"Pairing request {request.id} was not approved: the command owners of machine "
                f"{request.machine_id} could not be set ({error.message}).",
                severity=AlertSeverity.WARNING,
                payload={"request_id": request.id, "agent_id": request.agent_id},
            )
            return result
        return None

    async def _confirm_ownership(
        self, fly: FlyClient, config: EffectiveConfig, request: PairingRequest, owner_id: str
    ) -> PairingResult | None:
        ctx = self.ctx
        command = openclaw.list_pairing(ctx.defaults.openclaw_dir)
        try:
            outcome = await ctx.run_cli(fly, request.machine_id, command, config=config)
        except (ExecOutcomeUnknownError, FlyTimeoutError, FlyConnectionError) as error:
            return await self._end_stuck(request, f"pairing list did not answer: {error.message}")
        except (FlyError, MachineUnsettled) as error:
            return await self._end_failed(
                request,
                f"pairing list failed: {error.message}",
                "The agent could not be asked; nothing was approved.",
            )
        listing = openclaw.parse_pairing_list(outcome.exit_code, outcome.stdout, outcome.stderr)
        if not listing.ok:
            return await self._end_failed(
                request,
                f"pairing list failed: {listing.reason}",
                "The agent could not list its pairing requests; nothing was approved.",
            )
        pending = listing.find(request.code)
        if pending is None:
            return await self._end_failed(
                request,
                "code not pending on the machine",
                "That code is not waiting on the agent: it is unknown, expired or already used. "
                "Send the agent a message to get a fresh code.",
                outcome=PairingOutcome.REFUSED,
            )
        if pending.sender_id != owner_id:
            result = await self._end_failed(
                request,
                "code was issued to another Telegram user",
                "That code was issued to a different Telegram account, so it was not approved.",
                outcome=PairingOutcome.REFUSED,
            )
            await ctx.alert(
                AlertKind.PAIRING_FOREIGN_CODE,
                f"Pairing request {request.id}: {request.submitted_by} submitted a code that the "
                f"agent issued to telegram user {pending.sender_id}. It was refused, not approved.",
                severity=AlertSeverity.WARNING,
                payload={"request_id": request.id, "agent_id": request.agent_id},
            )
            return result
        return None

    async def _approve(
        self, fly: FlyClient, config: EffectiveConfig, request: PairingRequest, *, actor: Actor
    ) -> PairingResult:
        ctx = self.ctx
        command = openclaw.approve_pairing(ctx.defaults.openclaw_dir, request.code)
        try:
            outcome = await ctx.run_cli(fly, request.machine_id, command, config=config)
        except (ExecOutcomeUnknownError, FlyTimeoutError, FlyConnectionError) as error:
            stuck = await ctx.store.pairing.mark_stuck(
                request.id,
                executor=self.executor_id,
                detail=f"approve did not answer: {error.message}",
            )
            await ctx.audit(
                actor,
                "pairing.execute",
                request.id,
                AuditOutcome.UNKNOWN,
                {"machine_id": request.machine_id},
            )
            return PairingResult(
                PairingOutcome.STUCK,
                stuck,
                "The pairing command did not answer in time, so its outcome is unknown. It will "
                "not be retried blindly: restart the machine, then check again once it is healthy.",
            )
        except (FlyError, MachineUnsettled) as error:
            return await self._end_failed(
                request,
                f"exec refused: {error.message}",
                f"The command could not run: {error.message}",
            )
        parsed = openclaw.parse_approve(outcome.exit_code, outcome.stdout, outcome.stderr)
        if parsed.outcome is openclaw.ApproveOutcome.APPROVED:
            detail = (
                f"approved telegram sender {parsed.sender_id}" if parsed.sender_id else "approved"
            )
            done = await ctx.store.pairing.mark_succeeded(
                request.id, executor=self.executor_id, detail=detail
            )
            await self._check_owner(fly, config, request, parsed.owner_configured, actor=actor)
            await ctx.audit(
                actor,
                "pairing.execute",
                request.id,
                AuditOutcome.OK,
                {"machine_id": request.machine_id},
            )
            return PairingResult(
                PairingOutcome.SUCCEEDED, done, "Paired: you can now talk to your agent."
            )
        not_pending = parsed.outcome is openclaw.ApproveOutcome.NOT_PENDING
        result = await self._end_failed(
            request,
            parsed.reason,
            "OpenClaw found no pending request for that code: it is unknown, expired or "
            "already used. Message the agent again to get a fresh code."
            if not_pending
            else f"OpenClaw refused: {parsed.reason}",
        )
        await ctx.audit(
            actor,
            "pairing.execute",
            request.id,
            AuditOutcome.FAILED,
            {"reason": "not pending" if not_pending else parsed.reason},
        )
        return result

    async def _end_stuck(self, request: PairingRequest, detail: str) -> PairingResult:
        """The machine did not answer: its outcome is unknown, so it blocks until recovered."""
        stuck = await self.ctx.store.pairing.mark_stuck(
            request.id, executor=self.executor_id, detail=detail
        )
        return PairingResult(
            PairingOutcome.STUCK,
            stuck,
            "The agent did not answer. An operator has to restart it before pairing can go on.",
        )

    async def _end_failed(
        self,
        request: PairingRequest,
        detail: str,
        message: str,
        *,
        outcome: PairingOutcome = PairingOutcome.FAILED,
    ) -> PairingResult:
        failed = await self.ctx.store.pairing.mark_failed(
            request.id, executor=self.executor_id, detail=detail
        )
        return PairingResult(outcome, failed, message)

    async def _check_owner(
        self,
        fly: FlyClient,
        config: EffectiveConfig,
        request: PairingRequest,
        configured: str | None,
        *,
        actor: Actor,
    ) -> None:
        """Record the owner OpenClaw made under the `user` policy; under any other, an owner
        it made anyway is reported and replaced by the policy's at once."""
        ctx = self.ctx
        if configured is None:
            return
        policy = ctx.defaults.owner_entries
        if policy is None:
            await owners.record(
                ctx, request.machine_id, (configured,), how=owners.SET_BY_OPENCLAW, actor=actor
            )
            return
        if configured in policy:
            return
        await ctx.alert(
            AlertKind.OWNER_BOOTSTRAP,
            f"Approving {request.id} made {configured} the command owner of machine "
            f"{request.machine_id}, which the owner policy does not name. Resetting it.",
            severity=AlertSeverity.CRITICAL,
            payload={"machine_id": request.machine_id},
        )
        try:
            await owners.apply_policy(ctx, fly, request.machine_id, config, actor=actor)
        except (FlyError, owners.OwnerPolicyFailed) as error:
            log.error("could not reset owners on %s: %s", request.machine_id, error)


def _state_words(request: PairingRequest) -> str:
    state = request.state
    if state is PairingState.SUBMITTED:
        return "This request has not been approved yet."
    if state is PairingState.RUNNING:
        return "This request is being run right now."
    if state is PairingState.SUCCEEDED:
        return "This request was already approved and paired."
    if state is PairingState.STUCK:
        return "This request is stuck; the machine must be restarted first."
    return f"This request is already {state.value}."
