"""End users: link with an invite, send the pairing code their agent gave them, see its status.

An end user only ever acts on the agent(s) linked to their own Telegram id: a code for anyone
else's agent is refused before it reaches the service, and the service checks again. A code is
accepted as `/pair CODE`, as a bare message, or inside OpenClaw's whole pairing message
forwarded here. Attempts are rate-limited per user. The card for the ops chat is queued by the
service with the request itself; this module only wakes the alert worker.
"""

from __future__ import annotations

import logging

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
from storage.models import Agent, AlertSeverity, PairingState

log = logging.getLogger("bot.telegram.user")

NO_CODE_LINE = (
    "Send me the pairing code your agent gave you: 8 characters, like <code>F864XLAV</code>. "
    "You can also forward its whole message here."
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
            await self._reply(call, "Open your invite link in a private chat with me.")
            return
        try:
            invite = await self._deps.store.invites.redeem(payload, telegram_user_id=call.user_id)
        except InviteRedeemError as error:
            await self._reply(call, explain(error))
            return
        agent = await self._deps.store.agents.get(invite.agent_id)
        await self._deps.store.outbox.enqueue(
            "invite_redeemed",
            f"Telegram user {call.user_id} linked to agent {agent.id} "
            f"({render.agent_label(agent)}) with invite {invite.id}.",
            severity=AlertSeverity.INFO,
            payload={"agent_id": agent.id, "invite_id": invite.id},
        )
        self._deps.alerts_due.set()
        await self._reply(
            call,
            f"✅ You are linked to your agent {render.esc(render.agent_label(agent))}.\n"
            f"{render.USER_HELP_FOOTER}",
        )

    # --- commands -----------------------------------------------------------------------------

    async def handle(self, call: Call, name: str, rest: str) -> None:
        if name == "pair":
            await self.pair(call, rest)
        elif name == "status":
            await self.status(call, rest)
        else:
            await self.help(call)

    async def help(self, call: Call) -> None:
        await self._reply(
            call, render.help_text("What I can do for you", USER_COMMANDS, render.USER_HELP_FOOTER)
        )

    async def status(self, call: Call, rest: str) -> None:
        agents = await self._own_agents(call, rest)
        if agents is None:
            return
        for agent in agents:
            requests = await self._deps.store.pairing.for_agent(agent.id)
            latest = requests[-1] if requests else None
            machine_state = None
            try:
                view = await self._deps.service.get_agent_machine(agent.id)
                machine_state = view.machine.state if view.machine is not None else None
            except FleetError as error:
                log.info("live state of %s unavailable: %s", agent.id, error)
            await self._reply(call, render.user_agent_status(agent, machine_state, latest))

    async def _own_agents(self, call: Call, rest: str) -> list[Agent] | None:
        """The caller's agents; refuses (and returns None) a reference to anyone else's."""
        agents = await self._deps.auth.own_agents(call.user_id)
        given = rest.split()
        if not given:
            return agents
        wanted = given[0]
        chosen = [a for a in agents if wanted in (a.id, render.agent_label(a))]
        if not chosen:
            await self._reply(call, "You can only see and pair your own agent.")
            return None
        return chosen

    async def pair(self, call: Call, rest: str) -> None:
        try:
            parts = words(rest)
        except ParseError as error:
            await self._reply(call, render.esc(error))
            return
        if not parts:
            await self._reply(call, NO_CODE_LINE)
            return
        if len(parts) > 2:
            await self._reply(call, "Send just /pair CODE.")
            return
        agents = await self._own_agents(call, parts[0] if len(parts) == 2 else "")
        if agents is None:
            return
        await self.submit(call, agents, parts[-1])

    async def text(self, call: Call, text: str) -> None:
        """A plain message (or a forwarded one): look for a pairing code in it."""
        code = find_pairing_code(text)
        if code is None:
            await self._reply(call, NO_CODE_LINE)
            return
        agents = await self._deps.auth.own_agents(call.user_id)
        await self.submit(call, agents, code)

    async def submit(self, call: Call, agents: list[Agent], raw_code: str) -> None:
        deps = self._deps
        if not deps.pairing_limit.try_take(call.user_id):
            minutes = max(1, round(deps.pairing_limit.wait_s(call.user_id) / 60))
            await self._reply(
                call, f"That is a lot of codes in a short time. Please try again in {minutes} min."
            )
            return
        try:
            code = pairing_code(raw_code)
        except InvalidInput as error:
            await self._reply(call, render.esc(error))
            return
        if len(agents) != 1:
            listed = ", ".join(render.esc(render.agent_label(a)) for a in agents) or "none"
            await self._reply(call, f"You have several agents ({listed}): send /pair AGENT CODE.")
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
            await self._reply(
                call,
                f"Thanks! Your code {render.code(request.code)} for your agent "
                f"{render.esc(render.agent_label(agent))} is waiting for an operator's approval. "
                "I will tell you here when it is done.",
            )
            return
        if request.state is PairingState.SUCCEEDED:
            await self._reply(call, "That code was already approved: you can talk to your agent.")
            return
        await self._reply(
            call, f"I already have that code: {render.esc(render.user_pairing_words(request))}."
        )
