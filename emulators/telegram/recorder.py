"""The record of every Bot API call served, for `GET /_emulator/requests`.

Each record holds what the client sent (decoded but not coerced) and the full answer, so
that tests and contract checks can replay what happened. Bot tokens are never recorded:
only the bot id. This module never interprets calls.
"""

from __future__ import annotations

from typing import Any

MAX_RECORDS = 100_000


class RequestLog:
    def __init__(self) -> None:
        self._records: list[dict[str, Any]] = []
        self._next_seq = 1

    def clear(self) -> None:
        self._records.clear()
        self._next_seq = 1

    def add(
        self,
        *,
        bot_id: int,
        method: str,
        http_method: str,
        encoding: str,
        params: Any,
        status: int,
        answer: dict[str, Any] | None,
    ) -> None:
        self._records.append(
            {
                "seq": self._next_seq,
                "bot_id": bot_id,
                "method": method,
                "http_method": http_method,
                "encoding": encoding,
                "params": params,
                "status": status,
                "answer": answer,
            }
        )
        self._next_seq += 1
        if len(self._records) > MAX_RECORDS:
            del self._records[: len(self._records) - MAX_RECORDS]

    def select(
        self, *, bot_id: int | None = None, method: str | None = None, since: int = 0
    ) -> list[dict[str, Any]]:
        wanted = method.lower() if method else None
        return [
            record
            for record in self._records
            if record["seq"] > since
            and (bot_id is None or record["bot_id"] == bot_id)
            and (wanted is None or record["method"].lower() == wanted)
        ]
