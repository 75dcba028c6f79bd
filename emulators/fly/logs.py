"""The machines' log lines and the cursor paging of Fly's logs API.

Every line gets a global, increasing sequence number; `next_token` is that
number as a string. Without a token a query answers the latest 100 matching
entries; with one, up to 100 entries after it. The cursor answered is the one
of the last entry returned, or the same cursor when nothing new matched (the
current head when no cursor was given). Old entries are dropped per app past
a cap, as Fly keeps only about a week. Never sleeps and knows nothing of HTTP.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

from . import ids
from .clock import EmulatorClock
from .errors import bad_request

PAGE_SIZE = 100


@dataclass(frozen=True)
class LogEntry:
    seq: int
    id: str
    timestamp: str
    message: str
    level: str
    instance: str
    region: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "logs",
            "attributes": {
                "timestamp": self.timestamp,
                "message": self.message,
                "level": self.level,
                "instance": self.instance,
                "region": self.region,
                "meta": {"event": {"provider": "app"}, "instance": self.instance},
            },
        }


class LogStore:
    def __init__(self, clock: EmulatorClock, max_per_app: int = 20_000) -> None:
        self._clock = clock
        self._max_per_app = max_per_app
        self._by_app: dict[str, list[LogEntry]] = {}
        self._seq = 0

    def append(self, *, app: str, instance: str, region: str, level: str, message: str) -> None:
        self._seq += 1
        now = self._clock.now()
        entry = LogEntry(
            seq=self._seq,
            id=ids.ulid(now),
            timestamp=self._clock.iso_micros(now),
            message=message,
            level=level,
            instance=instance,
            region=region,
        )
        entries = self._by_app.setdefault(app, [])
        entries.append(entry)
        if len(entries) > self._max_per_app * 5 // 4:
            del entries[: len(entries) - self._max_per_app]

    def query(
        self,
        app: str,
        *,
        instance: str | None,
        region: str | None,
        next_token: str | None,
    ) -> tuple[list[LogEntry], str]:
        entries = self._by_app.get(app, [])

        def matches(entry: LogEntry) -> bool:
            return (not instance or entry.instance == instance) and (
                not region or entry.region == region
            )

        if next_token is None or next_token == "":
            found: list[LogEntry] = []
            for entry in reversed(entries):
                if matches(entry):
                    found.append(entry)
                    if len(found) == PAGE_SIZE:
                        break
            found.reverse()
            return found, str(found[-1].seq if found else self._seq)
        try:
            cursor = int(next_token)
        except ValueError:
            raise bad_request(f"invalid next_token {next_token!r}") from None
        start = bisect.bisect_right(entries, cursor, key=lambda e: e.seq)
        page: list[LogEntry] = []
        for entry in entries[start:]:
            if matches(entry):
                page.append(entry)
                if len(page) == PAGE_SIZE:
                    break
        return page, str(page[-1].seq) if page else next_token

    def lines(self, app: str, instance: str) -> list[str]:
        return [e.message for e in self._by_app.get(app, []) if e.instance == instance]

    def reset(self) -> None:
        self._by_app.clear()
