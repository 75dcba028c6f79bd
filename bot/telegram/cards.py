"""Cards: the messages about one pairing request, with the buttons its current state allows.

A card is rendered from the ledger as it is now, so a stale card (superseded, already decided)
shows that instead of buttons that no longer apply. Used by the alert worker (the card an end
user's submission queues), by `/pending` and by the pairing desk when it edits a card. Rendering
a card never changes the request it shows.
"""

from __future__ import annotations

from telegram import InlineKeyboardMarkup

from bot.fleet import PairingOutcome, PairingResult
from bot.telegram import keyboards, render
from bot.telegram.people import People
from storage import Store
from storage.models import PairingRequest, PairingState


def keyboard_for_state(request: PairingRequest) -> InlineKeyboardMarkup | None:
    if request.state is PairingState.SUBMITTED:
        return keyboards.pairing_decision(request.id)
    if request.state is PairingState.APPROVED:
        return keyboards.pairing_try_again(request.id)
    if request.state is PairingState.STUCK:
        return keyboards.restart_machine(request.agent_id)
    return None


def keyboard_for_outcome(result: PairingResult) -> InlineKeyboardMarkup | None:
    if result.outcome is PairingOutcome.STUCK:
        return keyboards.restart_machine(result.request.agent_id)
    if result.outcome is PairingOutcome.NOT_READY:
        return keyboards.pairing_try_again(result.request.id)
    if result.outcome is PairingOutcome.ALREADY_HANDLED:
        return keyboard_for_state(result.request)
    return None


def _state_footer(request: PairingRequest) -> str | None:
    if request.state is PairingState.SUBMITTED:
        return None
    if request.state is PairingState.APPROVED:
        return render.APPROVED_NOT_RUN
    if request.state is PairingState.STUCK:
        return render.STUCK_FOOTER
    return render.already_decided(request)


async def pairing_card(
    store: Store, people: People, request: PairingRequest, footer: str | None = None
) -> str:
    agent = await store.agents.find(request.agent_id)
    submitter = people.name_of_actor(request.submitted_by)
    return render.pairing_card(
        request, agent, submitter, footer if footer is not None else _state_footer(request)
    )


async def current_card(
    store: Store, people: People, request_id: str
) -> tuple[str, InlineKeyboardMarkup | None]:
    request = await store.pairing.get(request_id)
    return await pairing_card(store, people, request), keyboard_for_state(request)


async def stuck_card(store: Store, request: PairingRequest) -> tuple[str, InlineKeyboardMarkup]:
    agent = await store.agents.find(request.agent_id)
    return render.stuck_card(request, agent), keyboards.restart_machine(request.agent_id)
