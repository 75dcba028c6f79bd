"""The error the emulator's state layer raises to make the API answer with a Fly error.

`ApiError(412, "failed_precondition: …")` becomes the HTTP answer
`412 {"error": "failed_precondition: …"}`. Lease endpoints use a different
body shape (`{"status": "error", "message", "code"}`), built by `lease_error`.
Nothing here knows about HTTP frameworks.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An answer other than success, with Fly's JSON error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.body: dict[str, Any] = body if body is not None else {"error": message}
        self.headers: dict[str, str] = headers or {}


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def precondition(message: str) -> ApiError:
    """412 with the `failed_precondition:` prefix flyd puts on these messages."""
    return ApiError(412, f"failed_precondition: {message}")


def unprocessable(message: str) -> ApiError:
    return ApiError(422, message)


def lease_error(status: int, message: str, code: str) -> ApiError:
    """The `{status, message, code}` body the lease endpoints answer with."""
    return ApiError(status, message, body={"status": "error", "message": message, "code": code})
