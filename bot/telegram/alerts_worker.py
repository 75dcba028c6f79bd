"""Delivers the storage outbox to the ops chat: nothing lost, nothing twice, within group limits.

Alerts are written to the outbox (persisted) by whoever raises them, before anything is sent.
Each round this worker claims the due ones (a lease, so a crash makes them due again), sends
them, and marks each sent only after Telegram accepted the message that carries it. Pairing
cards (`pairing_submitted`, `pairing_stuck`) go out one per message with their buttons; other
alerts of a round that are more than one are coalesced into a digest that names every alert it
covers, split into pages under Telegram's 4096 characters. The ops chat never gets more than
`ops_messages_per_window` messages per window (Telegram allows 20 a minute in a group): when a
round would exceed it, cards join the digest too, and no more is claimed than fits.

Failures: 429 → the alert waits `retry_after` and the worker pauses as long; 403 (the bot was
removed or blocked) → recorded, the alerts marked failed (kept, never deleted), not retried;
other errors (network, 5xx, Telegram down) → retried with exponential backoff per alert.
This worker never deletes an alert and never marks one sent before Telegram accepted it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from telegram import InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError

from bot.telegram import cards, render
from bot.telegram.deps import BotDeps
from bot.telegram.messenger import NO_PREVIEW
from bot.telegram.paging import split_pages
from storage.errors import NotFoundError, StateTransitionError
from storage.models import Alert

log = logging.getLogger("bot.telegram.alerts")

CARD_KINDS = frozenset({"pairing_submitted", "pairing_stuck"})
# A digest line is at most ~500 characters, so a page always holds this many.
ALERTS_PER_DIGEST_PAGE = 6


@dataclass(frozen=True)
class Outgoing:
    text: str
    keyboard: InlineKeyboardMarkup | None
    alerts: tuple[Alert, ...]


def retry_after_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():
        # PTB 22 deprecates the int form of this attribute; either form is read the same.
        warnings.simplefilter("ignore")
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def group_by_key(alerts: Sequence[Alert]) -> list[list[Alert]]:
    """Alerts of one round grouped by dedupe key (each alert without a key alone), in order."""
    groups: dict[str, list[Alert]] = {}
    ordered: list[list[Alert]] = []
    for alert in alerts:
        if alert.dedupe_key is None:
            ordered.append([alert])
            continue
        group = groups.get(alert.dedupe_key)
        if group is None:
            group = groups[alert.dedupe_key] = []
            ordered.append(group)
        group.append(alert)
    return ordered


class AlertWorker:
    def __init__(self, deps: BotDeps) -> None:
        self._deps = deps
        self._task: asyncio.Task[None] | None = None
        self._paused_until = 0.0

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="alert-delivery")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        due = self._deps.alerts_due
        while True:
            try:
                wait = await self.deliver_once()
            except Exception:
                log.exception("alert delivery round failed")
                wait = self._deps.options.alert_poll_interval_s
            if wait <= 0:
                continue
            due.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(due.wait(), timeout=wait)

    # --- one round ----------------------------------------------------------------------------

    async def deliver_once(self) -> float:
        """Send what is due now; returns how long to wait before the next round."""
        deps = self._deps
        options = deps.options
        paused = self._paused_until - time.monotonic()
        if paused > 0:
            return paused
        window = deps.messenger.ops_window
        budget = window.remaining()
        if budget <= 0:
            return max(window.wait_s(), 0.01)
        claimed = await deps.store.outbox.claim_due(
            lease=timedelta(seconds=options.alert_lease_s),
            limit=budget * ALERTS_PER_DIGEST_PAGE,
        )
        if not claimed:
            return options.alert_poll_interval_s
        plan = await self._plan(claimed, budget)
        for index, outgoing in enumerate(plan):
            try:
                await deps.messenger.bot.send_message(
                    deps.ops_chat_id,
                    outgoing.text,
                    parse_mode=ParseMode.HTML,
                    reply_markup=outgoing.keyboard,
                    link_preview_options=NO_PREVIEW,
                )
            except RetryAfter as error:
                wait = retry_after_seconds(error)
                self._paused_until = time.monotonic() + wait
                await self._retry_later(_alerts_of(plan[index:]), str(error), delay_s=wait)
                return wait
            except Forbidden as error:
                await deps.messenger.record_forbidden(deps.ops_chat_id, error)
                await self._give_up(_alerts_of(plan[index:]), f"ops chat refused: {error.message}")
                return options.alert_poll_interval_s
            except BadRequest as error:
                # This message was refused as such; the rest of the round may still go out.
                log.error("ops chat refused an alert message: %s", error.message)
                await self._retry_later(outgoing.alerts, f"refused: {error.message}")
                continue
            except ChatMigrated as error:
                log.critical(
                    "the ops chat became a supergroup: set FLYAGENTS_OPS_CHAT_ID=%s",
                    error.new_chat_id,
                )
                await self._retry_later(_alerts_of(plan[index:]), "ops chat migrated")
                return options.alert_backoff_max_s
            except TelegramError as error:
                log.warning("alert delivery failed, will retry: %s", error)
                await self._retry_later(_alerts_of(plan[index:]), f"send failed: {error}")
                backoff = options.alert_backoff_base_s
                self._paused_until = time.monotonic() + backoff
                return backoff
            window.record()
            for alert in outgoing.alerts:
                with contextlib.suppress(StateTransitionError):
                    await deps.store.outbox.mark_sent(alert.id)
        return 0.0

    async def _plan(self, claimed: Sequence[Alert], budget: int) -> list[Outgoing]:
        card_alerts = [a for a in claimed if a.kind in CARD_KINDS]
        groups = group_by_key([a for a in claimed if a.kind not in CARD_KINDS])
        if len(groups) == 1:
            group = groups[0]
            others = [Outgoing(render.alert(group[-1]), None, tuple(group))]
        else:
            others = self._digest(groups)
        if len(card_alerts) + len(others) <= budget:
            rendered = [await self._card(alert) for alert in card_alerts]
            return rendered + others
        # Over the budget: one digest for everything (cards are listed, /pending shows them).
        everything = group_by_key(claimed)
        return self._digest(everything)

    def _digest(self, groups: list[list[Alert]]) -> list[Outgoing]:
        if not groups:
            return []
        count = sum(len(group) for group in groups)
        lines = [render.digest_line(group) for group in groups]
        header = render.digest_header(count)
        if any(group[0].kind in CARD_KINDS for group in groups):
            header += "\n<i>It lists pairing requests: decide them with /pending.</i>"
        return [
            Outgoing(
                page.text,
                None,
                tuple(alert for group in groups[page.start : page.end] for alert in group),
            )
            for page in split_pages(lines, header=header)
        ]

    async def _card(self, alert: Alert) -> Outgoing:
        deps = self._deps
        request_id = alert.payload.get("request_id")
        if isinstance(request_id, str):
            try:
                request = await deps.store.pairing.get(request_id)
            except NotFoundError:
                return Outgoing(render.alert(alert), None, (alert,))
            if alert.kind == "pairing_stuck":
                text, markup = await cards.stuck_card(deps.store, request)
                return Outgoing(text, markup, (alert,))
            text = await cards.pairing_card(deps.store, deps.people, request)
            return Outgoing(text, cards.keyboard_for_state(request), (alert,))
        return Outgoing(render.alert(alert), None, (alert,))

    # --- failures -----------------------------------------------------------------------------

    def _backoff_s(self, alert: Alert) -> float:
        options = self._deps.options
        delay = min(options.alert_backoff_max_s, options.alert_backoff_base_s * 2.0**alert.attempts)
        return delay * random.uniform(0.5, 1.0)

    async def _retry_later(
        self, alerts: Sequence[Alert], error: str, *, delay_s: float | None = None
    ) -> None:
        store = self._deps.store
        for alert in alerts:
            wait = delay_s if delay_s is not None else self._backoff_s(alert)
            with contextlib.suppress(StateTransitionError):
                await store.outbox.mark_failed_attempt(
                    alert.id, error, retry_at=store.clock() + timedelta(seconds=wait)
                )

    async def _give_up(self, alerts: Sequence[Alert], error: str) -> None:
        for alert in alerts:
            with contextlib.suppress(StateTransitionError):
                await self._deps.store.outbox.mark_failed_attempt(alert.id, error, retry_at=None)


def _alerts_of(plan: Sequence[Outgoing]) -> list[Alert]:
    return [alert for outgoing in plan for alert in outgoing.alerts]
