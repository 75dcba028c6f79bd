"""The one entry point to storage: open the database, migrate it, expose the repositories.

    store = await Store.open("./data/flyagents.db", vault_keys=settings.secrets_key)
    async with store.transaction() as tx:       # one atomic change across repositories
        await store.pairing.approve(request_id, admin=str(Actor.admin(42)), tx=tx)
        await store.outbox.enqueue(AlertKind.PAIRING_SUBMITTED, "…", tx=tx)
    await store.close()

Opening applies pending migrations (safe on every start). It does not turn `running` pairing
requests into `stuck`: the pairing executor calls `store.pairing.recover_after_restart` when it
starts, because a one-off tool opening the same file must not disturb a live service.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType

from pydantic import SecretStr

from storage.agents import AgentRepository
from storage.audit import AuditLog
from storage.clock import Clock, utc_now
from storage.db import DEFAULT_BUSY_TIMEOUT_MS, Database, Synchronous, Transaction
from storage.invites import InviteRepository
from storage.journal import OperationsJournal
from storage.keyring import VaultKeyring
from storage.machine_marks import MachineMarks
from storage.migrations import MIGRATIONS, current_version, migrate
from storage.outbox import AlertOutbox
from storage.pairing import PairingLedger
from storage.secret_questions import SecretQuestions
from storage.snapshots import SnapshotRepository
from storage.tenants import TenantRepository
from storage.vault import SecretsVault

DEFAULT_DATABASE_PATH = Path("./data/flyagents.db")


class Store:
    """The open store. Create with `await Store.open(...)`; close with `await store.close()`."""

    def __init__(self, database: Database, clock: Clock, keyring: VaultKeyring | None) -> None:
        self.db = database
        self.clock = clock
        self.audit = AuditLog(database, clock)
        self.outbox = AlertOutbox(database, clock)
        self.agents = AgentRepository(database, clock, self.audit)
        self.snapshots = SnapshotRepository(database, clock)
        self.secrets = SecretsVault(database, clock, self.audit, keyring)
        self.invites = InviteRepository(database, clock, self.audit, self.agents)
        self.pairing = PairingLedger(database, clock, self.outbox, self.audit)
        self.journal = OperationsJournal(database, clock)
        self.tenants = TenantRepository(database, clock, self.audit)
        self.secret_questions = SecretQuestions(database, clock)
        self.machine_marks = MachineMarks(database, clock)

    @classmethod
    async def open(
        cls,
        path: str | Path | None = None,
        *,
        vault_keys: VaultKeyring | str | SecretStr | None = None,
        clock: Clock = utc_now,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        synchronous: Synchronous = "FULL",
    ) -> Store:
        """Open (creating if needed) and migrate the database at `path`.

        `vault_keys` is a keyring or the `AGENT_SECRETS_ENCRYPTION_KEY` value; without it the
        store works but any use of secrets raises `VaultNotConfiguredError`. A malformed key is
        refused here, at start-up, not at the first secret write.
        """
        keyring = (
            VaultKeyring.from_env_value(vault_keys)
            if isinstance(vault_keys, str | SecretStr)
            else vault_keys
        )
        database = await Database.open(
            DEFAULT_DATABASE_PATH if path is None else path,
            busy_timeout_ms=busy_timeout_ms,
            synchronous=synchronous,
        )
        try:
            await migrate(database, MIGRATIONS, clock=clock)
        except BaseException:
            await database.close()
            raise
        store = cls(database, clock, keyring)
        try:
            # Every stored value is known to the redaction registry before anything is sent.
            await store.secrets.remember_stored()
        except BaseException:
            await database.close()
            raise
        return store

    @asynccontextmanager
    async def transaction(self, within: Transaction | None = None) -> AsyncIterator[Transaction]:
        """One atomic change across repositories: pass the yielded `tx` to each call."""
        async with self.db.transaction(within) as transaction:
            yield transaction

    async def schema_version(self) -> int:
        return await current_version(self.db)

    async def close(self) -> None:
        await self.db.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
