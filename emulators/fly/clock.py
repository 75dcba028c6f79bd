"""The emulator's wall clock: real time plus an offset tests can advance.

Pairing-code expiry, lease expiry and every timestamp the emulator writes read
this clock, so `POST /_emulator/clock {"advance_s": 3600}` makes an hour pass
without waiting. Delays between state transitions use the event loop's
monotonic clock instead and are not affected. Never sleeps.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


class EmulatorClock:
    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        """Unix seconds, advanced by every `advance` so far."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += seconds

    def reset(self) -> None:
        self._offset = 0.0

    @property
    def offset(self) -> float:
        return self._offset

    def iso(self, unix: float | None = None) -> str:
        """`2026-11-25T13:43:47Z`: the second-precision form Fly uses for created_at."""
        moment = self.now() if unix is None else unix
        return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def iso_millis(self, unix: float | None = None) -> str:
        """`2026-11-25T13:43:47.658Z`: the form OpenClaw writes."""
        moment = self.now() if unix is None else unix
        stamp = datetime.fromtimestamp(moment, UTC)
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"

    def iso_micros(self, unix: float | None = None) -> str:
        """`2026-11-25T13:43:47.658123Z`: the form of log timestamps."""
        moment = self.now() if unix is None else unix
        stamp = datetime.fromtimestamp(moment, UTC)
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond:06d}Z"
