"""Exceptions raised by the Fly client, ordered by what callers want to catch.

    FlyError                          every failure; status, API message, fly-request-id
    ├── NotFoundError                 404: no such app/machine/volume/lease (maybe already gone)
    ├── UnauthorizedError             401: the token is wrong or expired
    ├── ForbiddenError                403: the token may not touch this app/org
    ├── ConflictError                 409: version mismatch, lease held, ...
    │   └── LeaseHeldError            409 because someone else holds the machine's lease
    ├── PreconditionFailedError       412: volume in use, machine must be stopped, no room on host
    │   └── VolumeAttachedError       412 on deleting a volume a machine still holds
    ├── ValidationError               400/422: the request was refused as invalid
    ├── InsufficientCapacityError     Fly has no room (any status; see below)
    ├── RateLimitedError              429 after every retry; `retry_after` seconds if Fly said
    ├── ServerError                   5xx after every retry
    ├── FlyTimeoutError               408 outside wait, or a transport timeout
    │   ├── ExecOutcomeUnknownError   an exec whose answer was lost: it may still run and finish
    │   └── WaitTimeoutError          `wait_for_state` reached its deadline
    └── FlyConnectionError            the API could not be reached

Capacity problems come with several statuses (409 insufficient memory, 412 insufficient
resources on start, 400 no capacity, 403/422 quota, or any status with
`"status": "insufficient_capacity"`). They are raised as a class that is BOTH the status class
and `InsufficientCapacityError`, so `except PreconditionFailedError` and
`except InsufficientCapacityError` both see a 412 "insufficient resources".

`maybe_applied` says whether the failed request may nevertheless have taken effect (5xx, 408,
or a connection lost after the request was sent): callers of non-idempotent calls use it to
decide whether to look for the result before trying again.

This module must never hold or print request headers or the API token: errors are built from
the status, the response body and the request line only.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

# The API's message is shown to operators; cap it so a HTML error page cannot flood a chat.
_MAX_MESSAGE_CHARS: Final = 500

_CAPACITY_WORDING: Final = re.compile(
    r"insufficient (?:resources|memory|cpus?|capacity)|no capacity|capacity|quota",
    re.IGNORECASE,
)
_LEASE_WORDING: Final = re.compile(r"\blease\b", re.IGNORECASE)


class FlyError(Exception):
    """A failed Fly API call.

    Attributes:
        status_code: the HTTP status, or None when no answer arrived.
        message: the API's own error text (or a description of the transport failure).
        request_id: the `fly-request-id` response header, to quote to Fly support.
        api_status: the body's `status` field (`insufficient_capacity`, `name_taken`, ...).
        code: the body's `code` field (lease endpoints).
        method, path: the request line, without the query string.
        maybe_applied: the request may have taken effect despite the error.
        earlier_attempt_may_have_applied: this error answers a resend, and an earlier send of
            the same request may have taken effect (so e.g. "already started" may be our doing).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        api_status: str | None = None,
        code: str | None = None,
        method: str | None = None,
        path: str | None = None,
        maybe_applied: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.request_id = request_id
        self.api_status = api_status
        self.code = code
        self.method = method
        self.path = path
        self.maybe_applied = maybe_applied
        self.earlier_attempt_may_have_applied = False

    def __str__(self) -> str:
        parts = [self.message]
        context: list[str] = []
        if self.status_code is not None:
            context.append(f"HTTP {self.status_code}")
        if self.method and self.path:
            context.append(f"{self.method} {self.path}")
        if self.request_id:
            context.append(f"fly-request-id {self.request_id}")
        if context:
            parts.append(f"({', '.join(context)})")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class NotFoundError(FlyError):
    """404: the app, machine, volume, key or lease does not exist (or no longer does)."""


class UnauthorizedError(FlyError):
    """401: the token was refused."""


class ForbiddenError(FlyError):
    """403: the token is valid but may not act on this app or organisation."""


class ConflictError(FlyError):
    """409: the machine changed under us (version mismatch) or is otherwise busy."""


class LeaseHeldError(ConflictError):
    """409: another holder has the machine's lease; retry after it expires or is released."""


class PreconditionFailedError(FlyError):
    """412: the machine or volume is not in a state that allows the call."""


class VolumeAttachedError(PreconditionFailedError):
    """412 on deleting a volume: a machine still holds it (a just-destroyed one does for a
    moment), so the delete may succeed once that machine is gone."""


class ValidationError(FlyError):
    """400 or 422: the request was refused as invalid (bad config, name taken, quota...)."""


class InsufficientCapacityError(FlyError):
    """Fly has no room for the machine (host, region or org quota); not a bug on our side."""


