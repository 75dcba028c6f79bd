"""The log of every Machines/logs API exchange, served at `GET /_emulator/requests`.

One record per answered request, in order: method, path, query, headers
(lower-case, `authorization` removed), the presented token shortened to its
first 4 characters and "…" (the whole token is never stored), the parsed
request and response bodies, the status and the response headers. Control
routes (`/_emulator/...`) are not recorded. Requests being handled (received, not answered
yet: e.g. held by a latency fault) are listed at `GET /_emulator/requests/in-flight` as
`{id, method, path}`, so a test can crash a client while its request is in flight. Knows
nothing of aiohttp.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def token_hint(token: str | None) -> str | None:
    if not token:
        return None
    return token[:4] + "…"


@dataclass
class Recorder:
    records: list[dict[str, Any]] = field(default_factory=list)
    in_flight: dict[str, dict[str, str]] = field(default_factory=dict)
    _seq: int = 0

    def arrived(self, request_id: str, method: str, path: str) -> None:
        self.in_flight[request_id] = {"id": request_id, "method": method, "path": path}

    def left(self, request_id: str) -> None:
        self.in_flight.pop(request_id, None)

    def record(
        self,
        *,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        token: str | None,
        request_body: Any,
        status: int,
        response_body: Any,
        response_headers: dict[str, str],
    ) -> None:
        self._seq += 1
        self.records.append(
            {
                "seq": self._seq,
                "method": method,
                "path": path,
                "query": query,
                "headers": {k: v for k, v in headers.items() if k != "authorization"},
                "token": token_hint(token),
                "request_body": request_body,
                "status": status,
                "response_body": response_body,
                "response_headers": response_headers,
            }
        )

    def since(self, seq: int) -> list[dict[str, Any]]:
        if seq <= 0:
            return list(self.records)
        # Records are appended with increasing seq; skip the prefix quickly.
        low, high = 0, len(self.records)
        while low < high:
            middle = (low + high) // 2
            if self.records[middle]["seq"] <= seq:
                low = middle + 1
            else:
                high = middle
        return self.records[low:]

    def clear(self) -> None:
        self.records.clear()
