"""Exceptions raised by the store, shaped after what callers want to catch.

No message built here ever contains a secret value, a key or an invite token: messages name
records by id and secrets by name only.
"""

from __future__ import annotations

from typing import Any


class StorageError(Exception):
    """Base class for every error the store raises on purpose."""


class MigrationError(StorageError):
    """The schema could not be brought to the version this code expects."""


class SchemaTooNewError(MigrationError):
    """The database was written by a newer version of the service; refusing to touch it."""


class TransactionMisuseError(StorageError):
    """A transaction was used outside the task that opened it, or after it ended."""


class NotFoundError(StorageError):
    """The record asked for does not exist."""


class ConflictError(StorageError):
    """The change would break a uniqueness or consistency rule."""


class AgentAlreadyExistsError(ConflictError):
    """A live agent already exists for this tenant and user."""


class IdempotencyConflictError(ConflictError):
    """An idempotency key was reused for a different kind of operation."""


class StateTransitionError(StorageError):
    """A record is not in the state the requested change starts from.

    `current` carries the record as it is now (a pydantic model), so the caller can tell the user
    who got there first.
    """

    def __init__(self, message: str, current: Any = None) -> None:
        super().__init__(message)
        self.current = current


class UnsafeRecordError(StorageError, ValueError):
    """A plain-text record (audit detail, journal params, overrides) has secret-named fields."""


class InvalidPairingCodeError(StorageError, ValueError):
    """A pairing code does not have OpenClaw's format."""


class InviteRedeemError(StorageError):
    """An invite token cannot be redeemed; `reason` says why (unknown, used, expired, revoked,
    agent gone, agent taken). For `agent_taken`, `agent_id` and `linked_user_id` (the Telegram
    user the agent stays linked to) are set, for the operators — never shown to the redeemer."""

    def __init__(
        self,
        message: str,
        reason: str,
        *,
        agent_id: str | None = None,
        linked_user_id: int | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.agent_id = agent_id
        self.linked_user_id = linked_user_id


class VaultError(StorageError):
    """Base class for secrets-vault errors."""


class VaultKeyError(VaultError, ValueError):
    """The configured encryption key(s) are unusable."""


class VaultNotConfiguredError(VaultError):
    """Secrets were used but no encryption key was configured."""


class InvalidSecretNameError(VaultError, ValueError):
    """A secret name does not match the allowed pattern."""


class UnknownKeyIdError(VaultError):
    """A stored secret was encrypted under a key id that is not configured."""


class SecretDecryptionError(VaultError):
    """A ciphertext failed authentication: tampered, moved to another record, or wrong key."""
