"""Texts of the ops chat's alerts: one alert alone, or a storm as digests grouped by kind."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from bot.telegram.render.common import esc, when
from storage.models import Alert, AlertSeverity

_SEVERITY_MARK = {
    AlertSeverity.INFO: "ℹ️",
    AlertSeverity.WARNING: "⚠️",
    AlertSeverity.CRITICAL: "🚨",
}


# --- alerts -------------------------------------------------------------------------------------


# Added to an alert message sent again after Telegram's answer to the first send was lost.
RESENT_NOTE = (
    "\n<i>↻ Sent again: Telegram did not confirm an earlier copy, so this may be a duplicate.</i>"
)


def alert(item: Alert) -> str:
    times = f" ×{item.occurrences}" if item.occurrences > 1 else ""
    return (
        f"{_SEVERITY_MARK[item.severity]} <b>{esc(item.kind, 64)}</b>{times} "
        f"<i>#{item.id}</i>\n{esc(item.text, 3500)}\n<i>{when(item.created_at)}</i>"
    )


# What a digest names for each alert, first found wins. The agent id comes first because it is
# what an operator acts with (/wake, /restart, /agent and /logs take it) and it is short and
# fixed-size (15 characters); the machine id only for alerts about a machine without a known
# agent, the app for token refusals, the ref for bot errors (it is what the log is searched for).
SUBJECT_KEYS = (("agent_id", "AGENT"), ("machine_id", "MACHINE"), ("app", "APP"), ("ref", "REF"))
# Ids that a digest's example sentence shows as placeholders, so that one sentence reads right
# for every subject listed under it. Only random ids: a word-like value (an app name) could
# also occur as an ordinary word in the sentence.
_PLACEHOLDER_KEYS = (
    ("agent_id", "AGENT"),
    ("machine_id", "MACHINE"),
    ("request_id", "REQUEST"),
    ("ref", "REF"),
)
_SEVERITY_RANK = {AlertSeverity.INFO: 0, AlertSeverity.WARNING: 1, AlertSeverity.CRITICAL: 2}
SUBJECT_CHARS = 40
EXAMPLE_CHARS = 400


def alert_subject(item: Alert) -> tuple[str, str]:
    """(placeholder, value): what the alert is about, e.g. ("AGENT", "ag_…"); else its own id."""
    for key, placeholder in SUBJECT_KEYS:
        value = item.payload.get(key)
        if isinstance(value, str) and value:
            return placeholder, value
    return "ALERT", f"#{item.id}"


def worst_severity(items: Iterable[Alert]) -> AlertSeverity:
    return max((item.severity for item in items), key=_SEVERITY_RANK.__getitem__)


def _as_template(item: Alert) -> str:
    text = item.text
    for key, placeholder in _PLACEHOLDER_KEYS:
        value = item.payload.get(key)
        if isinstance(value, str) and len(value) >= 4:
            text = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", placeholder, text)
    return text


def digest_kind_line(kind: str, items: Sequence[Alert], subjects: int) -> str:
    """The title of one kind in a digest: worst severity, count, and what happened.

    With more than one subject, the newest alert's sentence is shown with its ids replaced by
    placeholders (`/wake AGENT`), and the lines below list the values; with one, as it is.
    """
    newest = max(items, key=lambda item: item.id)
    example = _as_template(newest) if subjects > 1 else newest.text
    return (
        f"{_SEVERITY_MARK[worst_severity(items)]} <b>{esc(kind, 64)}</b> ×{len(items)}: "
        f"<i>{esc(example, EXAMPLE_CHARS)}</i>"
    )


def digest_subjects_line(label: str, groups: Sequence[Sequence[Alert]]) -> str:
    """`LABEL: id id …`, one id per group (alerts with one dedupe key), ×N when it recurred."""
    names = []
    for group in groups:
        occurrences = sum(item.occurrences for item in group)
        times = f"×{occurrences}" if occurrences > 1 else ""
        names.append(esc(alert_subject(group[-1])[1], SUBJECT_CHARS) + times)
    return f"{esc(label, 16)}: {' '.join(names)}"


def digest_kind_continued(kind: str, items: Sequence[Alert]) -> str:
    return f"{_SEVERITY_MARK[worst_severity(items)]} <b>{esc(kind, 64)}</b> (continued)"


def digest_header(count: int, *, lists_pairing: bool = False) -> str:
    header = f"🔔 <b>{count} alerts</b> in one digest: each kind once, then whom each is about"
    if lists_pairing:
        header += "\n<i>It lists pairing requests: decide them with /pending.</i>"
    return header


def ops_chat_moved(new_id: int) -> str:
    """Plain text for the ops alert when Telegram upgraded the ops group to a supergroup."""
    return (
        f"The ops chat became a supergroup (new id {new_id}). Set FLYAGENTS_OPS_CHAT_ID={new_id} "
        "before the next restart; until then the bot follows the move by itself."
    )


WEBHOOK_NOWHERE = "nowhere (no webhook is set, so nothing reaches this bot)"


def webhook_elsewhere(where: str, ours: str) -> str:
    """Plain text for the ops alert: Telegram delivers updates to another URL than ours."""
    return (
        f"Telegram delivers this bot's updates to {where}, not to FLYAGENTS_WEBHOOK_URL "
        f"{ours}. Is another instance running with the same bot token?"
    )


def webhook_failing(failed_at: datetime | None, error: str, waiting: int) -> str:
    """Plain text for the ops alert: Telegram's last delivery to our webhook failed."""
    when = f" at {failed_at:%Y-%m-%d %H:%M:%S} UTC" if failed_at else ""
    return (
        f"Telegram could not deliver an update to the webhook{when}: "
        f"{error} ({waiting} update(s) waiting)"
    )
