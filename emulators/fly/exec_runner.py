"""Fly's exec endpoint inside the simulated machine, and the record of every exec.

A command runs as its own task, shielded from the HTTP request: when the
client's timeout (clamped to 60 s) elapses first the request gets 408 while
the command goes on and may still complete, with its effect, inside the
machine — exactly the ambiguity the real platform has. Two pairing commands
running at once on one machine wedge its gateway: from then on every exec on
that machine hangs until the machine is stopped or restarted. Stopping,
restarting or destroying a machine kills its running commands.

Commands are interpreted by `shell_forms` and `openclaw_sim`; nothing is ever
executed on the host — except in real-OpenClaw mode, where a recognised
OpenClaw CLI command runs for real through `real_openclaw` (node directly,
never a shell) and the simulated pairing instability is left to the real
runtime.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from .clock import EmulatorClock
from .errors import ApiError, precondition
from .faults import ExecEffect
from .machine import Machine
from .openclaw_sim import read_allow_list, run_cli
from .real_openclaw import exit_description
from .real_process import CommandResult
from .runtime import Runtime
from .shell_forms import (
    Interpretation,
    NodeEval,
    OpenClawInvocation,
    interpret,
    is_pairing_command,
)


@dataclass
class ExecRecord:
    app: str
    machine_id: str
    argv: list[str]
    started_at: float
    ended_at: float | None = None
    exit_code: int | None = None
    status: str = "running"
    """running | hung | completed | killed"""
    answered: str = "pending"
    """pending | 200 | 408: what the API client was told."""
    stdout: str = ""
    stderr: str = ""

    def as_json(self, clock: EmulatorClock) -> dict[str, Any]:
        return {
            "app": self.app,
            "machine_id": self.machine_id,
            "argv": list(self.argv),
            "started_at": clock.iso_millis(self.started_at),
            "ended_at": clock.iso_millis(self.ended_at) if self.ended_at is not None else None,
            "exit_code": self.exit_code,
            "status": self.status,
            "answered": self.answered,
            "stdout": self.stdout,
            "stderr": self.stderr,
        }


@dataclass
class ExecRunner:
    runtime: Runtime
    records: list[ExecRecord] = field(default_factory=list)

    async def execute(self, machine: Machine, argv: list[str], timeout_s: int) -> dict[str, Any]:
        if machine.state != "started":
            raise precondition(f"unable to exec on machine in state '{machine.state}'")
        clock = self.runtime.clock
        record = ExecRecord(
            app=machine.app, machine_id=machine.id, argv=list(argv), started_at=clock.now()
        )
        self.records.append(record)
        invocation = interpret(argv, machine.env, self.runtime.openclaw_dir)
        effect = self.runtime.faults.exec_effect(machine.id, " ".join(argv))
        pairing = is_pairing_command(invocation) and self.runtime.real is None
        if machine.gateway_unstable:
            effect = ExecEffect(hangs=True)
        elif pairing and machine.pairing_running > 0:
            machine.mark_gateway_unstable()
        task = self.runtime.spawn(self._run(machine, record, invocation, effect))
        if pairing:
            # Counted from the request on, so a second pairing exec arriving before the
            # first one's task got to run still sees it.
            machine.pairing_running += 1
        machine.exec_tasks.add(task)

        def finished(done: asyncio.Task[dict[str, Any]]) -> None:
            machine.exec_tasks.discard(done)
            if pairing:
                machine.pairing_running -= 1
            if done.cancelled():
                record.status = "killed"
                record.ended_at = clock.now()

        task.add_done_callback(finished)
        wait_s = timeout_s * self.runtime.timings.request_timeout_scale
        try:
            body = await asyncio.wait_for(asyncio.shield(task), wait_s)
        except TimeoutError:
            record.answered = "408"
            raise ApiError(
                408,
                f"deadline_exceeded: exec did not complete within {timeout_s}s "
                "(the command may still be running on the machine)",
            ) from None
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and (current is None or current.cancelling() == 0):
                record.answered = "500"
                raise ApiError(
                    500, "exec failed: the machine stopped while the command was running"
                ) from None
            raise
        record.answered = "200"
        return body

    async def _run(
        self,
        machine: Machine,
        record: ExecRecord,
        invocation: Interpretation,
        effect: ExecEffect,
    ) -> dict[str, Any]:
        clock = self.runtime.clock
        extra_delay = effect.extra_delay_s
        if effect.hangs:
            record.status = "hung"
            await asyncio.Event().wait()
        exit_signal = 0
        real = self.runtime.real
        if isinstance(invocation, OpenClawInvocation) and real is not None:
            if extra_delay > 0:
                await asyncio.sleep(extra_delay)
            try:
                ran = await real.run_cli(machine.disk, machine.env, invocation.args, invocation.cwd)
            except OSError as error:
                ran = CommandResult(stdout="", stderr=f"sh: 1: node: {error}\n", returncode=127)
            exit_code, signal_name = exit_description(ran.returncode)
            exit_signal = -ran.returncode if signal_name is not None else 0
            stdout, stderr = ran.stdout, ran.stderr
        elif isinstance(invocation, NodeEval) and real is not None:
            if extra_delay > 0:
                await asyncio.sleep(extra_delay)
            ran = await real.run_node_eval(
                machine.disk, machine.env, invocation.script, invocation.cwd
            )
            exit_code, signal_name = exit_description(ran.returncode)
            exit_signal = -ran.returncode if signal_name is not None else 0
            stdout, stderr = ran.stdout, ran.stderr
        elif isinstance(invocation, NodeEval):
            await asyncio.sleep(self.runtime.timings.cli + extra_delay)
            stdout, stderr, exit_code = _simulated_eval(machine, invocation.script)
        elif isinstance(invocation, OpenClawInvocation):
            await asyncio.sleep(self.runtime.timings.cli + extra_delay)
            result = run_cli(
                machine.openclaw,
                invocation.args,
                env=machine.env,
                now=clock.now(),
                iso=clock.iso_millis,
            )
            stdout, stderr, exit_code = result.stdout, result.stderr, result.exit_code
        else:
            if extra_delay > 0:
                await asyncio.sleep(extra_delay)
            stdout, stderr, exit_code = invocation.stdout, invocation.stderr, invocation.exit_code
        if effect.hangs_after:
            # The command did its work; its answer never leaves the machine.
            record.status = "hung"
            await asyncio.Event().wait()
        record.status = "completed"
        record.ended_at = clock.now()
        record.exit_code = exit_code
        record.stdout = stdout
        record.stderr = stderr
        return {
            "stdout": stdout,
            "stderr": stderr,
            "exit_code": exit_code,
            "exit_signal": exit_signal,
        }

    def describe(self) -> list[dict[str, Any]]:
        return [record.as_json(self.runtime.clock) for record in self.records]

    def clear(self) -> None:
        self.records.clear()


def _simulated_eval(machine: Machine, script: str) -> tuple[str, str, int]:
    """`node -e SCRIPT` on a simulated machine: only OpenClaw's allow-list read is modelled
    (the same JSON line the script prints on the real runtime)."""
    if "channel_pairing_allow_entries" in script and "telegram" in script:
        payload = {"channel": "telegram", "allowFrom": read_allow_list(machine.openclaw)}
        return json.dumps(payload, separators=(",", ":")) + "\n", "", 0
    return (
        "",
        "[eval]:1\nError: this simulated machine evaluates no such script\n\nNode.js v24.16.0\n",
        1,
    )
