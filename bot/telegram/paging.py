"""Long texts cut into pages that Telegram accepts, and the pages kept for ◀ ▶ buttons.

Telegram counts a message's length in UTF-16 code units after parsing; pages are measured in
raw HTML (always at least as long) with a margin. Pages break only between lines, so markup is
never cut in half; every line is built short by the renderers. Pages live in memory only: an
expired list asks to run its command again. Never put a secret into a page.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bot.telegram import render
from bot.telegram.render import utf16_len

TELEGRAM_TEXT_LIMIT = 4096
PAGE_BUDGET = 3800


@dataclass(frozen=True)
class Page:
    text: str
    # The lines on this page: `lines[start:end]` of what was paginated.
    start: int
    end: int


def split_pages(
    lines: Sequence[str],
    *,
    header: str = "",
    budget: int = PAGE_BUDGET,
    max_lines: int | None = None,
) -> list[Page]:
    """Whole lines grouped into pages, each with `header` first and within `budget`."""
    head = f"{header}\n" if header else ""
    room = budget - utf16_len(head) - 32  # the page counter added by `with_counter`
    spans: list[list[int]] = [[0, 0]]
    used = 0
    shown: list[str] = []
    for index, raw in enumerate(lines):
        line = raw if utf16_len(raw) < room else render.TOO_LONG_LINE
        size = utf16_len(line) + 1
        span = spans[-1]
        count = span[1] - span[0]
        full = max_lines is not None and count >= max_lines
        if count and (used + size > room or full):
            spans.append([index, index])
            used = 0
        spans[-1][1] = index + 1
        shown.append(line)
        used += size
    total = len(spans)
    return [
        Page(with_counter(head + "\n".join(shown[a:b]), number, total), a, b)
        for number, (a, b) in enumerate(spans)
    ]


def paginate(
    lines: Sequence[str],
    *,
    header: str = "",
    budget: int = PAGE_BUDGET,
    max_lines: int | None = None,
) -> list[str]:
    return [
        page.text for page in split_pages(lines, header=header, budget=budget, max_lines=max_lines)
    ]


def fits(text: str) -> bool:
    return utf16_len(text) <= TELEGRAM_TEXT_LIMIT


def shortened(text: str, budget: int = PAGE_BUDGET) -> str:
    """`text` cut after its last whole line that fits, marked as shortened."""
    if utf16_len(text) <= budget:
        return text
    kept: list[str] = []
    used = 0
    for line in text.split("\n"):
        size = utf16_len(line) + 1
        if used + size > budget - 32:
            break
        kept.append(line)
        used += size
    return "\n".join([*kept, render.SHORTENED_MARK])


def with_counter(text: str, index: int, total: int) -> str:
    return text if total == 1 else f"{text}\n\n{render.page_mark(index, total)}"


@dataclass
class _Pages:
    pages: list[str]
    expires_at: float


class PageStore:
    """Pages of lists shown with ◀ ▶ buttons, by a short random token."""

    def __init__(self, ttl_s: float) -> None:
        self._ttl_s = ttl_s
        self._by_token: dict[str, _Pages] = {}

    def put(self, pages: list[str]) -> str:
        token = secrets.token_urlsafe(6)
        self._by_token[token] = _Pages(pages, time.monotonic() + self._ttl_s)
        return token

    def get(self, token: str, index: int) -> tuple[str, int] | None:
        """Page `index` and the page count, or None when the list expired."""
        entry = self._by_token.get(token)
        if entry is None or entry.expires_at < time.monotonic():
            return None
        if not 0 <= index < len(entry.pages):
            return None
        return entry.pages[index], len(entry.pages)

    def prune(self) -> None:
        now = time.monotonic()
        for token in [t for t, entry in self._by_token.items() if entry.expires_at < now]:
            del self._by_token[token]
