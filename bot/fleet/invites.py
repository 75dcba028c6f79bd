"""Invites: the one-time links that tie an end user's Telegram account to an agent.

Creating one (and withdrawing it when it could not be handed over), and redeeming it: the
redeemer is linked and the ops chat told; or, when someone else is linked to the agent
already, nobody is swapped silently — the link stays, the invite stays unused, the ops chat is
told who holds the agent and who asked, and an admin decides (`/unlink`, then the same link
works). Any other refusal (unknown, used, expired, revoked, agent gone) reaches the caller as
`InviteRefused` (through the service's storage boundary). The caller only tells the people.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.fleet.context import FleetContext
from storage.errors import InviteRedeemError
from storage.models import Actor, Agent, AlertKind, AlertSeverity, InviteRefusal, IssuedInvite

# How a Telegram user is named in an alert (the caller knows names; the fleet only ids).
NameOf = Callable[[int], str]


@dataclass(frozen=True)
class InviteRedemption:
    """What redeeming an invite did: `linked`, the redeemer is now the agent's end user; if
    not, the agent stays linked to `holder_id`, and the ops chat was told."""

    agent: Agent
    linked: bool
    holder_id: int | None = None


class Invites:
    def __init__(self, ctx: FleetContext) -> None:
        self.ctx = ctx

    async def create_invite(self, agent_id: str, *, actor: Actor) -> IssuedInvite:
        """A new invite for the agent; its token is available only in the answer."""
        return await self.ctx.store.invites.create(agent_id, created_by=str(actor))

    async def withdraw_invite(self, invite_id: str, *, actor: Actor) -> None:
        """An invite nobody received (the link could not be delivered) is revoked."""
        await self.ctx.store.invites.revoke(invite_id, by=str(actor))

    async def redeem_invite(
        self, token: str, *, telegram_user_id: int, name_of: NameOf
    ) -> InviteRedemption:
        store = self.ctx.store
        try:
            invite = await store.invites.redeem(token, telegram_user_id=telegram_user_id)
        except InviteRedeemError as error:
            if error.reason != InviteRefusal.AGENT_TAKEN:
                raise
            return await self._agent_taken(error, telegram_user_id, name_of)
        agent = await store.agents.get(invite.agent_id)
        await self.ctx.alert(
            AlertKind.INVITE_REDEEMED,
            _redeemed_alert(telegram_user_id, agent, invite.id),
            severity=AlertSeverity.INFO,
            payload={"agent_id": agent.id, "invite_id": invite.id},
        )
        return InviteRedemption(agent, linked=True)

    async def _agent_taken(
        self, error: InviteRedeemError, telegram_user_id: int, name_of: NameOf
    ) -> InviteRedemption:
        assert error.agent_id is not None and error.linked_user_id is not None
        agent = await self.ctx.store.agents.get(error.agent_id)
        await self.ctx.alert(
            AlertKind.INVITE_AGENT_TAKEN,
            _taken_alert(agent, name_of(telegram_user_id), name_of(error.linked_user_id)),
            severity=AlertSeverity.WARNING,
            payload={
                "agent_id": agent.id,
                "telegram_user_id": telegram_user_id,
                "linked_telegram_user_id": error.linked_user_id,
            },
        )
        return InviteRedemption(agent, linked=False, holder_id=error.linked_user_id)


def _label(agent: Agent) -> str:
    """`tenant/user`, as admins type and read it."""
    return f"{agent.tenant_id}/{agent.user_id}"


def _redeemed_alert(telegram_user_id: int, agent: Agent, invite_id: str) -> str:
    return (
        f"Telegram user {telegram_user_id} linked to agent {agent.id} "
        f"({_label(agent)}) with invite {invite_id}."
    )


def _taken_alert(agent: Agent, redeemer: str, holder: str) -> str:
    """Names both people and what the admin can do."""
    return (
        f"Invite refused: {redeemer} opened an invite for agent {agent.id} "
        f"({_label(agent)}), which is linked to {holder}. {holder} stays linked and both "
        f"were told. To hand the agent over: /unlink {agent.id}, then {redeemer} opens the same "
        "link again."
    )
