"""Inline keyboards, each built by one helper so handlers never assemble buttons inline.

Every button's callback data comes from `callback_data.encode`, so it is within 64 bytes and
inside the scheme. Labels are fixed words or ids the bot made, never raw user input.
"""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.telegram.callback_data import Action, encode

MAX_PICK_BUTTONS = 8


def _button(label: str, action: Action, *args: str | int) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=encode(action, *args))


def pairing_decision(request_id: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                _button("✅ Approve", Action.APPROVE, request_id),
                _button("✖️ Reject", Action.REJECT, request_id),
            ]
        ]
    )


def pairing_try_again(request_id: str) -> InlineKeyboardMarkup:
    """After "not ready": the request stays approved and may be run once the gateway is up."""
    return InlineKeyboardMarkup(
        [
            [
                _button("🔁 Try again", Action.APPROVE, request_id),
                _button("✖️ Reject", Action.REJECT, request_id),
            ]
        ]
    )


def restart_machine(agent_id: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[_button("🔄 Restart machine", Action.RESTART, agent_id)]])


def retry_pairing(request_id: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[_button("🔁 Retry pairing", Action.RETRY, request_id)]])


def confirm(token: str, label: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                _button(f"⚠️ Yes, {label}", Action.CONFIRM, token),
                _button("Cancel", Action.CANCEL, token),
            ]
        ]
    )


def pages(token: str, index: int, total: int) -> InlineKeyboardMarkup | None:
    if total <= 1:
        return None
    row = []
    if index > 0:
        row.append(_button("◀ Previous", Action.PAGE, token, index - 1))
    if index < total - 1:
        row.append(_button("Next ▶", Action.PAGE, token, index + 1))
    return InlineKeyboardMarkup([row])


def pick(token: str, labels: Sequence[str]) -> InlineKeyboardMarkup:
    """Offered values (e.g. agents) one per row, then Cancel."""
    rows = [
        [_button(label, Action.PICK, token, index)]
        for index, label in enumerate(labels[:MAX_PICK_BUTTONS])
    ]
    rows.append([_button("Cancel", Action.GUIDE_CANCEL, token)])
    return InlineKeyboardMarkup(rows)


def cancel_guide(token: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[_button("Cancel", Action.GUIDE_CANCEL, token)]])
