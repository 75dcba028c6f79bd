"""Delivers the storage outbox to the ops chat: nothing lost, nothing twice, within group limits.

Alerts are written to the outbox (persisted) by whoever raises them, before anything is sent.
Each round this worker claims the due ones (a lease, so a crash makes them due again), sends
them, and marks each sent only after Telegram accepted the message that carries it. Pairing
cards (`pairing_submitted`, `pairing_stuck`) go out one per message with their buttons; a lone
alert goes out with its whole sentence; more are coalesced into a digest grouped by kind: one
title per kind with its sentence (ids shown as placeholders, `/wake AGENT`), then the subject of
every alert (its agent id, else machine id, …) a few to a line, split into pages under
Telegram's 4096 characters. The ops chat never gets more than `ops_messages_per_window`
messages per window (Telegram allows 20 a minute in a group): when a round would exceed it,
cards join the digest too, and no more is claimed than fits.

Pacing: the budget is spent evenly. After a round that sent k messages the next round waits
k × `ops_window_s / ops_messages_per_window`, so during a storm each message carries everything
that piled up meanwhile instead of the budget going on small messages in the first seconds;
after a quiet spell the first alert goes at once.

Failures: 429 → the alert waits `retry_after` and the worker pauses as long; 403 (the bot was
removed or blocked) → recorded, the alerts marked failed (kept, never deleted), not retried;
other errors (network, 5xx, Telegram down) → retried with exponential backoff (by the attempts
of the alerts that failed together, which are retried together); "group chat was upgraded to
a supergroup" → the ops chat follows the supergroup (`Messenger.follow_chat_move`) and the
message is sent there at once, in the same round.
A send that got no answer in time (`TimedOut`: the request went out, Telegram may well have
carried it out) has an unknown outcome, not a failure: its alerts are resent once, with a line
saying the message may be a duplicate; if the resend's answer is lost too they are given up
(status failed, kept, with a reason) rather than posted a third time. So the ops chat holds
an alert at most twice, and twice only when an answer was lost. Requests that never left
(`NotSent`) and refusals are failures as above. A dropped connection is retried as a failure
too: it is what an outage looks like, when Telegram carries out nothing, and giving up alerts
during an outage would be worse than a rare duplicate.
This worker never deletes an alert and never marks one sent before Telegram accepted it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from telegram import InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.telegram import cards, render
from bot.telegram.deps import BotDeps
from bot.telegram.messenger import NO_PREVIEW
from bot.telegram.paging import PAGE_BUDGET, split_pages, with_counter
from storage.errors import NotFoundError, StateTransitionError
from storage.models import Alert, AlertKind

log = logging.getLogger("bot.telegram.alerts")

CARD_KINDS = frozenset({AlertKind.PAIRING_SUBMITTED, AlertKind.PAIRING_STUCK})
# A digest names an alert in ~16 characters (an agent id and a space), this many to a line
# (~135 characters), so a page (Telegram takes 4096) holds ~25 such lines after its titles.
IDS_PER_DIGEST_LINE = 8
# How many alerts a round claims per message it may send: one page of agent ids. Longer
# subjects only make a digest a page longer; the window is checked before each page.
ALERTS_PER_DIGEST_PAGE = 200
# Room kept on every page for the "(continued)" title of a kind cut by a page break.
_CONTINUED_ROOM = 120
# Marks (in `last_error`, so it survives a restart) an alert that was sent once with no answer:
# it has had its one resend. Kept on every later error of that alert.
OUTCOME_UNKNOWN = "outcome unknown"


@dataclass(frozen=True)
class Outgoing:
    text: str
    keyboard: InlineKeyboardMarkup | None
    alerts: tuple[Alert, ...]


@dataclass(frozen=True)
class _DigestLine:
    text: str
    # The alerts this line names (none for a kind's title).
    alerts: tuple[Alert, ...]
    # What a page that begins with this line shows first, so its ids keep their kind.
    continued: str | None


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
        self._stop_listening: Callable[[], None] | None = None
        self._paused_until = 0.0
        # When the next ops message may go (monotonic): the even share of the budget.
        self._next_slot = 0.0

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            # Every alert queued in this process wakes the worker once committed, wherever it
            # was queued (a handler, the fleet, a ledger transaction): nobody has to remember.
            self._stop_listening = self._deps.store.outbox.on_enqueued(self._deps.alerts_due.set)
            self._task = asyncio.create_task(self._loop(), name="alert-delivery")

    async def stop(self) -> None:
        if self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        due = self._deps.alerts_due
        while True:
            # Cleared before the round, so an alert queued while the round runs (after its
            # claim looked) wakes the next round at once instead of waiting for the poll.
            due.clear()
            try:
                wait = await self.deliver_once()
            except Exception:
                log.exception("alert delivery round failed")
                wait = self._deps.options.alert_poll_interval_s
            if wait <= 0:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(due.wait(), timeout=wait)

    # --- one round ----------------------------------------------------------------------------

    async def deliver_once(self) -> float:
        """Send what is due now; returns how long to wait before the next round."""
        deps = self._deps
        options = deps.options
        paused = max(self._paused_until, self._next_slot) - time.monotonic()
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
            if window.remaining() <= 0:
                # A digest came out longer than the window allows now: the rest waits for it.
                wait = max(window.wait_s(), 0.01)
                await self._retry_later(
                    _alerts_of(plan[index:]),
                    "waiting for the ops chat's message budget",
                    delay_s=wait,
                )
                return wait
            if any(_resending(alert) for alert in outgoing.alerts):
                outgoing = dataclasses.replace(outgoing, text=outgoing.text + render.RESENT_NOTE)
            wait_s = await self._deliver(plan, index, outgoing)
            if wait_s is not None:
                return wait_s
        return 0.0

    async def _deliver(self, plan: list[Outgoing], index: int, outgoing: Outgoing) -> float | None:
        """Send `plan[index]`; None when the round goes on, else how long to wait first (what
        was not sent is rescheduled)."""
        deps = self._deps
        options = deps.options
        try:
            await self._send_to_ops(outgoing)
        except TimedOut as error:
            # Sent, but no answer: Telegram may have carried it out.
            await self._outcome_unknown(outgoing.alerts, str(error))
            await self._retry_later(_alerts_of(plan[index + 1 :]), "not sent yet")
            backoff = options.alert_backoff_base_s
            self._paused_until = time.monotonic() + backoff
            return backoff
        except RetryAfter as error:
            wait = retry_after_seconds(error)
            await self._retry_later(_alerts_of(plan[index:]), str(error), delay_s=wait)
            # Paused from now, so the alerts are due when the next round claims.
            self._paused_until = time.monotonic() + wait
            return wait
        except Forbidden as error:
            await deps.messenger.record_forbidden(deps.ops_chat_id, error)
            await self._give_up(_alerts_of(plan[index:]), f"ops chat refused: {error.message}")
            return options.alert_poll_interval_s
        except BadRequest as error:
            # This message was refused as such; the rest of the round may still go out.
            log.error("ops chat refused an alert message: %s", error.message)
            await self._retry_later(outgoing.alerts, f"refused: {error.message}")
            return None
        except ChatMigrated as error:
            # The supergroup the ops chat moved to refused as well, which Telegram never
            # does; the alerts wait rather than the worker spinning on it.
            log.warning("the ops chat %s refused after its move: %s", deps.ops_chat_id, error)
            await self._retry_later(_alerts_of(plan[index:]), f"ops chat moved: {error}")
            return options.alert_backoff_max_s
        except TelegramError as error:
            log.warning("alert delivery failed, will retry: %s", error)
            await self._retry_later(_alerts_of(plan[index:]), f"send failed: {error}")
            backoff = options.alert_backoff_base_s
            self._paused_until = time.monotonic() + backoff
            return backoff
        deps.messenger.ops_window.record()
        self._next_slot = max(self._next_slot, time.monotonic()) + self._spacing_s()
        for alert in outgoing.alerts:
            with contextlib.suppress(StateTransitionError):
                await deps.store.outbox.mark_sent(alert.id)
        return None

    async def _send_to_ops(self, outgoing: Outgoing) -> None:
        """Send one message to the ops chat; if its group became a supergroup, follow it there
        and send it again, so what failed is delivered in the same round, once."""
        messenger = self._deps.messenger
        for attempt in range(2):
            chat_id = messenger.ops_chat_id
            try:
                await messenger.bot.send_message(
                    chat_id,
                    outgoing.text,
                    parse_mode=ParseMode.HTML,
                    reply_markup=outgoing.keyboard,
                    link_preview_options=NO_PREVIEW,
                )
                return
            except ChatMigrated as error:
                if attempt > 0:
                    raise
                await messenger.follow_chat_move(chat_id, error.new_chat_id)

    def _spacing_s(self) -> float:
        options = self._deps.options
        return options.ops_window_s / max(1, options.ops_messages_per_window)

    async def _plan(self, claimed: Sequence[Alert], budget: int) -> list[Outgoing]:
        card_alerts = [a for a in claimed if a.kind in CARD_KINDS]
        other_alerts = [a for a in claimed if a.kind not in CARD_KINDS]
        groups = group_by_key(other_alerts)
        if len(groups) == 1:
            group = groups[0]
            others = [Outgoing(render.alert(group[-1]), None, tuple(group))]
        else:
            others = self._digest(other_alerts)
        if len(card_alerts) + len(others) <= budget:
            rendered = [await self._card(alert) for alert in card_alerts]
            return rendered + others
        # Over the budget: one digest for everything (cards are listed, /pending shows them).
        return self._digest(claimed)

    def _digest(self, alerts: Sequence[Alert]) -> list[Outgoing]:
        if not alerts:
            return []
        by_kind: dict[str, list[Alert]] = {}
        for alert in alerts:
            by_kind.setdefault(alert.kind, []).append(alert)
        lines: list[_DigestLine] = []
        for kind, items in by_kind.items():
            continued = render.digest_kind_continued(kind, items)
            by_label: dict[str, list[list[Alert]]] = {}
            for group in group_by_key(items):
                by_label.setdefault(render.alert_subject(group[-1])[0], []).append(group)
            subjects = sum(len(groups) for groups in by_label.values())
            lines.append(_DigestLine(render.digest_kind_line(kind, items, subjects), (), None))
            for label, groups in by_label.items():
                for start in range(0, len(groups), IDS_PER_DIGEST_LINE):
                    chunk = groups[start : start + IDS_PER_DIGEST_LINE]
                    lines.append(
                        _DigestLine(
                            render.digest_subjects_line(label, chunk),
                            tuple(alert for group in chunk for alert in group),
                            continued,
                        )
                    )
        header = render.digest_header(
            len(alerts), lists_pairing=any(kind in CARD_KINDS for kind in by_kind)
        )
        pages = split_pages(
            [line.text for line in lines], header=header, budget=PAGE_BUDGET - _CONTINUED_ROOM
        )
        outgoing: list[Outgoing] = []
        for number, page in enumerate(pages):
            on_page = lines[page.start : page.end]
            texts = [line.text for line in on_page]
            if on_page[0].continued is not None:
                texts.insert(0, on_page[0].continued)
            text = with_counter("\n".join([header, *texts]), number, len(pages))
            outgoing.append(
                Outgoing(text, None, tuple(alert for line in on_page for alert in line.alerts))
            )
        return outgoing

    async def _card(self, alert: Alert) -> Outgoing:
        deps = self._deps
        request_id = alert.payload.get("request_id")
        if isinstance(request_id, str):
            try:
                request = await deps.store.pairing.get(request_id)
            except NotFoundError:
                return Outgoing(render.alert(alert), None, (alert,))
            if alert.kind == AlertKind.PAIRING_STUCK:
                text, markup = await cards.stuck_card(deps.store, request)
                return Outgoing(text, markup, (alert,))
            text = await cards.pairing_card(deps.store, deps.people, request)
            return Outgoing(text, cards.keyboard_for_state(request), (alert,))
        return Outgoing(render.alert(alert), None, (alert,))

    # --- failures -----------------------------------------------------------------------------

    def _backoff_s(self, alerts: Sequence[Alert]) -> float:
        options = self._deps.options
        attempts = max((alert.attempts for alert in alerts), default=0)
        delay = min(options.alert_backoff_max_s, options.alert_backoff_base_s * 2.0**attempts)
        return delay * random.uniform(0.5, 1.0)

    async def _retry_later(
        self, alerts: Sequence[Alert], error: str, *, delay_s: float | None = None
    ) -> None:
        """Due again after `delay_s` (else a backoff), all at the same moment.

        Alerts that failed together are retried together, so a failed page goes out again as
        one message instead of scattering over several rounds.
        """
        store = self._deps.store
        wait = delay_s if delay_s is not None else self._backoff_s(alerts)
        retry_at = store.clock() + timedelta(seconds=wait)
        for alert in alerts:
            with contextlib.suppress(StateTransitionError):
                await store.outbox.mark_failed_attempt(
                    alert.id, _keeping_mark(alert, error), retry_at=retry_at
                )

    async def _give_up(self, alerts: Sequence[Alert], error: str) -> None:
        for alert in alerts:
            with contextlib.suppress(StateTransitionError):
                await self._deps.store.outbox.mark_failed_attempt(
                    alert.id, _keeping_mark(alert, error), retry_at=None
                )

    async def _outcome_unknown(self, alerts: Sequence[Alert], error: str) -> None:
        """A send whose answer was lost: resend once; after a second loss, give up."""
        first = [alert for alert in alerts if not _resending(alert)]
        await self._retry_later(first, f"{OUTCOME_UNKNOWN} ({error}): resent once")
        again = [alert for alert in alerts if _resending(alert)]
        await self._give_up(
            again,
            f"{OUTCOME_UNKNOWN} twice ({error}): not resent, the ops chat probably holds it "
            "already",
        )


def _alerts_of(plan: Sequence[Outgoing]) -> list[Alert]:
    return [alert for outgoing in plan for alert in outgoing.alerts]


def _resending(alert: Alert) -> bool:
    """Whether the alert was sent once already with no answer (it has had its resend)."""
    return (alert.last_error or "").startswith(OUTCOME_UNKNOWN)


def _keeping_mark(alert: Alert, error: str) -> str:
    """`error`, still marked when the alert had an unknown outcome, so it is resent only once."""
    if _resending(alert) and not error.startswith(OUTCOME_UNKNOWN):
        return f"{OUTCOME_UNKNOWN}, then: {error}"
    return error
