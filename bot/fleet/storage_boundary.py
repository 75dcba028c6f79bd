"""The fleet's other boundary: a refusal of the store leaves the fleet only as a `FleetError`.

As httpx turns httpcore's errors into its own, the fleet turns the store's expected refusals
(a record not found, a state that no longer allows the change, an invite that cannot be
redeemed, a vault without a key…) into the `FleetError` subclasses of `bot.fleet.errors`, so
its callers (the Telegram layer) handle `FleetError` alone and never import `storage.errors`.
The message stays the store's, word for word. Anything else the store raises (a migration, a
misused transaction, a record refused as unsafe) is a bug, not a refusal, and passes unchanged
to the caller's error handler.

`fleet_error_from_storage` is the one mapping; the class decorator applies it to every public
coroutine of the classes callers reach (`FleetService`, `TenantService`), at the front only, so
inside the fleet the use cases still see — and may catch — the store's own errors.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from bot.fleet.errors import (
    FleetError,
    InviteRefused,
    RecordNotFound,
    RefusedValue,
    StateConflict,
    VaultNotConfigured,
)
from storage.errors import (
    ConflictError,
    InvalidPairingCodeError,
    InvalidSecretNameError,
    InviteRedeemError,
    NotFoundError,
    StateTransitionError,
    StorageError,
    VaultNotConfiguredError,
)

C = TypeVar("C", bound=type)


def fleet_error_from_storage(error: StorageError) -> FleetError | None:
    """The `FleetError` a store refusal becomes, or None for an error that is not a refusal."""
    message = str(error)
    if isinstance(error, InviteRedeemError):
        return InviteRefused(
            message,
            reason=error.reason,
            agent_id=error.agent_id,
            linked_user_id=error.linked_user_id,
        )
    if isinstance(error, NotFoundError):
        return RecordNotFound(message)
    if isinstance(error, StateTransitionError):
        return StateConflict(message, current=error.current)
    if isinstance(error, ConflictError):
        return StateConflict(message)
    if isinstance(error, InvalidPairingCodeError | InvalidSecretNameError):
        return RefusedValue(message)
    if isinstance(error, VaultNotConfiguredError):
        return VaultNotConfigured(message)
    return None


def _wrap(
    method: Callable[..., Coroutine[Any, Any, Any]],
) -> Callable[..., Coroutine[Any, Any, Any]]:
    @functools.wraps(method)
    async def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except StorageError as error:
            refusal = fleet_error_from_storage(error)
            if refusal is None:
                raise
            raise refusal from error

    return guarded


def storage_errors_become_fleet_errors(cls: C) -> C:
    """Class decorator: every public coroutine method of `cls` turns a store refusal that
    escapes it into its `FleetError` (see the module docstring)."""
    for name, member in list(vars(cls).items()):
        if name.startswith("_") or not inspect.iscoroutinefunction(member):
            continue
        setattr(cls, name, _wrap(member))
    return cls
