"""Child processes of the bench: the Fly emulator, the bot, and probes of a process's memory.

A child that serves something prints its URL (or "ready") as the first line of stdout; the
bench waits for that line, then leaves the child alone until it stops it with SIGTERM (and
SIGKILL if it does not exit in time). Children inherit no shell: argv lists only. Their
stderr goes to a log file in the scenario's folder, so a failure can be read afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

STOP_GRACE_S = 10.0
# The folder holding `bench`, `bot` and the other packages: children import from here
# whatever their working directory.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ChildFailed(RuntimeError):
    """A child process exited before saying it was ready."""


@dataclass
class Child:
    process: asyncio.subprocess.Process
    first_line: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@asynccontextmanager
async def child(
    argv: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    ready_timeout_s: float = 60.0,
    wait_for_line: bool = True,
) -> AsyncIterator[Child]:
    """Start `argv`, wait for its first stdout line (unless `wait_for_line` is False), yield
    it; stop it on exit."""
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdout=asyncio.subprocess.PIPE if wait_for_line else asyncio.subprocess.DEVNULL,
            stderr=log,
            env=dict(env) if env is not None else None,
            cwd=cwd,
        )
        running = Child(process, "", log_path)
        try:
            if not wait_for_line:
                yield running
                return
            assert process.stdout is not None
            try:
                async with asyncio.timeout(ready_timeout_s):
                    raw = await process.stdout.readline()
            except TimeoutError:
                raise ChildFailed(
                    f"{argv[0:3]} said nothing in {ready_timeout_s} s:\n{running.log_tail()}"
                ) from None
            if not raw:
                await process.wait()
                raise ChildFailed(
                    f"{' '.join(argv[1:3])} exited ({process.returncode}):\n{running.log_tail()}"
                )
            running.first_line = raw.decode().strip()
            yield running
        finally:
            await stop(process)


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(STOP_GRACE_S):
            await process.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


def python_argv(*module_and_args: str) -> list[str]:
    """`python -m …` with this interpreter (the project's virtualenv)."""
    return [sys.executable, "-m", *module_and_args]


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment plus `extra`: children find the same packages."""
    env = dict(os.environ)
    paths = [str(PROJECT_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.update(extra)
    return env


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set size so far (Linux `VmHWM`), in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def process_cpu_s(pid: int) -> float:
    """User plus system CPU seconds of a process so far (Linux `/proc/PID/stat`)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")
