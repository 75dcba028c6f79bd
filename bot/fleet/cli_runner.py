"""Runs OpenClaw CLI commands on machines: one command per machine at a time, bounded.

Every OpenClaw CLI run is a full Node.js process; several at once can exhaust a 2 GB VM and
concurrent pairing commands destabilise the gateway. So every command on a machine —
pairing, models, config — goes through the same per-machine lock here. (The pairing ledger
adds the database guarantee on top; this lock also covers the other commands.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from weakref import WeakValueDictionary

from bot.fleet.openclaw import CliCommand
from flyclient import ExecResult, FlyClient

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
    """Serialises CLI commands per machine within this process."""

    def __init__(self) -> None:
        self._locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()

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
        """Run one command; `ExecOutcomeUnknownError` and other Fly errors propagate."""
        lock = self.lock(machine_id)
        async with lock:
            log.info("exec %s on %s", command.label, machine_id)
            result = await fly.exec(machine_id, command.argv, timeout_s=timeout_s)
            return CliOutcome.from_exec(result, secrets)
