"""End users: link with an invite, send the pairing code their agent gave them, see its status.

An end user only ever acts on the agent(s) linked to their own Telegram id, as the router read
them for this update: a code for anyone else's agent is refused before it reaches the service,
and the service checks again. A code is accepted as `/pair CODE`, as a bare message, or inside
OpenClaw's whole pairing message forwarded here. Attempts are rate-limited per user. The card
for the ops chat is queued by the service with the request itself; this module only wakes the
alert worker. `/status` shows what the fleet monitor last recorded in the store and how long
ago that changed; it never asks Fly, so end users cannot turn their taps into Fly API calls.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from telegram.error import TelegramError

from bot.fleet.errors import FleetError
from bot.fleet.openclaw import find_pairing_code
from bot.fleet.validation import InvalidInput, pairing_code
from bot.telegram import render
from bot.telegram.auth import Role
from bot.telegram.call import Call
from bot.telegram.commands import USER_COMMANDS
from bot.telegram.deps import BotDeps
from bot.telegram.errors import explain
from bot.telegram.parsing import ParseError, words
from storage.errors import InviteRedeemError
from storage.models import (
    Agent,
    AlertKind,
    AlertSeverity,
    InviteRefusal,
    PairingState,
)


class UserCommands:
    def __init__(self, deps: BotDeps) -> None:
        self._deps = deps

    async def _reply(self, call: Call, text: str) -> None:
        await self._deps.messenger.send(call.chat_id, text)

    # --- /start <invite> ----------------------------------------------------------------------

    async def start(self, call: Call, payload: str) -> None:
        payload = payload.strip()
        if not payload:
            if call.role is Role.USER:
                await self.help(call)
            return
        if not call.private:
            await self._reply(call, render.OPEN_INVITE_IN_PRIVATE)
            return
        try:
            invite = await self._deps.store.invites.redeem(payload, telegram_user_id=call.user_id)
        except InviteRedeemError as error:
            if error.reason == InviteRefusal.AGENT_TAKEN:
                await self._agent_taken(call, error)
                return
            await self._reply(call, explain(error))
            return
        agent = await self._deps.store.agents.get(invite.agent_id)
        await self._deps.store.outbox.enqueue(
            AlertKind.INVITE_REDEEMED,
            render.invite_redeemed_alert(call.user_id, agent, invite.id),
            severity=AlertSeverity.INFO,
            payload={"agent_id": agent.id, "invite_id": invite.id},
        )
        self._deps.alerts_due.set()
        await self._reply(call, render.linked(agent))

    async def _agent_taken(self, call: Call, error: InviteRedeemError) -> None:
        """An invite for an agent someone else is linked to: nobody is swapped silently. The
        link stays as it is and the invite unused; the redeemer, the linked user and the ops
        chat are told, and an admin decides (/unlink, then the same link works)."""
        deps = self._deps
        assert error.agent_id is not None and error.linked_user_id is not None
        agent = await deps.store.agents.get(error.agent_id)
        redeemer = deps.people.name(call.user_id)
        holder = deps.people.name(error.linked_user_id)
        await deps.store.outbox.enqueue(
            AlertKind.INVITE_AGENT_TAKEN,
            render.invite_taken_alert(agent, redeemer, holder),
            severity=AlertSeverity.WARNING,
            payload={
                "agent_id": agent.id,
                "telegram_user_id": call.user_id,
                "linked_telegram_user_id": error.linked_user_id,
            },
        )
        deps.alerts_due.set()
        await self._reply(call, render.invite_taken(agent))
        with contextlib.suppress(TelegramError):
            await deps.messenger.send(error.linked_user_id, render.invite_taken_holder(agent))

    # --- commands -----------------------------------------------------------------------------

    async def handle(self, call: Call, agents: Sequence[Agent], name: str, rest: str) -> None:
        """`agents`: the caller's own agents, as authorization read them for this update."""
        if name == "pair":
            await self.pair(call, agents, rest)
        elif name == "status":
            await self.status(call, agents, rest)
        else:
            await self.help(call)

    async def help(self, call: Call) -> None:
        await self._reply(
            call, render.help_text(render.USER_HELP_TITLE, USER_COMMANDS, render.USER_HELP_FOOTER)
        )

    async def status(self, call: Call, agents: Sequence[Agent], rest: str) -> None:
        chosen = await self._own_agents(call, agents, rest)
        if chosen is None:
            return
        now = self._deps.store.clock()
        for agent in chosen:
            latest = await self._deps.store.pairing.latest_for_agent(agent.id)
            await self._reply(call, render.recorded_status(agent, latest, now))

    async def _own_agents(
        self, call: Call, agents: Sequence[Agent], rest: str
    ) -> list[Agent] | None:
        """The caller's agents `rest` names (all if none); refuses anyone else's (then None)."""
        given = rest.split()
        if not given:
            return list(agents)
        wanted = given[0]
        chosen = [a for a in agents if wanted in (a.id, render.agent_label(a))]
        if not chosen:
            await self._reply(call, render.NOT_YOURS_LINE)
            return None
        return chosen

    async def pair(self, call: Call, agents: Sequence[Agent], rest: str) -> None:
        try:
            parts = words(rest)
        except ParseError as error:
            await self._reply(call, render.esc(error))
            return
        if not parts:
            await self._reply(call, render.NO_CODE_LINE)
            return
        if len(parts) > 2:
            await self._reply(call, render.SEND_JUST_ONE_CODE)
            return
        chosen = await self._own_agents(call, agents, parts[0] if len(parts) == 2 else "")
        if chosen is None:
            return
        await self.submit(call, chosen, parts[-1])

    async def text(self, call: Call, agents: Sequence[Agent], text: str) -> None:
        """A plain message (or a forwarded one): look for a pairing code in it."""
        code = find_pairing_code(text)
        if code is None:
            await self._reply(call, render.NO_CODE_LINE)
            return
        await self.submit(call, agents, code)

    async def submit(self, call: Call, agents: Sequence[Agent], raw_code: str) -> None:
        deps = self._deps
        if not deps.pairing_limit.try_take(call.user_id):
            minutes = max(1, round(deps.pairing_limit.wait_s(call.user_id) / 60))
            await self._reply(call, render.too_many_codes(minutes))
            return
        try:
            code = pairing_code(raw_code)
        except InvalidInput as error:
            await self._reply(call, render.esc(error))
            return
        if len(agents) != 1:
            await self._reply(call, render.several_agents(agents))
            return
        agent = agents[0]
        try:
            submitted = await deps.service.submit_user_pairing_code(
                agent.id, code, telegram_user_id=call.user_id
            )
        except (FleetError, InvalidInput) as error:
            await self._reply(call, explain(error))
            return
        request = submitted.request
        if submitted.created:
            deps.alerts_due.set()
            await self._reply(call, render.code_submitted(request, agent))
            return
        if request.state is PairingState.SUCCEEDED:
            await self._reply(call, render.CODE_ALREADY_APPROVED)
            return
        await self._reply(call, render.code_known(request))
