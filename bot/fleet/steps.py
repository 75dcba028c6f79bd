"""One journaled step of a multi-step operation: progress, journal and failure record together.

Provision and recreate (and the roll-out and recovery flows to come) run as named steps. Each
step is shown to whoever watches (`Progress`), written to the operations journal before and
after it runs (so a crash resumes after the last finished step), and a step that fails is
recorded as failed in both — in one `async with`:

    steps = JournaledSteps(journal, operation.id, progress, first="volume")
    async with steps.step("volume") as volume:
        volume.result = {"volume_id": (await fly.create_volume(...)).id}

What the operation does about a failure (roll back, alert, audit) stays with the operation;
`steps.current` says which step it was.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from pydantic import JsonValue

from bot.fleet.errors import FleetError
from bot.fleet.progress import Progress, StepState
from flyclient import FlyError
from storage.journal import OperationsJournal
from storage.redaction import redact_known


def short_error(error: BaseException) -> str:
    """An error as one short line fit for the journal, an alert or a reply."""
    text = getattr(error, "message", None) or str(error) or type(error).__name__
    # Cut known secrets before shortening: a cut through a value would hide it from the
    # registry's match further down.
    return redact_known(str(text))[:400]


@dataclass
class StepRecord:
    """What a step produced, kept in the journal with its `done` mark."""

    result: JsonValue = None


class JournaledSteps:
    """The steps of one journaled operation, as they run."""

    def __init__(
        self, journal: OperationsJournal, operation_id: str, progress: Progress, *, first: str
    ) -> None:
        self._journal = journal
        self._operation_id = operation_id
        self._progress = progress
        self._failure_recorded = False
        # The step running or last run: where a failure happened.
        self.current = first

    @asynccontextmanager
    async def step(self, name: str, note: str = "") -> AsyncIterator[StepRecord]:
        """Run one step: shown running, journaled started; then done with the record's
        result, or failed (journal and progress) when a Fly or fleet error leaves it."""
        self.current = name
        await self._progress.step(name, StepState.RUNNING, note)
        await self._journal.step_started(self._operation_id, name)
        record = StepRecord()
        try:
            yield record
        except (FlyError, FleetError) as error:
            await self.record_failure(error)
            raise
        await self._journal.step_done(self._operation_id, name, record.result)
        await self._progress.step(name, StepState.DONE)

    async def skipped(self, name: str, note: str, result: JsonValue) -> None:
        """A step that has nothing to do: shown skipped, journaled done with `result`."""
        self.current = name
        await self._progress.step(name, StepState.SKIPPED, note)
        await self._journal.step_started(self._operation_id, name)
        await self._journal.step_done(self._operation_id, name, result)

    async def record_failure(self, error: BaseException) -> None:
        """Record the current step as failed, once (the step and its operation may both ask)."""
        if self._failure_recorded:
            return
        self._failure_recorded = True
        await self._journal.step_failed(self._operation_id, self.current, short_error(error))
        await self._progress.step(self.current, StepState.FAILED, short_error(error))
