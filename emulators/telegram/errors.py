"""Bot API error answers as Telegram words them.

One exception type, `BotApiError`, carries the HTTP status, the description and the
optional `parameters` of Telegram's error envelope. Handlers raise it; the server turns it
into `{"ok": false, ...}`. This module must never know about HTTP transport or state.
"""

from __future__ import annotations

from typing import Any


class BotApiError(Exception):
    """A Bot API call that Telegram would refuse, with the exact answer it would give."""

    def __init__(
        self,
        status: int,
        description: str,
        *,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id

    def envelope(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        parameters: dict[str, int] = {}
        if self.migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = self.migrate_to_chat_id
        if self.retry_after is not None:
            parameters["retry_after"] = self.retry_after
        if parameters:
            answer["parameters"] = parameters
        return answer


def bad_request(detail: str) -> BotApiError:
    return BotApiError(400, f"Bad Request: {detail}")


def group_upgraded(supergroup_id: int) -> BotApiError:
    """Any call naming a group that became a supergroup, with the id to use instead."""
    return BotApiError(
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        migrate_to_chat_id=supergroup_id,
    )


def forbidden(detail: str) -> BotApiError:
    return BotApiError(403, f"Forbidden: {detail}")


def conflict(detail: str) -> BotApiError:
    return BotApiError(409, f"Conflict: {detail}")


def too_many_requests(retry_after: int) -> BotApiError:
    return BotApiError(
        429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
    )


UNAUTHORIZED = BotApiError(401, "Unauthorized")
NOT_FOUND = BotApiError(404, "Not Found")

SERVER_ERROR_DESCRIPTIONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def server_error(status: int) -> BotApiError:
    return BotApiError(status, SERVER_ERROR_DESCRIPTIONS.get(status, "Internal Server Error"))
