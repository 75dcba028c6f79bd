"""Errors as the people in the chat see them.

Expected refusals (bad input, unknown agent, a busy agent, a failed operation) carry messages
written for admins and become one polite reply: the fleet's errors (`FleetError`, the store's
refusals included, turned into fleet errors at its boundary; `InvalidInput` from its input
checks) and this layer's own parse errors. Anything else reaches the global error handler:
the user is told that something went wrong with a short reference id, the ops chat gets an alert
with the same id, and the full traceback goes to the log only. A reply never contains a
traceback, a raw API body or a secret.
"""

from __future__ import annotations

import logging
import secrets

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.fleet import (
    FleetError,
    InvalidInput,
    InvalidInputs,
    InvalidRequest,
    InviteRefused,
    RecordNotFound,
    VaultNotConfigured,
)
from bot.telegram import render
from bot.telegram.messenger import Messenger
from bot.telegram.parsing import ParseError
from storage import Store
from storage.models import AlertKind, AlertSeverity

log = logging.getLogger("bot.telegram.errors")

EXPECTED_ERRORS: tuple[type[Exception], ...] = (FleetError, InvalidInput, ParseError)


def explain(error: Exception) -> str:
    """An expected error as one polite HTML reply."""
    if isinstance(error, InvalidRequest | InvalidInputs):
        return render.not_accepted(error.problems)
    if isinstance(error, VaultNotConfigured):
        return render.VAULT_NOT_CONFIGURED
    if isinstance(error, InviteRefused):
        return render.invite_refused(error)
    if isinstance(error, RecordNotFound):
        return render.NOT_FOUND
    return render.esc(str(error), 1500)


def reference_id() -> str:
    return secrets.token_hex(3)


class ErrorReporter:
    """PTB's global error handler: a reference id for the user, an alert for ops."""

    def __init__(self, messenger: Messenger, store: Store) -> None:
        self._messenger = messenger
        self._store = store

    async def __call__(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        ref = reference_id()
        where = _describe(update)
        log.error(
            "unhandled error ref=%s while handling %s",
            ref,
            where,
            exc_info=(type(error), error, error.__traceback__) if error is not None else None,
        )
        if isinstance(update, Update) and update.callback_query is not None:
            try:
                await update.callback_query.answer(render.bot_error_button(ref))
            except TelegramError as answer_error:
                log.info("could not answer the button of error ref=%s: %s", ref, answer_error)
        if isinstance(update, Update) and update.effective_chat is not None:
            try:
                await self._messenger.send(
                    update.effective_chat.id,
                    render.bot_error(ref),
                )
            except TelegramError as reply_error:
                log.warning("could not tell the user about error ref=%s: %s", ref, reply_error)
        kind = type(error).__name__ if error is not None else "unknown"
        await self._store.outbox.enqueue(
            AlertKind.BOT_ERROR,
            render.bot_error_alert(ref, where, kind),
            severity=AlertSeverity.WARNING,
            payload={"ref": ref},
        )


def _describe(update: object) -> str:
    """Which command or button failed, without the text (it may hold a secret)."""
    if not isinstance(update, Update):
        return "a background job"
    who = update.effective_user.id if update.effective_user else "unknown"
    if update.callback_query is not None:
        action = (update.callback_query.data or "").split(":", 1)[0][:8]
        return f"button {action} from user {who}"
    message = update.effective_message
    text = message.text if message is not None and message.text else ""
    if text.startswith("/"):
        command = text.split(maxsplit=1)[0].split("@", 1)[0][:33]
        return f"command {command} from user {who}"
    return f"a message from user {who}"
