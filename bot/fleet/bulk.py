"""One lifecycle action (stop, wake, restart) over many agents, a bounded number at a time.

Each agent goes through the same operation a single command uses, so its audit entries,
alerts and status history are the same as if an admin had asked for it alone. An agent that
fails is recorded as its outcome (with the error fit to show an admin) and never stops the
others. At most `concurrency` agents are in flight: with hundreds at once on a small host the
store's single writer queues past its lock timeout and the event loop runs out of CPU
(bench/RESULTS.md, scenario 2). Progress goes through `Progress` as one step whose note counts
what has finished, failed and is in flight; throttling the display is the front end's job.

This module never talks to Fly or the store itself, never chooses the agents and never
retries one: the service passes the agents and the operation, and the operation retries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.fleet.errors import FleetError
from bot.fleet.progress import Progress, StepState
from flyclient import FlyError
from storage.errors import StorageError

log = logging.getLogger("bot.fleet.bulk")

BULK_STEP = "agents"
BULK_STEPS = (BULK_STEP,)

AgentOperation = Callable[[str], Awaitable[object]]


class BulkAction(StrEnum):
    STOP = "stop"
    WAKE = "wake"
    RESTART = "restart"


@dataclass(frozen=True)
class AgentOutcome:
    """What happened to one agent: `error` is None when the action succeeded."""

    agent_ref: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class BulkReport:
    """Every agent's outcome, in the order the agents were given."""

    action: BulkAction
    concurrency: int
    outcomes: tuple[AgentOutcome, ...]
    peak_in_flight: int

    @property
    def succeeded(self) -> tuple[str, ...]:
        return tuple(outcome.agent_ref for outcome in self.outcomes if outcome.ok)

    @property
    def failed(self) -> tuple[AgentOutcome, ...]:
        return tuple(outcome for outcome in self.outcomes if not outcome.ok)


@dataclass
class BulkTally:
    """The running count a progress note shows."""

    total: int
    succeeded: int = 0
    failed: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0

    def describe(self) -> str:
        finished = self.succeeded + self.failed
        return f"{finished}/{self.total} done · {self.failed} failed · {self.in_flight} in flight"


def describe_failure(error: Exception) -> str:
    """An admin-facing line for an agent's failure (fleet errors already are one)."""
    if isinstance(error, FleetError):
        return str(error)
    if isinstance(error, FlyError):
        return f"Fly: {error.message}"
    if isinstance(error, StorageError):
        return f"The store: {error}"
    return f"Unexpected {type(error).__name__} (details in the bot's log)."


def unique(refs: Sequence[str]) -> list[str]:
    """The refs once each, first occurrence first: one agent is never acted on twice at once."""
    return list(dict.fromkeys(refs))


async def run_bulk(
    action: BulkAction,
    agent_refs: Sequence[str],
    operation: AgentOperation,
    *,
    concurrency: int,
    progress: Progress | None = None,
) -> BulkReport:
    """Run `operation` on every agent, at most `concurrency` at once; never raises for one."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, not {concurrency}")
    refs = unique(agent_refs)
    progress = progress or Progress.silent(action.value, BULK_STEPS)
    tally = BulkTally(total=len(refs))
    errors: list[str | None] = [None] * len(refs)
    # Workers pull the next agent as they free up: never more than `concurrency` in flight,
    # and no task per agent waiting on a semaphore (a thousand of them cost memory and CPU).
    queue: Iterator[int] = iter(range(len(refs)))

    async def worker() -> None:
        for index in queue:
            tally.in_flight += 1
            tally.peak_in_flight = max(tally.peak_in_flight, tally.in_flight)
            try:
                await operation(refs[index])
            except Exception as error:
                if not isinstance(error, FleetError | FlyError | StorageError):
                    log.exception("bulk %s of %s failed unexpectedly", action, refs[index])
                errors[index] = describe_failure(error)
                tally.failed += 1
            else:
                tally.succeeded += 1
            finally:
                tally.in_flight -= 1
            await progress.step(BULK_STEP, StepState.RUNNING, tally.describe())

    await progress.step(BULK_STEP, StepState.RUNNING, tally.describe())
    async with asyncio.TaskGroup() as workers:
        for _ in range(min(concurrency, len(refs))):
            workers.create_task(worker())
    final = StepState.FAILED if tally.failed else StepState.DONE
    await progress.step(BULK_STEP, final, tally.describe())
    return BulkReport(
        action=action,
        concurrency=concurrency,
        outcomes=tuple(AgentOutcome(ref, error) for ref, error in zip(refs, errors, strict=True)),
        peak_in_flight=tally.peak_in_flight,
    )
