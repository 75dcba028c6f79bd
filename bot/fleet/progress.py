"""Progress of a multi-step operation, reported step by step to whoever drives it.

The service calls `await progress.step(name, state)`; a front end renders the whole line
("volume ✓ machine ✓ gateway … model …") and, in Telegram, edits one message with it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum


class StepState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


_MARKS = {
    StepState.PENDING: "·",
    StepState.RUNNING: "…",
    StepState.DONE: "✓",
    StepState.FAILED: "✗",
    StepState.SKIPPED: "–",
}

Listener = Callable[["Progress"], Awaitable[None]]


class Progress:
    def __init__(self, title: str, steps: Sequence[str], listener: Listener | None = None) -> None:
        self.title = title
        self.states: dict[str, StepState] = dict.fromkeys(steps, StepState.PENDING)
        self.note = ""
        self._listener = listener

    async def step(self, name: str, state: StepState, note: str = "") -> None:
        self.states[name] = state
        self.note = note
        if self._listener is not None:
            await self._listener(self)

    def render(self) -> str:
        line = " ".join(f"{name} {_MARKS[state]}" for name, state in self.states.items())
        return f"{self.title}: {line}" + (f"\n{self.note}" if self.note else "")

    @classmethod
    def silent(cls, title: str, steps: Sequence[str]) -> Progress:
        return cls(title, steps)
