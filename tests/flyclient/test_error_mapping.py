"""How Fly's error answers become the exceptions callers catch."""

from __future__ import annotations

import json

import pytest

from flyclient.errors import (
    ConflictError,
    FlyError,
    FlyTimeoutError,
    ForbiddenError,
    InsufficientCapacityError,
    LeaseHeldError,
    NotFoundError,
    PreconditionFailedError,
    RateLimitedError,
    ServerError,
    UnauthorizedError,
    ValidationError,
    VolumeAttachedError,
    error_for_status,
    parse_error_body,
)


def body(payload: object) -> bytes:
    return json.dumps(payload).encode()


def error(
    status: int,
    payload: object,
    *,
    request_id: str = "01REQ",
    retry_after: float | None = None,
) -> FlyError:
    raw = payload if isinstance(payload, bytes) else body(payload)
    return error_for_status(
        status,
        raw,
        request_id=request_id,
        method="POST",
        path="/v1/apps/agents/machines/1781973f5e4389/start",
        retry_after=retry_after,
    )


def test_machines_api_error_body_gives_message_and_status() -> None:
    parsed = parse_error_body(
        body({"error": "no capacity in ams", "status": "insufficient_capacity"})
    )
    assert parsed == ("no capacity in ams", "insufficient_capacity", None)


def test_lease_error_body_gives_message_and_code_but_not_its_error_status() -> None:
    parsed = parse_error_body(
        body({"status": "error", "message": "lease currently held", "code": "already_leased"})
    )
    assert parsed == ("lease currently held", None, "already_leased")


def test_non_json_error_body_is_kept_as_text() -> None:
    assert parse_error_body(b"<html>502 Bad Gateway</html>") == (
        "<html>502 Bad Gateway</html>",
        None,
        None,
    )
    assert parse_error_body(b"") == (None, None, None)


def test_huge_error_body_is_truncated() -> None:
    message, _, _ = parse_error_body(b"x" * 10_000)
    assert message is not None
    assert len(message) <= 500


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, ValidationError),
        (401, UnauthorizedError),
        (403, ForbiddenError),
        (404, NotFoundError),
        (408, FlyTimeoutError),
        (409, ConflictError),
        (412, PreconditionFailedError),
        (422, ValidationError),
        (429, RateLimitedError),
        (500, ServerError),
        (503, ServerError),
    ],
)
def test_status_picks_the_exception_class(status: int, expected: type[FlyError]) -> None:
    raised = error(status, {"error": "something"})
    assert type(raised) is expected
    assert raised.status_code == status
    assert raised.message == "something"


def test_error_keeps_request_id_and_request_line_in_its_text() -> None:
    raised = error(404, {"error": "machine not found"}, request_id="01HXYZ")
    assert raised.request_id == "01HXYZ"
    assert str(raised) == (
        "machine not found (HTTP 404, POST /v1/apps/agents/machines/1781973f5e4389/start, "
        "fly-request-id 01HXYZ)"
    )


def test_conflict_in_lease_shape_is_lease_held() -> None:
    raised = error(409, {"status": "error", "message": "lease held by x", "code": "conflict"})
    assert isinstance(raised, LeaseHeldError)
    assert isinstance(raised, ConflictError)
    assert raised.code == "conflict"


def test_conflict_mentioning_a_lease_is_lease_held() -> None:
    raised = error(409, {"error": "machine 1781973f5e4389 lease currently held by someone"})
    assert isinstance(raised, LeaseHeldError)


def test_version_mismatch_conflict_is_not_lease_held() -> None:
    raised = error(409, {"error": "current_version mismatch"})
    assert type(raised) is ConflictError


def test_start_refused_for_insufficient_resources_is_both_precondition_and_capacity() -> None:
    raised = error(412, {"error": "failed_precondition: insufficient resources on host"})
    assert isinstance(raised, PreconditionFailedError)
    assert isinstance(raised, InsufficientCapacityError)


def test_volume_in_use_is_a_precondition_but_not_capacity() -> None:
    raised = error(412, {"error": "failed_precondition: volume is attached to a machine"})
    assert isinstance(raised, PreconditionFailedError)
    assert not isinstance(raised, InsufficientCapacityError)


@pytest.mark.parametrize(
    ("status", "payload", "also"),
    [
        (409, {"error": "insufficient memory available to fulfill request"}, ConflictError),
        (400, {"error": "no capacity available in region ams"}, ValidationError),
        (403, {"error": "organization has reached its machine quota"}, ForbiddenError),
        (422, {"error": "machine quota exceeded"}, ValidationError),
        (500, {"error": "could not place", "status": "insufficient_capacity"}, ServerError),
    ],
)
def test_capacity_problems_are_recognised_under_every_status(
    status: int, payload: object, also: type[FlyError]
) -> None:
    raised = error(status, payload)
    assert isinstance(raised, InsufficientCapacityError)
    assert isinstance(raised, also)


def test_rate_limited_error_carries_retry_after() -> None:
    raised = error(429, {"error": "rate limit exceeded"}, retry_after=2.5)
    assert isinstance(raised, RateLimitedError)
    assert raised.retry_after == 2.5


def test_error_without_body_says_the_status() -> None:
    raised = error(502, b"")
    assert raised.message == "Fly API answered HTTP 502"


def test_a_412_on_deleting_a_volume_is_volume_attached_and_elsewhere_not() -> None:
    still_attached = body({"error": "failed_precondition: volume is attached to a machine"})
    raised = error_for_status(
        412, still_attached, request_id=None, method="DELETE", path="/v1/apps/a/volumes/vol_1"
    )
    assert isinstance(raised, VolumeAttachedError)
    assert isinstance(raised, PreconditionFailedError)
    assert not isinstance(error(412, {"error": "machine must be stopped"}), VolumeAttachedError)
