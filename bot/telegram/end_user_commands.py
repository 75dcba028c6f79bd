"""Admin commands about an agent's end user: `/invite`, `/unlink`, `/pair` and `/pending`.

An invite link goes only to the admin who asked, in a private chat (in a group whoever clicks
a link first is linked); pairing decisions go through the pairing desk, like the card buttons.
"""

from __future__ import annotations

import contextlib

from pydantic import SecretStr
from telegram.error import TelegramError

from bot.telegram import cards, render
from bot.telegram.admin_replies import Outcome, reply, working
from bot.telegram.call import Call
from bot.telegram.deps import BotDeps
from bot.telegram.pairing_desk import PairingDesk
from storage.models import Actor, Agent

MAX_PENDING_CARDS = 4


class EndUserCommands:
    def __init__(self, deps: BotDeps, desk: PairingDesk) -> None:
        self._deps = deps
        self._desk = desk

    def _invite_link(self, token: SecretStr) -> str:
        username = self._deps.messenger.bot.username
        return f"https://t.me/{username}?start={token.get_secret_value()}"

    async def invite_for(self, agent: Agent, *, chat_id: int, user_id: int, actor: Actor) -> str:
        """A new invite, as the text for the answer in `chat_id`: the link itself in the
        admin's private chat; asked in a group, the link goes to the admin privately (in a
        group whoever clicks it first is linked) and the group reads only where it went."""
        deps = self._deps
        issued = await deps.service.create_invite(agent.id, actor=actor)
        link = self._invite_link(issued.token)
        if chat_id == user_id:
            return render.invite_lines(link)
        sent = await deps.messenger.send(user_id, render.invite(agent, link))
        if sent is None:
            # Telegram refused (the admin never started a chat with the bot, or blocked it):
            # nobody holds this token, so it is withdrawn.
            await deps.service.withdraw_invite(issued.invite.id, actor=actor)
            return render.invite_not_delivered(agent, deps.messenger.bot.username)
        return render.invite_sent_privately(agent)

    async def invite(self, call: Call, values: dict[str, str]) -> None:
        agent = await self._deps.service.find_agent(values["agent"])
        shown = await self.invite_for(
            agent, chat_id=call.chat_id, user_id=call.user_id, actor=call.actor
        )
        await reply(
            self._deps, call, render.invite_in_private(agent, shown) if call.private else shown
        )

    async def unlink(self, call: Call, values: dict[str, str]) -> None:
        agent, previous = await self._deps.service.unlink_telegram_user(
            values["agent"], actor=call.actor
        )
        await reply(self._deps, call, render.unlinked(agent, previous))
        if previous is not None:
            # The released user is told: access to their agent never changes behind their back.
            with contextlib.suppress(TelegramError):
                await self._deps.messenger.send(previous, render.unlinked_user(agent))

    async def pair(self, call: Call, values: dict[str, str]) -> None:
        service = self._deps.service

        async def approve() -> Outcome:
            result = await service.approve_telegram_pairing(
                values["agent"], values["code"], actor=call.actor
            )
            text = await cards.pairing_card(
                self._deps.store,
                self._deps.people,
                result.request,
                render.pairing_outcome(result, self._deps.people.name(call.user_id)),
            )
            await self._desk.tell_user(result)
            return text, cards.keyboard_for_outcome(result)

        await working(self._deps, call, render.APPROVING_CODE, approve)

    async def pending(self, call: Call, values: dict[str, str]) -> None:
        deps = self._deps
        waiting = await deps.store.pairing.awaiting_decision()
        stuck = await deps.store.pairing.blocked_machines()
        await reply(deps, call, render.pending_header(len(waiting), len(stuck)))
        # A few cards at a time: Telegram allows about one message a second in a chat.
        for request in [*waiting, *stuck][:MAX_PENDING_CARDS]:
            if request in stuck:
                text, markup = await cards.stuck_card(deps.store, request)
                await reply(deps, call, text, markup)
            else:
                text, keyboard = await cards.current_card(deps.store, deps.people, request.id)
                await reply(deps, call, text, keyboard)
        hidden = len(waiting) + len(stuck) - MAX_PENDING_CARDS
        if hidden > 0:
            await reply(deps, call, render.pending_more(hidden))
