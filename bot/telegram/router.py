"""Where every command and text message goes, by the sender's role.

Order matters and is fixed here: a `/secret` that carries a value, or a `/tenant` that may
carry one, is deleted first, whoever sent it (the admin's reply says whether that worked);
then the sender's role and own agents are read from the store, once per update, and the end
user's handlers act on exactly those agents; admins reach the admin commands (and their pending
guided question), linked end users reach `/pair`, `/status`, `/help` and the bare-code flow,
and anyone else gets one polite line (at most one per `refusal_window_s`, then silence, as
does an end user's admin command). `/start <invite>` is open to everyone, since it is
how an end user becomes one. Texts in groups are ignored unless they answer a guided question.
The router never carries out a command itself and never logs a message's text.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from telegram import Update
from telegram.ext import ContextTypes

from bot.telegram import render
from bot.telegram.admin_handlers import AdminCommands
from bot.telegram.auth import Caller, Role
from bot.telegram.call import Call
from bot.telegram.commands import ADMIN_BY_NAME, USER_BY_NAME, Ask
from bot.telegram.deps import BotDeps
from bot.telegram.guide import is_secret_question
from bot.telegram.parsing import (
    CommandText,
    looks_like_secret,
    split_command,
    tenant_text_may_hold_secret,
)
from bot.telegram.user_handlers import UserCommands
from storage.models import Agent

log = logging.getLogger("bot.telegram.router")


class Router:
    def __init__(self, deps: BotDeps, admin: AdminCommands, users: UserCommands) -> None:
        self._deps = deps
        self._admin = admin
        self._users = users

    async def _call(self, update: Update) -> tuple[Call, Caller, str] | None:
        message = update.effective_message
        user = update.effective_user
        chat = update.effective_chat
        if message is None or user is None or chat is None or not message.text:
            return None
        if user.is_bot:
            return None
        self._deps.people.remember(user)
        if chat.type == "private":
            self._deps.messenger.heard_from(chat.id)
        caller = await self._deps.auth.identify(user.id)
        call = Call.of(update, caller.role)
        return (call, caller, message.text) if call is not None else None

    async def on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or not message.text:
            return
        # Anything that is not one of ours reads as an unknown command.
        parsed = split_command(message.text) or CommandText("", "")
        mention = parsed.addressed_to
        if mention is not None and mention.lower() != (context.bot.username or "").lower():
            return
        deleted: bool | None = None
        if (parsed.name == "secret" and looks_like_secret(parsed.rest)) or (
            parsed.name == "tenant" and tenant_text_may_hold_secret(parsed.rest)
        ):
            # Before anything else, so the value is gone even if what follows fails.
            deleted = await self._deps.messenger.delete(message.chat_id, message.message_id)
        found = await self._call(update)
        if found is None:
            return
        call, caller, _ = found
        # A new command ends any question still waiting for an answer.
        pending = self._deps.flows.current(call.chat_id, call.user_id)
        if pending is not None:
            self._deps.flows.finish(pending)
        name, rest = parsed.name, parsed.rest
        if name == "start" and rest:
            await self._users.start(call, rest)
        elif call.role is Role.ADMIN:
            await self._admin_command(call, name, rest, deleted)
        elif call.role is Role.USER:
            await self._user_command(call, caller.agents, name, rest)
        else:
            await self._refuse(call, render.STRANGER_LINE)

    async def _admin_command(self, call: Call, name: str, rest: str, deleted: bool | None) -> None:
        if call.private:
            await self._deps.menus.ensure_admin(call.chat_id)
        if name == "start":
            name = "help"
        if name in ADMIN_BY_NAME:
            await self._admin.handle(call, name, rest, message_deleted=deleted)
        else:
            await self._deps.messenger.send(call.chat_id, render.UNKNOWN_COMMAND_LINE)

    async def _user_command(
        self, call: Call, agents: Sequence[Agent], name: str, rest: str
    ) -> None:
        if name == "start":
            await self._users.help(call)
        elif name in USER_BY_NAME:
            await self._users.handle(call, agents, name, rest)
        elif name in ADMIN_BY_NAME:
            await self._refuse(call, render.ADMIN_ONLY_LINE)
        else:
            await self._deps.messenger.send(call.chat_id, render.UNKNOWN_COMMAND_LINE)

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if await self._expired_secret_answer(update, context.bot.id):
            return
        found = await self._call(update)
        if found is None:
            return
        call, caller, text = found
        if call.role is Role.ADMIN:
            flow = self._deps.flows.current(call.chat_id, call.user_id)
            if flow is not None:
                await self._admin.guide.answer_text(call, flow, text)
                return
        if not call.private:
            return
        if call.role is Role.USER:
            await self._users.text(call, caller.agents, text)
        elif call.role is Role.ADMIN:
            await self._deps.messenger.send(call.chat_id, render.ADMIN_PLAIN_TEXT_LINE)
        else:
            await self._refuse(call, render.STRANGER_LINE)

    async def _refuse(self, call: Call, line: str) -> None:
        """One polite refusal per person per window, then silence: a flood costs no sends, so
        it can neither fill the chat's send pacing nor Telegram's limits for everyone else."""
        if self._deps.refusals.try_take((call.user_id, line)):
            await self._deps.messenger.send(call.chat_id, line)

    async def _expired_secret_answer(self, update: Update, bot_id: int) -> bool:
        """Delete a text that answers a secret question no live flow is waiting for.

        Recognised without the in-memory flow, which a timeout, a restart or another command
        ended: a reply to the bot's own secret question, or in a private chat the first text
        after a secret question (remembered in the store). A live flow asking for the secret
        handles its answer itself (deleting it first).
        """
        message = update.effective_message
        user = update.effective_user
        if message is None or user is None or not message.text or user.is_bot:
            return False
        replies_to_question = is_secret_question(message.reply_to_message, bot_id)
        if not replies_to_question and (
            message.chat.type != "private"
            or await self._deps.store.secret_questions.pending(message.chat_id) is None
        ):
            return False
        flow = self._deps.flows.current(message.chat_id, user.id)
        if flow is not None and flow.asking is Ask.SECRET:
            return False
        await self._admin.guide.answer_expired_secret(message.chat_id, message.message_id)
        return True
