"""The admin side of pairing: decide a request from its card, restart a stuck machine, retry.

Exactly-once execution is the fleet service's (an atomic claim in the ledger). Here a request
being decided in this process is remembered too, so a double tap or a second admin is told at
once who is handling it instead of waiting for the ledger's answer. After a decision the card
shows who decided and the outcome, and the end user who sent the code is told in plain words.
This module never runs a pairing command or decides a retry itself: the fleet service does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from telegram import InlineKeyboardMarkup

from bot.fleet import PairingOutcome, PairingResult, StateConflict
from bot.telegram import cards, keyboards, render
from bot.telegram.deps import BotDeps
from bot.telegram.errors import EXPECTED_ERRORS, explain
from bot.telegram.live_progress import LiveProgress
from bot.telegram.people import telegram_id_of
from storage.models import Actor, PairingRequest, PairingSource, StuckResolution

log = logging.getLogger("bot.telegram.pairing")

RESTART_STEPS = ("restart", "gateway", "pairing")


class DecisionHolds:
    """Who is deciding what in this process, each hold bounded in time.

    A hold only spares a second presser a wait: the ledger decides exactly-once. So a hold
    that outlived `ttl_s` is void — a code path that failed to release it (an answer to
    Telegram that raised, say) can never lock a card for good.
    """

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._held: dict[str, tuple[str, float]] = {}

    def take(self, key: str, holder: str) -> str | None:
        """Hold `key` for `holder`; the current holder's name if someone else still holds it."""
        now = self._clock()
        current = self._held.get(key)
        if current is not None and now - current[1] < self._ttl_s:
            return current[0]
        self._held[key] = (holder, now)
        return None

    def release(self, key: str) -> None:
        self._held.pop(key, None)


class PairingDesk:
    def __init__(self, deps: BotDeps) -> None:
        self._deps = deps
        ttl_s = deps.options.decision_hold_ttl_s
        self._deciding = DecisionHolds(ttl_s)
        self._restarting = DecisionHolds(ttl_s)

    # --- who is on it -------------------------------------------------------------------------

    def take_request(self, request_id: str, admin_name: str) -> str | None:
        """Mark the request as being decided by `admin_name`; the current holder if taken.
        The caller releases it (`release_request`) on every path; it also expires."""
        return self._deciding.take(request_id, admin_name)

    def release_request(self, request_id: str) -> None:
        self._deciding.release(request_id)

    def take_restart(self, agent_id: str, admin_name: str) -> str | None:
        return self._restarting.take(agent_id, admin_name)

    # --- decisions ----------------------------------------------------------------------------

    async def approve(
        self, *, chat_id: int, message_id: int, admin_id: int, request_id: str
    ) -> None:
        """Run the request exactly once (the caller holds it), then show the outcome on the card."""
        deps = self._deps
        admin_name = deps.people.name(admin_id)
        # Execute first, then edit the card once with the outcome. The presser already got
        # "Approving…" as the callback answer and a second press is told who is on it
        # (`take_request`); an "Approving — Ann" edit first would make the run wait in
        # Telegram's queue (20 messages a minute in a group ops chat, edits included).
        try:
            result = await deps.service.approve_pairing_request(
                request_id, actor=Actor.admin(admin_id)
            )
        except EXPECTED_ERRORS as error:
            current = await deps.store.pairing.get(request_id)
            await deps.messenger.edit(
                chat_id,
                message_id,
                await cards.pairing_card(
                    deps.store, deps.people, current, render.failed(explain(error))
                ),
                cards.keyboard_for_state(current),
            )
            return
        finally:
            # The ledger holds the outcome now (running twice is its business, not this
            # hold's): from here a press on another copy of the card is shown that outcome,
            # not "being handled", while this one is still telling the card and the user.
            self._deciding.release(request_id)
        await self.show_outcome(chat_id, message_id, result, admin_name)
        await self.tell_user(result)

    async def show_outcome(
        self, chat_id: int, message_id: int, result: PairingResult, admin_name: str
    ) -> None:
        deps = self._deps
        await deps.messenger.edit(
            chat_id,
            message_id,
            await cards.pairing_card(
                deps.store,
                deps.people,
                result.request,
                render.pairing_outcome(result, admin_name),
            ),
            cards.keyboard_for_outcome(result),
        )

    async def reject(
        self, *, chat_id: int, message_id: int, admin_id: int, request_id: str
    ) -> None:
        deps = self._deps
        admin_name = deps.people.name(admin_id)
        try:
            try:
                await deps.service.reject_pairing_request(request_id, actor=Actor.admin(admin_id))
            except StateConflict:
                current = await deps.store.pairing.get(request_id)
                await deps.messenger.edit(
                    chat_id,
                    message_id,
                    await cards.pairing_card(deps.store, deps.people, current),
                    cards.keyboard_for_state(current),
                )
                return
            rejected = await deps.store.pairing.get(request_id)
            await deps.messenger.edit(
                chat_id,
                message_id,
                await cards.pairing_card(
                    deps.store, deps.people, rejected, render.rejected(admin_name)
                ),
            )
            await self.tell_submitter(rejected, render.USER_REJECTED_WORDS)
        finally:
            self._deciding.release(request_id)

    async def tell_user(self, result: PairingResult) -> None:
        """The end user who sent the code hears the outcome (not the admin's internals)."""
        if result.outcome in (PairingOutcome.ALREADY_HANDLED, PairingOutcome.NOT_READY):
            return
        words = (
            render.USER_STUCK_WORDS if result.outcome is PairingOutcome.STUCK else result.message
        )
        await self.tell_submitter(result.request, words)

    async def tell_submitter(self, request: PairingRequest, words: str) -> None:
        if request.source is not PairingSource.USER:
            return
        user_id = telegram_id_of(request.submitted_by)
        if user_id is None:
            return
        await self._deps.messenger.send(user_id, render.pairing_news(request, words))

    # --- stuck machines -----------------------------------------------------------------------

    async def restart(
        self,
        *,
        chat_id: int,
        admin_id: int,
        agent_ref: str,
        reply_to: int | None = None,
    ) -> None:
        """Restart the machine, wait for a healthy gateway, then settle a stuck pairing."""
        deps = self._deps
        opened = await LiveProgress.open(
            deps.messenger,
            chat_id,
            "restart",
            RESTART_STEPS,
            deps.options.progress_edit_interval_s,
        )
        if opened is None:
            return
        live, progress = opened
        restart = await live.run(
            progress,
            lambda: deps.service.restart_agent_machine(
                agent_ref, actor=Actor.admin(admin_id), progress=progress
            ),
        )
        if restart is None:
            return
        agent, recovery = restart
        keyboard: InlineKeyboardMarkup | None = None
        if recovery.resolution is StuckResolution.RETRY and recovery.request is not None:
            keyboard = keyboards.retry_pairing(recovery.request.id)
        restarted = render.done(
            f"Restarted {render.code(agent.id)} ({render.esc(render.agent_label(agent))})."
        )
        await live.finish(
            f"{render.progress(progress)}\n{restarted}\n{render.recovery(recovery)}", keyboard
        )
        if recovery.resolution is StuckResolution.APPLIED and recovery.request is not None:
            await self.tell_submitter(recovery.request, render.USER_APPLIED_WORDS)
        if recovery.resolution is StuckResolution.ABANDONED and recovery.request is not None:
            await self.tell_submitter(recovery.request, render.USER_NOT_APPLIED_WORDS)

    def release_restart(self, agent_id: str) -> None:
        self._restarting.release(agent_id)