class RateLimitedError(FlyError):
    """429 after the retry budget was spent; `retry_after` is Fly's hint in seconds, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(FlyError):
    """5xx after the retry budget was spent."""


class FlyTimeoutError(FlyError):
    """No answer in time: a 408 outside `wait`, or a transport timeout."""


class ExecOutcomeUnknownError(FlyTimeoutError):
    """An exec's answer was lost (timeout, 408, 5xx, dropped connection).

    The command may still be running inside the machine and may finish, so its outcome is
    unknown, not failed: never treat this as "the command did not run".
    """


class WaitTimeoutError(FlyTimeoutError):
    """`wait_for_state` reached its deadline before the machine reached the state."""


class FlyConnectionError(FlyError):
    """The API could not be reached, or the connection broke before an answer arrived."""


class CapacityConflictError(ConflictError, InsufficientCapacityError):
    """409 because the host has no room (e.g. insufficient memory for an update)."""


class CapacityPreconditionError(PreconditionFailedError, InsufficientCapacityError):
    """412 because the host holding the machine's volume has no room to start it."""


class CapacityValidationError(ValidationError, InsufficientCapacityError):
    """400/422 refusing the request for lack of capacity or quota."""


class CapacityForbiddenError(ForbiddenError, InsufficientCapacityError):
    """403 because the organisation's quota is exhausted."""


class CapacityServerError(ServerError, InsufficientCapacityError):
    """5xx whose body says `insufficient_capacity`."""


_BY_STATUS: Final[dict[int, type[FlyError]]] = {
    400: ValidationError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    408: FlyTimeoutError,
    409: ConflictError,
    412: PreconditionFailedError,
    422: ValidationError,
    429: RateLimitedError,
}

# DELETE …/volumes/{id}: the one call whose 412 means "still attached".
_VOLUME_PATH: Final = re.compile(r"/volumes/[^/]+$")

_CAPACITY_VARIANT: Final[dict[type[FlyError], type[FlyError]]] = {
    ConflictError: CapacityConflictError,
    PreconditionFailedError: CapacityPreconditionError,
    ValidationError: CapacityValidationError,
    ForbiddenError: CapacityForbiddenError,
    ServerError: CapacityServerError,
    FlyError: InsufficientCapacityError,
}


def parse_error_body(body: bytes) -> tuple[str | None, str | None, str | None]:
    """(message, api_status, code) from either of Fly's error shapes.

    Machines API: `{"error": "...", "status": "insufficient_capacity"}`.
    Lease endpoints: `{"status": "error", "message": "...", "code": "..."}`.
    Anything else (HTML from a proxy, plain text) becomes the message as is.
    """
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return None, None, None
    try:
        data = json.loads(text)
    except ValueError:
        return _truncate(text), None, None
    if not isinstance(data, dict):
        return _truncate(text), None, None
    message = _first_str(data, "error", "message", "detail")
    api_status = _first_str(data, "status")
    if api_status == "error":
        # The lease shape uses `status` for success/error, not for a reason.
        api_status = None
    code = data.get("code")
    code_text = str(code) if code is not None else None
    return (_truncate(message) if message else None), api_status, code_text


def error_for_status(
    status_code: int,
    body: bytes,
    *,
    request_id: str | None,
    method: str,
    path: str,
    retry_after: float | None = None,
    maybe_applied: bool = False,
) -> FlyError:
    """The exception that describes an unsuccessful answer."""
    message, api_status, code = parse_error_body(body)
    text = message or f"Fly API answered HTTP {status_code}"
    kwargs: dict[str, Any] = {
        "status_code": status_code,
        "request_id": request_id,
        "api_status": api_status,
        "code": code,
        "method": method,
        "path": path,
        "maybe_applied": maybe_applied,
    }
    if status_code == 429:
        return RateLimitedError(text, retry_after=retry_after, **kwargs)
    cls = _BY_STATUS.get(status_code)
    if cls is None:
        cls = ServerError if status_code >= 500 else FlyError
    if cls is ConflictError and _is_lease_conflict(message, code):
        return LeaseHeldError(text, **kwargs)
    if status_code == 412 and method == "DELETE" and _VOLUME_PATH.search(path):
        return VolumeAttachedError(text, **kwargs)
    if _is_capacity_problem(status_code, message, api_status):
        cls = _CAPACITY_VARIANT.get(cls, cls)
    return cls(text, **kwargs)


def _is_lease_conflict(message: str | None, code: str | None) -> bool:
    if code is not None:
        return True  # only the lease endpoints answer with a `code`
    return bool(message and _LEASE_WORDING.search(message))


def _is_capacity_problem(status_code: int, message: str | None, api_status: str | None) -> bool:
    if api_status == "insufficient_capacity":
        return True
    if status_code not in (400, 403, 409, 412, 422) or not message:
        return False
    return bool(_CAPACITY_WORDING.search(message))


def _first_str(data: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _truncate(text: str) -> str:
    if len(text) <= _MAX_MESSAGE_CHARS:
        return text
    return text[: _MAX_MESSAGE_CHARS - 1] + "…"
