"""The shared services every part of the emulator's state uses: timings, clock, logs, faults.

`Runtime.spawn` starts the background tasks that drive state transitions and
remembers them, so `shutdown` can cancel every one of them when the emulator
stops or is reset (no task outlives its emulator; in real-OpenClaw mode each
host process is owned by such a task, so none outlives it either). `real` is
set only in that mode. Holds no API state itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .clock import EmulatorClock
from .faults import FaultBook
from .logs import LogStore
from .real_openclaw import RealOpenClaw
from .timings import FlyTimings

T = TypeVar("T")


@dataclass
class Runtime:
    timings: FlyTimings
    clock: EmulatorClock = field(default_factory=EmulatorClock)
    faults: FaultBook = field(default_factory=FaultBook)
    openclaw_dir: str = "/app"
    """The image's folder holding `openclaw.mjs` (where exec'd CLI commands `cd`)."""
    real: RealOpenClaw | None = None
    """Set when machines run the real OpenClaw runtime instead of the simulated one."""
    logs: LogStore = field(init=False)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.logs = LogStore(self.clock)

    def spawn(self, coroutine: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._forget)
        return task

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # A crashed transition would leave a machine stuck; make it loud in the
            # emulator's own stderr instead of swallowing it.
            asyncio.get_running_loop().call_exception_handler(
                {"message": "fly emulator task failed", "exception": task.exception(), "task": task}
            )

    async def shutdown(self) -> None:
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    @staticmethod
    def monotonic() -> float:
        return asyncio.get_running_loop().time()
