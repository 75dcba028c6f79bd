"""Settling a pairing left stuck on a machine, after that machine was restarted.

Recovery follows the seed's safe flow: restart the machine first
(`Lifecycle.restart_agent_machine`), wait for a healthy gateway, then look (`pairing list`)
before anything runs again: a code still pending gets exactly one retry. A code no longer
pending is not proof it was applied (it may have expired, or the approve was killed and it
expired since): it counts as applied only when OpenClaw's allow list now holds the sender;
otherwise the request failed and the end user is asked for a new code.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.fleet import openclaw
from bot.fleet.context import FleetContext
from bot.fleet.errors import FleetError, MachineUnsettled
from bot.fleet.gateway import current_health
from bot.fleet.pairing_executor import telegram_id_of
from bot.fleet.resolve import EffectiveConfig
from flyclient import FlyClient, FlyError
from storage.models import Actor, Agent, PairingRequest, PairingState, StuckResolution


@dataclass(frozen=True)
class RecoveryResult:
    resolution: StuckResolution | None
    request: PairingRequest | None
    message: str


class PairingRecovery:
    def __init__(self, ctx: FleetContext) -> None:
        self.ctx = ctx

    async def recover_machine(self, agent: Agent, *, actor: Actor) -> RecoveryResult:
        """After a restart: once the gateway is healthy, look before anything runs again."""
        ctx = self.ctx
        if agent.machine_id is None:
            raise FleetError(f"Agent {agent.id} has no machine.")
        stuck = await ctx.store.pairing.for_machine(agent.machine_id, states=[PairingState.STUCK])
        if not stuck:
            return RecoveryResult(None, None, "Nothing was stuck on this machine.")
        fly, config = await ctx.fly_for(agent)
        health = await current_health(fly, agent.machine_id)
        if not health.healthy:
            return RecoveryResult(
                None,
                stuck[0],
                f"The gateway is not healthy yet ({health.reason}); no retry is offered.",
            )
        request = stuck[0]
        try:
            outcome = await ctx.run_cli(
                fly,
                agent.machine_id,
                openclaw.list_pairing(ctx.defaults.openclaw_dir),
                config=config,
            )
        except (FlyError, MachineUnsettled) as error:
            return _unchecked(request, error)
        listing = openclaw.parse_pairing_list(outcome.exit_code, outcome.stdout, outcome.stderr)
        if not listing.ok or listing.find(request.code) is not None:
            recovered = await ctx.store.pairing.mark_machine_recovered(
                agent.machine_id, by=str(actor), resolution=StuckResolution.RETRY
            )
            return RecoveryResult(
                StuckResolution.RETRY,
                recovered,
                "The gateway is healthy and the code is still pending: one retry is allowed.",
            )
        # No longer pending: applied — or expired, or the approve was killed and the code then
        # expired. Only OpenClaw's allow list tells: is the sender allowed now?
        return await self._settle_not_pending(fly, config, agent, request, actor=actor)

    async def _settle_not_pending(
        self,
        fly: FlyClient,
        config: EffectiveConfig,
        agent: Agent,
        request: PairingRequest,
        *,
        actor: Actor,
    ) -> RecoveryResult:
        ctx = self.ctx
        machine_id = request.machine_id
        sender = telegram_id_of(request.submitted_by)
        if sender is None:
            return await self._abandon(
                request,
                actor,
                "the code was no longer pending and whom it was issued to is not known",
                "The code is no longer pending, but whom it was issued to is not known, so "
                "nothing confirms it was applied: it is recorded as failed. Ask the user to "
                "message the agent; if it answers with a new code, pair that one.",
            )
        try:
            outcome = await ctx.run_cli(
                fly, machine_id, openclaw.read_allow_list(ctx.defaults.openclaw_dir), config=config
            )
        except (FlyError, MachineUnsettled) as error:
            return _unchecked(request, error)
        allowed = openclaw.parse_allow_list(outcome.exit_code, outcome.stdout, outcome.stderr)
        if not allowed.ok:
            return await self._abandon(
                request,
                actor,
                f"code no longer pending; allow list unreadable: {allowed.reason}",
                f"The code is no longer pending and OpenClaw's allow list could not be read "
                f"({allowed.reason}), so nothing confirms it was applied: it is recorded as "
                "failed and the user is asked for a new code.",
            )
        if not allowed.allows(sender):
            return await self._abandon(
                request,
                actor,
                f"code no longer pending but telegram user {sender} is not allowed: not applied",
                f"The code is no longer pending, but OpenClaw does not allow telegram user "
                f"{sender}: the earlier command did not apply it (the code expired or the "
                "command was killed). The request failed; the user is asked for a new code.",
            )
        recovered = await ctx.store.pairing.mark_machine_recovered(
            machine_id,
            by=str(actor),
            resolution=StuckResolution.APPLIED,
            detail=f"code no longer pending and telegram user {sender} is allowed: applied",
        )
        return RecoveryResult(
            StuckResolution.APPLIED,
            recovered,
            f"The code is no longer pending and OpenClaw allows telegram user {sender}: the "
            "earlier command approved it.",
        )

    async def _abandon(
        self, request: PairingRequest, actor: Actor, detail: str, message: str
    ) -> RecoveryResult:
        recovered = await self.ctx.store.pairing.mark_machine_recovered(
            request.machine_id, by=str(actor), resolution=StuckResolution.ABANDONED, detail=detail
        )
        return RecoveryResult(StuckResolution.ABANDONED, recovered, message)


def _unchecked(request: PairingRequest, error: FlyError | MachineUnsettled) -> RecoveryResult:
    """The machine could not be asked: nothing is decided, the request stays stuck."""
    return RecoveryResult(
        None,
        request,
        f"The machine could not be checked ({error.message}); nothing was decided. "
        "Restart it again once it is healthy.",
    )
