"""Runs OpenClaw CLI commands on machines: one command per machine at a time, bounded.

Every OpenClaw CLI run is a full Node.js process; several at once can exhaust a 2 GB VM and
concurrent pairing commands destabilise the gateway. So every command on a machine —
pairing, models, config — goes through the same per-machine lock here. (The pairing ledger
adds the database guarantee on top; this lock also covers the other commands.)

The lock only covers commands whose answer came back. A command whose exec timed out or
whose answer was lost may still be running inside the machine, so "one at a time" also means:
after such a command the machine takes no other one until it was restarted (by the bot, or a
new boot of the machine the bot sees as a new `instance_id`). That mark is written to the
store before each command is sent and cleared when its answer arrives, so it also survives a
bot that died while a command was in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from weakref import WeakValueDictionary

from bot.fleet.errors import MachineUnsettled
from bot.fleet.openclaw import CliCommand
from flyclient import ExecOutcomeUnknownError, ExecResult, FlyClient, FlyError
from storage import Store
from storage.machine_marks import MachineMark

log = logging.getLogger("bot.fleet.cli")

MAX_KEPT_OUTPUT = 2000


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every known secret value replaced, for audit records and messages."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text


@dataclass(frozen=True)
class CliOutcome:
    exit_code: int
    stdout: str
    stderr: str

    @classmethod
    def from_exec(cls, result: ExecResult, secrets: Iterable[str]) -> CliOutcome:
        known = tuple(secrets)
        return cls(
            exit_code=result.exit_code if not result.exit_signal else 128 + result.exit_signal,
            stdout=scrub(result.stdout, known)[-MAX_KEPT_OUTPUT:],
            stderr=scrub(result.stderr, known)[-MAX_KEPT_OUTPUT:],
        )


class MachineCli:
    """Serialises CLI commands per machine; refuses a machine whose last command never
    answered (with `marks`, durably) until it was restarted."""

    def __init__(self, store: Store | None = None) -> None:
        self._locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()
        self._store = store
        self._marks = store.machine_marks if store is not None else None

    def lock(self, machine_id: str) -> asyncio.Lock:
        lock = self._locks.get(machine_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[machine_id] = lock
        return lock

    def busy(self, machine_id: str) -> bool:
        lock = self._locks.get(machine_id)
        return lock is not None and lock.locked()

    async def run(
        self,
        fly: FlyClient,
        machine_id: str,
        command: CliCommand,
        *,
        timeout_s: float,
        secrets: Iterable[str] = (),
    ) -> CliOutcome:
        """Run one command; `ExecOutcomeUnknownError` and other Fly errors propagate.

        `MachineUnsettled` when an earlier command's outcome is still unknown: nothing is sent.
        """
        lock = self.lock(machine_id)
        async with lock:
            await self.require_settled(fly, machine_id)
            if self._marks is not None:
                await self._marks.sending(machine_id, command.label)
            log.info("exec %s on %s", command.label, machine_id)
            try:
                result = await fly.exec(machine_id, command.argv, timeout_s=timeout_s)
            except ExecOutcomeUnknownError:
                log.warning(
                    "exec %s on %s did not answer: the machine takes no other command "
                    "until it is restarted",
                    command.label,
                    machine_id,
                )
                if self._marks is not None:
                    await self._marks.unknown(machine_id, await _instance_id(fly, machine_id))
                raise
            except FlyError:
                # Fly refused the exec before running it: nothing runs in the machine. (A
                # cancellation keeps the mark: the command may have been sent.)
                if self._marks is not None:
                    await self._marks.clear(machine_id)
                raise
            if self._marks is not None:
                await self._marks.clear(machine_id)
            return CliOutcome.from_exec(result, secrets)

    async def require_settled(self, fly: FlyClient, machine_id: str) -> None:
        """`MachineUnsettled` unless the machine's last command answered (or it restarted since)."""
        if self._marks is None:
            return
        mark = await self._marks.get(machine_id)
        if mark is None:
            return
        current = await _instance_id(fly, machine_id)
        if mark.instance_id is not None and current is not None and current != mark.instance_id:
            # The machine was restarted or updated since (a new boot): the command died.
            await self._marks.clear(machine_id)
            return
        agent = await self._store.agents.get_by_machine(machine_id) if self._store else None
        raise MachineUnsettled(_unsettled_words(mark, agent.id if agent else None))

    async def restarted(self, machine_id: str) -> None:
        """The bot restarted, stopped or replaced the machine: whatever ran in it ended."""
        if self._marks is not None and await self._marks.clear(machine_id):
            log.info("machine %s restarted: it takes commands again", machine_id)


async def _instance_id(fly: FlyClient, machine_id: str) -> str | None:
    try:
        return (await fly.get_machine(machine_id)).instance_id
    except FlyError:
        return None


def _unsettled_words(mark: MachineMark, agent_id: str | None) -> str:
    how = f"/restart {agent_id}" if agent_id else "/restart AGENT"
    return (
        f"Machine {mark.machine_id} may still be running an earlier command ({mark.command}) "
        f"that did not answer, so it takes no other command until it is restarted: {how}"
    )
