"""The secrets vault: encrypted per-agent (and per-tenant) secrets, merged, listed, rotated.

Values go in as `str` or `SecretStr` and come out only as `SecretStr`, for the one call that
needs them; `meta` shows names, key id, times and a keyed fingerprint, never values. Every write
is audited by name only. Encryption, key ids and the associated data that binds a ciphertext to
its scope and name are described in `storage.keyring`.

This module never logs a value, never puts one in an exception, and never stores one unencrypted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import SecretStr

from storage.audit import AuditLog
from storage.clock import Clock, from_db_time, to_db_time
from storage.db import Database, Row, Transaction
from storage.errors import (
    InvalidSecretNameError,
    NotFoundError,
    SecretDecryptionError,
    UnknownKeyIdError,
    VaultNotConfiguredError,
)
from storage.keyring import ENV_VAR, GENERATE_COMMAND, VaultKeyring
from storage.models import AuditOutcome, RotationReport, SecretMeta, SecretScope, SecretScopeKind
from storage.redaction import KNOWN_SECRETS

SECRET_NAME_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
MAX_SECRET_CHARS = 65_536


def check_secret_name(name: str) -> str:
    if not SECRET_NAME_PATTERN.fullmatch(name):
        raise InvalidSecretNameError(
            f"secret name {name[:80]!r} must match {SECRET_NAME_PATTERN.pattern} "
            "(upper case letters, digits and _, starting with a letter, at most 64 characters)"
        )
    return name


class SecretsVault:
    """Repository for `vault_secrets`."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        audit: AuditLog,
        keyring: VaultKeyring | None,
    ) -> None:
        self._db = database
        self._clock = clock
        self._audit = audit
        self._keyring = keyring

    @property
    def is_configured(self) -> bool:
        return self._keyring is not None

    def _keys(self) -> VaultKeyring:
        if self._keyring is None:
            raise VaultNotConfiguredError(
                f"secrets need an encryption key: set {ENV_VAR}. Generate one with: "
                f"{GENERATE_COMMAND}"
            )
        return self._keyring

    async def upsert(
        self,
        scope: SecretScope,
        values: Mapping[str, str | SecretStr],
        *,
        actor: str,
        tx: Transaction | None = None,
    ) -> list[SecretMeta]:
        """Set the given secrets, leaving the scope's other secrets as they are."""
        keyring = self._keys()
        plain: dict[str, str] = {}
        for name, value in values.items():
            check_secret_name(name)
            text = value.get_secret_value() if isinstance(value, SecretStr) else value
            if not text:
                raise ValueError(f"secret {name} is empty; use delete to remove a secret")
            if len(text) > MAX_SECRET_CHARS:
                raise ValueError(f"secret {name} is longer than {MAX_SECRET_CHARS} characters")
            plain[name] = text
        # Known before anything is written, so no text written from here on can hold it.
        KNOWN_SECRETS.update(plain.values())
        now = to_db_time(self._clock())
        async with self._db.transaction(tx) as transaction:
            if scope.kind is SecretScopeKind.AGENT:
                agent = await transaction.fetch_one(
                    "SELECT 1 FROM agents WHERE id = ?", (scope.id,)
                )
                if agent is None:
                    raise NotFoundError(f"no agent {scope.id}")
            for name, text in plain.items():
                sealed = keyring.seal(scope.kind.value, scope.id, name, text)
                await transaction.execute(
                    """
                    INSERT INTO vault_secrets (
                        scope_kind, scope_id, name, key_id, nonce, ciphertext, fingerprint,
                        created_at, updated_at
                    ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (scope_kind, scope_id, name) DO UPDATE SET
                        key_id = excluded.key_id, nonce = excluded.nonce,
                        ciphertext = excluded.ciphertext, fingerprint = excluded.fingerprint,
                        updated_at = excluded.updated_at
                    """,
                    (
                        scope.kind.value,
                        scope.id,
                        name,
                        sealed.key_id,
                        sealed.nonce,
                        sealed.ciphertext,
                        sealed.fingerprint,
                        now,
                        now,
                    ),
                )
            await self._audit.record(
                actor=actor,
                action="secrets.upsert",
                target=_target(scope),
                outcome=AuditOutcome.OK,
                detail={"names": sorted(plain)},
                tx=transaction,
            )
            rows = await transaction.fetch_all(
                "SELECT * FROM vault_secrets WHERE scope_kind = ? AND scope_id = ? ORDER BY name",
                (scope.kind.value, scope.id),
            )
        return [_meta(row) for row in rows]

    async def get(self, scope: SecretScope, name: str) -> SecretStr | None:
        """One decrypted secret, or None when it is not stored."""
        keyring = self._keys()
        check_secret_name(name)
        row = await self._db.fetch_one(
            "SELECT * FROM vault_secrets WHERE scope_kind = ? AND scope_id = ? AND name = ?",
            (scope.kind.value, scope.id, name),
        )
        return None if row is None else SecretStr(_open(keyring, row))

    async def get_all(self, scope: SecretScope) -> dict[str, SecretStr]:
        """Every secret of a scope, decrypted, by name."""
        keyring = self._keys()
        rows = await self._db.fetch_all(
            "SELECT * FROM vault_secrets WHERE scope_kind = ? AND scope_id = ? ORDER BY name",
            (scope.kind.value, scope.id),
        )
        return {row["name"]: SecretStr(_open(keyring, row)) for row in rows}

    async def remember_stored(self) -> int:
        """Register every stored value with `KNOWN_SECRETS` (at open); returns how many.

        A value that cannot be decrypted (its key is gone) is skipped: it cannot be used, so it
        cannot be sent anywhere either.
        """
        if self._keyring is None:
            return 0
        rows = await self._db.fetch_all("SELECT * FROM vault_secrets")
        known = 0
        for row in rows:
            try:
                _open(self._keyring, row)
            except (SecretDecryptionError, UnknownKeyIdError):
                continue
            known += 1
        return known

    async def meta(self, scope: SecretScope) -> list[SecretMeta]:
        """Names, key ids, times and fingerprints — safe to show to an admin."""
        rows = await self._db.fetch_all(
            "SELECT * FROM vault_secrets WHERE scope_kind = ? AND scope_id = ? ORDER BY name",
            (scope.kind.value, scope.id),
        )
        return [_meta(row) for row in rows]

    async def fingerprint_matches(self, scope: SecretScope, name: str, candidate: str) -> bool:
        """Whether a stored secret's fingerprint is that of `candidate` (no decryption)."""
        keyring = self._keys()
        row = await self._db.fetch_one(
            "SELECT fingerprint, key_id FROM vault_secrets "
            "WHERE scope_kind = ? AND scope_id = ? AND name = ?",
            (scope.kind.value, scope.id, check_secret_name(name)),
        )
        if row is None or row["key_id"] != keyring.current_key_id:
            return False
        return bool(row["fingerprint"] == keyring.fingerprint(candidate))

    async def delete(
        self, scope: SecretScope, name: str, *, actor: str, tx: Transaction | None = None
    ) -> bool:
        check_secret_name(name)
        async with self._db.transaction(tx) as transaction:
            removed = await transaction.execute(
                "DELETE FROM vault_secrets WHERE scope_kind = ? AND scope_id = ? AND name = ?",
                (scope.kind.value, scope.id, name),
            )
            if removed:
                await self._audit.record(
                    actor=actor,
                    action="secrets.delete",
                    target=_target(scope),
                    outcome=AuditOutcome.OK,
                    detail={"names": [name]},
                    tx=transaction,
                )
        return removed > 0

    async def clear(self, scope: SecretScope, *, actor: str, tx: Transaction | None = None) -> int:
        """Remove every secret of a scope; returns how many were removed."""
        async with self._db.transaction(tx) as transaction:
            rows = await transaction.fetch_all(
                "DELETE FROM vault_secrets WHERE scope_kind = ? AND scope_id = ? RETURNING name",
                (scope.kind.value, scope.id),
            )
            await self._audit.record(
                actor=actor,
                action="secrets.clear",
                target=_target(scope),
                outcome=AuditOutcome.OK,
                detail={"names": sorted(str(row["name"]) for row in rows)},
                tx=transaction,
            )
        return len(rows)

    async def rotate(self, *, actor: str, batch_size: int = 100) -> RotationReport:
        """Re-encrypt every secret not under the current key, in batches of one transaction each.

        Interrupted, it can simply be run again: finished batches are committed and skipped.
        """
        keyring = self._keys()
        current = keyring.current_key_id
        counted = await self._db.fetch_one(
            "SELECT COUNT(*) FROM vault_secrets WHERE key_id = ?", (current,)
        )
        already_current = int(counted[0]) if counted is not None else 0
        re_encrypted = 0
        while True:
            async with self._db.transaction() as transaction:
                rows = await transaction.fetch_all(
                    "SELECT * FROM vault_secrets WHERE key_id <> ? "
                    "ORDER BY scope_kind, scope_id, name LIMIT ?",
                    (current, batch_size),
                )
                for row in rows:
                    value = _open(keyring, row)
                    sealed = keyring.seal(row["scope_kind"], row["scope_id"], row["name"], value)
                    await transaction.execute(
                        """
                        UPDATE vault_secrets
                        SET key_id = ?, nonce = ?, ciphertext = ?, fingerprint = ?, updated_at = ?
                        WHERE scope_kind = ? AND scope_id = ? AND name = ?
                        """,
                        (
                            sealed.key_id,
                            sealed.nonce,
                            sealed.ciphertext,
                            sealed.fingerprint,
                            to_db_time(self._clock()),
                            row["scope_kind"],
                            row["scope_id"],
                            row["name"],
                        ),
                    )
                if rows:
                    await self._audit.record(
                        actor=actor,
                        action="secrets.rotate",
                        target=None,
                        outcome=AuditOutcome.OK,
                        detail={"re_encrypted": len(rows), "to_key_id": current},
                        tx=transaction,
                    )
            re_encrypted += len(rows)
            if len(rows) < batch_size:
                break
        return RotationReport(
            re_encrypted=re_encrypted, already_current=already_current, current_key_id=current
        )


def _target(scope: SecretScope) -> str:
    return f"{scope.kind.value}:{scope.id}"


def _open(keyring: VaultKeyring, row: Row) -> str:
    """Decrypt one row; every value that comes out is known to the redaction registry."""
    value = keyring.open(
        row["scope_kind"],
        row["scope_id"],
        row["name"],
        row["key_id"],
        bytes(row["nonce"]),
        bytes(row["ciphertext"]),
    )
    KNOWN_SECRETS.add(value)
    return value


def _meta(row: Row) -> SecretMeta:
    return SecretMeta(
        scope=SecretScope(kind=SecretScopeKind(row["scope_kind"]), id=row["scope_id"]),
        name=row["name"],
        key_id=row["key_id"],
        fingerprint=row["fingerprint"],
        created_at=from_db_time(row["created_at"]),
        updated_at=from_db_time(row["updated_at"]),
    )
