"""Turns an emulator's request log into the contract violations a test must fail on.

Used by the emulator fixtures in ``tests/conftest.py`` at teardown. A record rejected with a 4xx
may carry request-side violations that a test provoked on purpose; the caller says whether to
tolerate those. Answer-side violations are never tolerated. Reads the log over HTTP, never
reaches into an emulator's internals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

from .violation import Violation

REQUEST_LOG_PATH = "/_emulator/requests"


async def fetch_request_log(root_url: str) -> list[dict[str, Any]]:
    """Every exchange an emulator recorded, oldest first."""
    async with httpx.AsyncClient(timeout=10.0) as client:
        answer = await client.get(root_url.rstrip("/") + REQUEST_LOG_PATH)
        answer.raise_for_status()
        records: list[dict[str, Any]] = answer.json()
        return records


def contract_failures(
    records: Iterable[Mapping[str, Any]],
    violations_of: Callable[[Mapping[str, Any]], list[Violation]],
    describe: Callable[[Mapping[str, Any]], str],
    tolerate_rejected_requests: bool,
) -> tuple[list[str], int]:
    """The violations to fail on, as lines, and how many deliberate ones were tolerated."""
    failures: list[str] = []
    tolerated = 0
    for record in records:
        status = record.get("status")
        rejected = isinstance(status, int) and 400 <= status < 500
        for violation in violations_of(record):
            if tolerate_rejected_requests and rejected and violation.side == "request":
                tolerated += 1
                continue
            failures.append(f"{describe(record)}: {violation.side}: {violation.message}")
    return failures, tolerated
