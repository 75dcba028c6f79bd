"""Host processes for the real-OpenClaw mode: a supervised long-running process and one-shot runs.

`SupervisedProcess` runs one argv (never through a shell) in its own process
group, hands every stdout/stderr line to a callback as it arrives, and is
owned by a task of the emulator's `Runtime`: cancelling that task (emulator
stop or reset) SIGKILLs the whole group, so no process outlives its emulator.
`terminate` sends a signal and SIGKILLs the group once the timeout passes.
`run_to_completion` runs a one-shot command, collects its output and kills
its group when the caller is cancelled. `port_accepts` and `free_port` probe
loopback ports. Nothing here knows about machines, Fly or OpenClaw, and
nothing here ever builds a shell command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LINE_LIMIT = 4 * 1024 * 1024
"""Longest stdout/stderr line read whole; longer ones arrive in pieces."""
PIPE_DRAIN_S = 2.0
"""After the main process exits, how long its pipes may stay open (held by its children)."""

Spawner = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]
LineSink = Callable[[str, str], None]
"""Called with (stream, line) where stream is "stdout" or "stderr"; the line has no newline."""


@dataclass(frozen=True)
class CommandResult:
    stdout: str
    stderr: str
    returncode: int
    """The process's exit code; negative when a signal ended it (as asyncio reports it)."""


def _kill_group(pid: int, signum: int = signal.SIGKILL) -> None:
    # The group may already be gone (every member exited): nothing left to signal.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


async def _spawn(argv: list[str], env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=cwd,
        start_new_session=True,
        limit=LINE_LIMIT,
    )


async def _pump_lines(stream: asyncio.StreamReader | None, name: str, sink: LineSink) -> None:
    if stream is None:
        return
    while True:
        try:
            raw = await stream.readline()
        except ValueError:
            raw = await stream.read(LINE_LIMIT)
        if not raw:
            return
        sink(name, raw.decode("utf-8", errors="replace").rstrip("\r\n"))


async def _drain(readers: list[asyncio.Task[Any]], pid: int) -> None:
    """Let the readers reach EOF; children still holding the pipes are killed after a grace."""
    _, pending = await asyncio.wait(readers, timeout=PIPE_DRAIN_S)
    _kill_group(pid)
    if pending:
        await asyncio.wait(pending)


class SupervisedProcess:
    """A long-running process in its own group, supervised by an emulator task."""

    def __init__(self, process: asyncio.subprocess.Process, sink: LineSink) -> None:
        self._process = process
        self._sink = sink
        self._exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.pid = process.pid

    @classmethod
    async def start(
        cls, argv: list[str], *, env: dict[str, str], cwd: Path, sink: LineSink, spawn: Spawner
    ) -> SupervisedProcess:
        process = await _spawn(argv, env, cwd)
        supervised = cls(process, sink)
        spawn(supervised._own())
        return supervised

    @property
    def running(self) -> bool:
        return not self._exited.done()

    async def _own(self) -> None:
        process = self._process
        readers = [
            asyncio.ensure_future(_pump_lines(process.stdout, "stdout", self._sink)),
            asyncio.ensure_future(_pump_lines(process.stderr, "stderr", self._sink)),
        ]
        try:
            code = await process.wait()
            await _drain(readers, process.pid)
        except asyncio.CancelledError:
            _kill_group(process.pid)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(process.wait())
            for reader in readers:
                reader.cancel()
            if not self._exited.done():
                ended = process.returncode
                self._exited.set_result(-signal.SIGKILL if ended is None else ended)
            raise
        if not self._exited.done():
            self._exited.set_result(code)

    async def wait(self) -> int:
        """The exit code once the process has exited (negative: ended by that signal)."""
        return await asyncio.shield(self._exited)

    def send(self, signum: int) -> None:
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                self._process.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL the whole group at once."""
        if self.running:
            _kill_group(self.pid)

    async def terminate(self, signum: int, timeout_s: float) -> int:
        """Send SIGNUM, then SIGKILL the group if it has not exited within TIMEOUT_S."""
        self.send(signum)
        try:
            return await asyncio.wait_for(self.wait(), max(timeout_s, 0.0))
        except TimeoutError:
            self.kill()
            return await self.wait()


async def _collect(stream: asyncio.StreamReader | None, into: bytearray) -> None:
    if stream is None:
        return
    while chunk := await stream.read(65536):
        into.extend(chunk)


async def run_to_completion(argv: list[str], *, env: dict[str, str], cwd: Path) -> CommandResult:
    """Run ARGV to its end; its whole group is SIGKILLed if the caller is cancelled first."""
    process = await _spawn(argv, env, cwd)
    stdout, stderr = bytearray(), bytearray()
    readers = [
        asyncio.ensure_future(_collect(process.stdout, stdout)),
        asyncio.ensure_future(_collect(process.stderr, stderr)),
    ]
    try:
        code = await process.wait()
        await _drain(readers, process.pid)
    except asyncio.CancelledError:
        _kill_group(process.pid)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(process.wait())
        for reader in readers:
            reader.cancel()
        raise
    return CommandResult(
        stdout=stdout.decode("utf-8", errors="replace"),
        stderr=stderr.decode("utf-8", errors="replace"),
        returncode=code,
    )


async def port_accepts(port: int, host: str = "127.0.0.1", timeout_s: float = 1.0) -> bool:
    """True when a TCP connection to HOST:PORT is accepted (it is closed right away)."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True
