"""One contract violation found in recorded traffic, and which side of the exchange caused it.

Shared by the Fly and Telegram validators so the fixtures can treat both alike (for instance,
tolerate request-side violations a test provokes on purpose). Holds no checking logic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Side = Literal["request", "response"]


@dataclass(frozen=True)
class Violation:
    """``side`` is "request" when the caller broke the contract, "response" when the server did."""

    side: Side
    message: str
