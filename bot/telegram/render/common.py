"""The building blocks of every text: escaping, ids as code, times, and the ✅ ❌ ⏳ ⚠️ marks.

Only `<`, `>` and `&` need escaping in HTML text; `esc` does that and also shortens a value so
that no single line can outgrow a message. Every other renderer module builds on these.
"""

from __future__ import annotations

import html
from datetime import datetime

from storage.models import Agent

VALUE_CHARS = 200
LINE_CHARS = 600

# Marks of a text cut to fit in messages (see `paging`).
TOO_LONG_LINE = "(a line too long to show was left out)"
SHORTENED_MARK = "<i>(shortened)</i>"


def utf16_len(text: str) -> int:
    """A text's length as Telegram counts it: in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def page_mark(index: int, total: int) -> str:
    """Under page `index` (from 0) of `total`."""
    return f"<i>page {index + 1}/{total}</i>"


def esc(value: object, limit: int = VALUE_CHARS) -> str:
    """`value` as safe HTML text of at most `limit` UTF-16 units, cut with "…" if longer.

    The limit applies to the escaped text, so `&&&…` cannot grow a line fivefold.
    """
    text = str(value)
    if len(text) * 2 <= limit and utf16_len(escaped := html.escape(text, quote=False)) <= limit:
        return escaped
    pieces: list[str] = []
    used = 0
    for char in text:
        piece = html.escape(char, quote=False)
        size = utf16_len(piece)
        if used + size > limit - 1:
            pieces.append("…")
            break
        pieces.append(piece)
        used += size
    return "".join(pieces)


def code(value: object, limit: int = VALUE_CHARS) -> str:
    return f"<code>{esc(value, limit)}</code>"


def when(moment: datetime | None) -> str:
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def agent_label(agent: Agent) -> str:
    """`tenant/user`: what admins type and read; plain text (ids are validated)."""
    return f"{agent.tenant_id}/{agent.user_id}"


def done(text: str) -> str:
    return f"✅ {text}"


def failed(text: str) -> str:
    return f"❌ {text}"


def working(text: str) -> str:
    return f"⏳ {text}"


def partly_done(text: str) -> str:
    return f"⚠️ {text}"


def deleted_note(deleted: bool | None) -> str:
    """What became of a message that held a secret value."""
    if deleted is None:
        return ""
    if deleted:
        return " The message with the value was deleted."
    return (
        " I could not delete the message with the value: delete it yourself, and consider "
        "the value exposed (rotate it)."
    )


_LEVEL_WORDS = {
    "agent": "agent",
    "tenant": "tenant",
    "fleet": "fleet",
    "generated": "generated",
    "unset": "not set",
}


def setting_level(level: str) -> str:
    return f"<i>{esc(_LEVEL_WORDS.get(level, level), 20)}</i>"
