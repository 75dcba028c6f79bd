"""Sending, editing and deleting messages, with Telegram's answers handled in one place.

Every text goes out in HTML parse mode. "Message is not modified" is harmless and ignored. A
403 (blocked by the user, deactivated) is recorded in the audit log once and that chat is not
written to again until the user writes to the bot; it is never retried. Messages to the ops
chat are counted against its per-minute budget, which the alert worker also draws on. This
module never renders text (see `render`) and never decides who may see what.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import (
    Bot,
    ForceReply,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden

from bot.telegram import keyboards
from bot.telegram.paging import PageStore, fits, paginate, shortened
from bot.telegram.rate_limit import ChatPacer, SlidingWindow
from storage import Store
from storage.models import AuditOutcome

log = logging.getLogger("bot.telegram.messenger")
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


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
            actor="system:telegram",
            action="telegram.blocked",
            target=f"tg:{chat_id}",
            outcome=AuditOutcome.FAILED,
            detail={"reason": error.message[:200]},
        )

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
        if chat_id in self._blocked:
            return None
        if not fits(text) and keyboard is None:
            # A safety net: renderers keep texts short, but a list never gets cut off.
            return await self.send_lines(chat_id, text.split("\n"))
        if chat_id > 0:
            wait = self.pacer.reserve(chat_id)
            if wait > 0:
                await asyncio.sleep(wait)
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
        try:
            await self.bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)
        except BadRequest as error:
            if not is_not_modified(error):
                log.info("could not remove buttons of %s in %s: %s", message_id, chat_id, error)

    async def delete(self, chat_id: int, message_id: int) -> bool:
        try:
            return await self.bot.delete_message(chat_id, message_id)
        except BadRequest as error:
            log.warning("could not delete message %s in chat %s: %s", message_id, chat_id, error)
            return False
        except Forbidden as error:
            await self.record_forbidden(chat_id, error)
            return False
