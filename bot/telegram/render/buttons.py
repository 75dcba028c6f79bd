"""Answers to button presses: plain text that Telegram shows as a short notice (no HTML,
at most 200 characters)."""

from __future__ import annotations

from bot.telegram.render.common import esc

BUTTON_ANSWER_CHARS = 200
STALE_BUTTON = "This button no longer works."
REJECTING = "Rejecting…"
APPROVING_ONCE = "Approving… this runs once."
RESTARTING_MACHINE = "Restarting the machine…"
CONFIRMATION_GONE = "This confirmation expired or was already used."
CONFIRMATION_NOT_YOURS = "Only the admin who asked can confirm or cancel this."
CANCELLED = "Cancelled."
CONFIRMED = "Confirmed."
LIST_EXPIRED = "This list expired: run the command again."
QUESTION_GONE = "This question expired or belongs to someone else."


def decision_taken(holder: str) -> str:
    return f"Already being handled by {holder}."[:BUTTON_ANSWER_CHARS]


def restart_taken_answer(holder: str) -> str:
    return f"Already being restarted by {holder}."[:BUTTON_ANSWER_CHARS]


def cancelled(target_label: str) -> str:
    """The confirmation message, once its Cancel button was pressed (HTML)."""
    return f"Cancelled: nothing was done to {esc(target_label)}."
