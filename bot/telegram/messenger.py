"""Sending, editing and deleting messages, with Telegram's answers handled in one place.

Every text goes out in HTML parse mode. "Message is not modified" is harmless and ignored. A
403 (blocked by the user, deactivated) is recorded in the audit log once and that chat is not
written to again until the user writes to the bot; it is never retried. Messages to the ops
chat are counted against its per-minute budget, which the alert worker also draws on.

A group that Telegram upgraded to a supergroup answers every call with the supergroup's id
(`ChatMigrated`). The messenger follows it: the send is repeated there, and from then on its
messages go there; an edit of a message that stayed behind in the group's history becomes a
new message in the supergroup, which later edits of it then change. When the group was the ops
chat, the ops chat id follows too, once, with a critical alert telling operators to update
FLYAGENTS_OPS_CHAT_ID; `on_ops_chat_moved` listeners (the menus, the alert worker) follow it.
This module never renders text (see `render`) and never decides who may see what.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from telegram import (
    Bot,
    ForceReply,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, TelegramError

from bot.telegram import keyboards, render
from bot.telegram.paging import PageStore, fits, paginate, shortened
from bot.telegram.rate_limit import ChatPacer, SlidingWindow
from bot.telegram.update_order import lend_slot
from storage import Store
from storage.models import Actor, AlertKind, AlertSeverity, AuditOutcome

log = logging.getLogger("bot.telegram.messenger")
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
# Told (old chat id, new chat id) when Telegram answers that a group became a supergroup.
ChatMoveListener = Callable[[int, int], Awaitable[None]]


def is_not_modified(error: BadRequest) -> bool:
    return "not modified" in error.message.lower()


class Messenger:
    def __init__(
        self,
        bot: Bot,
        store: Store,
        ops_chat_id: int,
        ops_window: SlidingWindow,
        pages: PageStore,
        pacer: ChatPacer,
    ) -> None:
        self.bot = bot
        self.pacer = pacer
        self.ops_chat_id = ops_chat_id
        self.ops_window = ops_window
        self._store = store
        self._pages = pages
        self._blocked: set[int] = set()
        # Groups that became supergroups (old id -> new id), as Telegram answered. Kept in
        # memory only: after a restart the first call to an old id meets the same answer and
        # the move is followed again, so nothing needs to persist.
        self._moved_chats: dict[int, int] = {}
        # Messages of such a group re-sent in its supergroup: (old chat, old id) -> new id.
        self._relocated: dict[tuple[int, int], int] = {}
        self._ops_move_listeners: list[ChatMoveListener] = []

    # --- blocked chats ----------------------------------------------------------------------------

    def is_blocked(self, chat_id: int) -> bool:
        return chat_id in self._blocked

    def heard_from(self, chat_id: int) -> None:
        """The user wrote to the bot, so they no longer block it."""
        self._blocked.discard(chat_id)

    async def record_forbidden(self, chat_id: int, error: Forbidden) -> None:
        if chat_id in self._blocked:
            return
        self._blocked.add(chat_id)
        log.warning("chat %s refuses messages: %s", chat_id, error.message)
        await self._store.audit.record(
            actor=str(Actor.system("telegram")),
            action="telegram.blocked",
            target=f"tg:{chat_id}",
            outcome=AuditOutcome.FAILED,
            detail={"reason": error.message[:200]},
        )

    # --- groups that became supergroups ---------------------------------------------------------

    def on_ops_chat_moved(self, listener: ChatMoveListener) -> None:
        """Call `listener` once the ops chat followed its group's move to a supergroup."""
        self._ops_move_listeners.append(listener)

    def where_now(self, chat_id: int, message_id: int | None = None) -> tuple[int, int | None]:
        """Where a chat (and a message of it) is now. A message that stayed behind in a group
        that became a supergroup is None unless it was re-sent there."""
        moved_to = self._moved_chats.get(chat_id)
        if moved_to is None:
            return chat_id, message_id
        if message_id is None:
            return moved_to, None
        return moved_to, self._relocated.get((chat_id, message_id))

    async def follow_chat_move(self, old_chat_id: int, new_chat_id: int) -> None:
        """Telegram answered that `old_chat_id` became the supergroup `new_chat_id`: write
        there from now on. For the ops chat, once: a warning in the log, a critical alert for
        the operators (through the outbox, so it reaches the new chat) and the listeners."""
        if old_chat_id in self._moved_chats or old_chat_id == new_chat_id:
            return
        self._moved_chats[old_chat_id] = new_chat_id
        if old_chat_id != self.ops_chat_id:
            log.info("chat %s became the supergroup %s; writing there", old_chat_id, new_chat_id)
            return
        self.ops_chat_id = new_chat_id
        log.warning(
            "the ops chat %s became the supergroup %s; following it. Set "
            "FLYAGENTS_OPS_CHAT_ID=%s before the next restart",
            old_chat_id,
            new_chat_id,
            new_chat_id,
        )
        await self._store.outbox.enqueue(
            AlertKind.OPS_CHAT_MIGRATED,
            render.ops_chat_moved(new_chat_id),
            severity=AlertSeverity.CRITICAL,
            dedupe_key=f"{AlertKind.OPS_CHAT_MIGRATED}:{new_chat_id}",
            payload={"from_chat_id": old_chat_id, "to_chat_id": new_chat_id},
        )
        await self._store.audit.record(
            actor=str(Actor.system("telegram")),
            action="telegram.ops_chat_moved",
            target=f"tg:{new_chat_id}",
            outcome=AuditOutcome.OK,
            detail={"from_chat_id": old_chat_id, "to_chat_id": new_chat_id},
        )
        for listener in self._ops_move_listeners:
            try:
                await listener(old_chat_id, new_chat_id)
            except TelegramError as error:
                # The move is followed regardless; what a listener could not do is only logged.
                log.warning("after the ops chat moved to %s: %s", new_chat_id, error)

    async def _relocate(
        self, chat_id: int, message_id: int, text: str, keyboard: InlineKeyboardMarkup | None
    ) -> None:
        """An edit of a message left behind in a group that became a supergroup: nobody reads
        the group any more, so the new content goes to the supergroup as a new message."""
        sent = await self.send(chat_id, text, keyboard)
        if sent is not None:
            self._relocated[(chat_id, message_id)] = sent.message_id

    # --- sending ------------------------------------------------------------------------------

    async def send(
        self,
        chat_id: int,
        text: str,
        keyboard: InlineKeyboardMarkup | ForceReply | None = None,
        *,
        reply_to: int | None = None,
    ) -> Message | None:
        """Send `text` (HTML); None when the chat blocks the bot."""
        chat_id, reply_to = self.where_now(chat_id, reply_to)
        if chat_id in self._blocked:
            return None
        if not fits(text) and keyboard is None:
            # A safety net: renderers keep texts short, but a list never gets cut off.
            return await self.send_lines(chat_id, text.split("\n"))
        if chat_id > 0:
            wait = self.pacer.reserve(chat_id)
            if wait > 0:
                # Waiting is not work: the update's slot serves other chats meanwhile.
                async with lend_slot():
                    await asyncio.sleep(wait)
        try:
            return await self._send_once(chat_id, text, keyboard, reply_to)
        except ChatMigrated as error:
            await self.follow_chat_move(chat_id, error.new_chat_id)
        # Once more where the group went. A supergroup never moves again, so a second refusal
        # is a real error and propagates.
        chat_id, reply_to = self.where_now(chat_id, reply_to)
        return await self._send_once(chat_id, text, keyboard, reply_to)

    async def _send_once(
        self,
        chat_id: int,
        text: str,
        keyboard: InlineKeyboardMarkup | ForceReply | None,
        reply_to: int | None,
    ) -> Message | None:
        try:
            message = await self.bot.send_message(
                chat_id,
                text if fits(text) else shortened(text),
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard,
                reply_parameters=(
                    None
                    if reply_to is None
                    else ReplyParameters(reply_to, allow_sending_without_reply=True)
                ),
                link_preview_options=NO_PREVIEW,
            )
        except Forbidden as error:
            await self.record_forbidden(chat_id, error)
            return None
        if chat_id == self.ops_chat_id:
            self.ops_window.record()
        return message

    async def send_lines(
        self,
        chat_id: int,
        lines: list[str],
        *,
        header: str = "",
        max_lines: int | None = None,
    ) -> Message | None:
        """A list, paginated with ◀ ▶ buttons when it does not fit one message."""
        pages = paginate(lines, header=header, max_lines=max_lines)
        if len(pages) == 1:
            return await self.send(chat_id, pages[0])
        token = self._pages.put(pages)
        return await self.send(chat_id, pages[0], keyboards.pages(token, 0, len(pages)))

    async def edit(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        keyboard: InlineKeyboardMarkup | None = None,
    ) -> None:
        try:
            await self._edit_once(chat_id, message_id, text, keyboard)
        except ChatMigrated as error:
            await self.follow_chat_move(chat_id, error.new_chat_id)
            await self._edit_once(chat_id, message_id, text, keyboard)

    async def _edit_once(
        self, chat_id: int, message_id: int, text: str, keyboard: InlineKeyboardMarkup | None
    ) -> None:
        current_chat, current_message = self.where_now(chat_id, message_id)
        if current_message is None:
            await self._relocate(chat_id, message_id, text, keyboard)
            return
        chat_id, message_id = current_chat, current_message
        try:
            await self.bot.edit_message_text(
                text if fits(text) else shortened(text),
                chat_id=chat_id,
                message_id=message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard,
                link_preview_options=NO_PREVIEW,
            )
        except BadRequest as error:
            if not is_not_modified(error):
                raise
        except Forbidden as error:
            await self.record_forbidden(chat_id, error)

    async def clear_keyboard(self, chat_id: int, message_id: int) -> None:
        chat_id, current_message = self.where_now(chat_id, message_id)
        if current_message is None:
            return  # left behind in a group that became a supergroup: nobody can press it
        try:
            await self.bot.edit_message_reply_markup(chat_id, current_message, reply_markup=None)
        except ChatMigrated as error:
            await self.follow_chat_move(chat_id, error.new_chat_id)
        except BadRequest as error:
            if not is_not_modified(error):
                log.info("could not remove buttons of %s in %s: %s", message_id, chat_id, error)

    async def delete(self, chat_id: int, message_id: int) -> bool:
        chat_id, current_message = self.where_now(chat_id, message_id)
        if current_message is None:
            return False  # left behind in a group that became a supergroup
        try:
            return await self.bot.delete_message(chat_id, current_message)
        except ChatMigrated as error:
            await self.follow_chat_move(chat_id, error.new_chat_id)
            return False
        except BadRequest as error:
            log.warning("could not delete message %s in chat %s: %s", message_id, chat_id, error)
            return False
        except Forbidden as error:
            await self.record_forbidden(chat_id, error)
            return False
