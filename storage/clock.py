"""UTC time for the store: the clock type and the one on-disk timestamp format.

Every timestamp is stored as fixed-width ISO-8601 UTC text (`2026-11-25T13:43:47.658000Z`) so
that SQL string comparison orders them correctly. This module never accepts a naive datetime:
guessing a time zone is how expiry and retry times silently drift.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware. Tests inject a controllable one."""

_DB_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


def to_db_time(moment: datetime) -> str:
    """Format an aware datetime for storage; refuse naive ones."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime given to the store; pass a timezone-aware one")
    return moment.astimezone(UTC).strftime(_DB_FORMAT)


def from_db_time(text: str) -> datetime:
    """Parse a stored timestamp back into an aware UTC datetime."""
    return datetime.strptime(text, _DB_FORMAT).replace(tzinfo=UTC)


def from_db_time_or_none(text: str | None) -> datetime | None:
    """Like `from_db_time`, for nullable columns."""
    return None if text is None else from_db_time(text)
