"""Button presses: decode the callback data, check the presser is an admin, dispatch.

Every press is answered (else the client shows a spinner), and answered before a long
operation starts. Decisions that must happen once (approve, reject, confirm, a guided pick)
are taken atomically in this process before anything else is awaited, so double taps and two
admins pressing at once are told who is on it; the ledger guarantees it across processes.
A button never grants anything by itself: its data only names what to do, the presser is
checked on every press.

Answering a press is feedback, not the decision: when the answer fails (Telegram answers
5xx, or its 15 s answer window passed while the update waited) the press is still carried
out, and a hold taken for it is released on every path.
"""

from __future__ import annotations

import logging

from telegram import CallbackQuery, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.telegram import keyboards, render
from bot.telegram.admin_handlers import AdminCommands
from bot.telegram.auth import Role
from bot.telegram.call import Call
from bot.telegram.callback_data import Action, CallbackData, decode
from bot.telegram.confirmations import TakeRefusal
from bot.telegram.deps import BotDeps
from bot.telegram.pairing_desk import PairingDesk

log = logging.getLogger("bot.telegram.callbacks")


async def answer(
    query: CallbackQuery, text: str | None = None, *, show_alert: bool = False
) -> None:
    """Answer a press; a failed answer is logged, never raised: the press still counts."""
    try:
        await query.answer(text, show_alert=show_alert)
    except TelegramError as error:
        log.warning("could not answer a button press (%s): carrying on", type(error).__name__)


class Callbacks:
    def __init__(self, deps: BotDeps, desk: PairingDesk, admin: AdminCommands) -> None:
        self._deps = deps
        self._desk = desk
        self._admin = admin

    async def on_press(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        user = query.from_user
        self._deps.people.remember(user)
        data = decode(query.data)
        if data is None or query.message is None:
            await answer(query, render.STALE_BUTTON)
            return
        if not self._deps.auth.is_admin(user.id):
            # Refused once per window; further presses get no answer (the button's spinner
            # stops by itself), so a stranger's presses cost no Bot API calls.
            if self._deps.refusals.try_take((user.id, render.ADMIN_ONLY_LINE)):
                await answer(query, render.ADMIN_ONLY_LINE, show_alert=True)
            return
        call = Call(
            chat_id=query.message.chat.id,
            chat_type=query.message.chat.type,
            user_id=user.id,
            role=Role.ADMIN,
            message_id=query.message.message_id,
        )
        await self._dispatch(query, data, call, query.message.message_id)

    async def _dispatch(
        self, query: CallbackQuery, data: CallbackData, call: Call, message_id: int
    ) -> None:
        action = data.action
        if action in (Action.APPROVE, Action.RETRY, Action.REJECT):
            await self._decide(query, data, call, message_id)
        elif action is Action.RESTART:
            await self._restart(query, data.arg, call, message_id)
        elif action in (Action.CONFIRM, Action.CANCEL):
            await self._confirmation(query, data, call, message_id)
        elif action is Action.PAGE:
            await self._page(query, data, call, message_id)
        else:
            await self._guide(query, data, call, message_id)

    async def _decide(
        self, query: CallbackQuery, data: CallbackData, call: Call, message_id: int
    ) -> None:
        request_id = data.arg
        name = self._deps.people.name(call.user_id)
        holder = self._desk.take_request(request_id, name)
        if holder is not None:
            await answer(query, render.decision_taken(holder))
            return
        # From here the hold is ours: released whatever happens below (the desk releases it
        # as soon as the ledger holds the outcome; this is the backstop).
        try:
            if data.action is Action.REJECT:
                await answer(query, render.REJECTING)
                await self._desk.reject(
                    chat_id=call.chat_id,
                    message_id=message_id,
                    admin_id=call.user_id,
                    request_id=request_id,
                )
                return
            await answer(query, render.APPROVING_ONCE)
            await self._desk.approve(
                chat_id=call.chat_id,
                message_id=message_id,
                admin_id=call.user_id,
                request_id=request_id,
            )
        finally:
            self._desk.release_request(request_id)

    async def _restart(
        self, query: CallbackQuery, agent_id: str, call: Call, message_id: int
    ) -> None:
        holder = self._desk.take_restart(agent_id, self._deps.people.name(call.user_id))
        if holder is not None:
            await answer(query, render.restart_taken_answer(holder))
            return
        try:
            await answer(query, render.RESTARTING_MACHINE)
            await self._deps.messenger.clear_keyboard(call.chat_id, message_id)
            await self._desk.restart(
                chat_id=call.chat_id, admin_id=call.user_id, agent_ref=agent_id, reply_to=message_id
            )
        finally:
            self._desk.release_restart(agent_id)

    async def _confirmation(
        self, query: CallbackQuery, data: CallbackData, call: Call, message_id: int
    ) -> None:
        taken = self._deps.confirmations.take(data.arg, call.user_id)
        if taken is TakeRefusal.GONE:
            await answer(query, render.CONFIRMATION_GONE)
            return
        if taken is TakeRefusal.NOT_YOURS:
            await answer(query, render.CONFIRMATION_NOT_YOURS)
            return
        if data.action is Action.CANCEL:
            await answer(query, render.CANCELLED)
            await self._deps.messenger.edit(
                call.chat_id, message_id, render.cancelled(taken.target_label)
            )
            return
        await answer(query, render.CONFIRMED)
        await self._admin.confirmed(call, taken, message_id)

    async def _page(
        self, query: CallbackQuery, data: CallbackData, call: Call, message_id: int
    ) -> None:
        token, raw_index = data.args
        found = self._deps.pages.get(token, int(raw_index)) if raw_index.isdigit() else None
        if found is None:
            await answer(query, render.LIST_EXPIRED)
            return
        text, total = found
        await answer(query)
        await self._deps.messenger.edit(
            call.chat_id, message_id, text, keyboards.pages(token, int(raw_index), total)
        )

    async def _guide(
        self, query: CallbackQuery, data: CallbackData, call: Call, message_id: int
    ) -> None:
        flow = self._deps.flows.by_token(data.arg, call.chat_id, call.user_id)
        if flow is None:
            await answer(query, render.QUESTION_GONE)
            return
        await self._deps.messenger.clear_keyboard(call.chat_id, message_id)
        if data.action is Action.GUIDE_CANCEL:
            await self._admin.guide.cancel(flow)
            await answer(query, render.CANCELLED)
            return
        await answer(query)
        index = data.args[1]
        await self._admin.guide.pick(call, flow, int(index) if index.isdigit() else -1)
