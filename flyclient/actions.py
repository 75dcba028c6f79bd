"""The enumerated API actions: what each call is, how Fly rate-limits it, whether it may be retried.

Every request the client sends is tagged with one `Action`. The tag decides three things in
one place, so nothing else in the package guesses:

- the rate-limit key scope (`Scope.MACHINE`: one bucket per machine; `Scope.APP`: one per app;
  `Scope.VOLUME`: one per volume), mirroring Fly's "per action, per machine (or app)" limits;
- the retry class (`Retry`), i.e. what a repeated request could do to the world;
- the name used in logs.

Retry decisions, per action (why each is safe or not):

- GET-like reads (app, machine, list, lease, metadata, volumes, snapshots, logs) and `wait`
  change nothing: retried on 408 (except wait, where 408 is the answer "not yet"), 429, 5xx and
  transport errors.
- `start`, `stop`, `restart`: effectively idempotent on Fly, retried like reads. A repeated
  stop of a stopped machine is a no-op. Fly refuses (412) to start a machine that is already
  active, so when a resend after a lost answer gets that 412, `start`/`restart` read the machine
  and report success if it is starting or started (our first send did it). A repeated restart
  of a started machine costs one extra restart of a machine being restarted anyway.
- `destroy`: idempotent in effect; a repeat after a lost answer may see 404, which the caller
  reads as "already gone" (`NotFoundError`).
- metadata set/delete, lease refresh/release: setting the same value or extending/releasing the
  same lease twice ends in the same state. Retried like reads.
- `create machine`, `create volume`, `create app`: NOT retried blindly. They are retried only when
  the request certainly did not take effect (429, or a connection that failed before the request
  was sent); after an ambiguous failure the caller looks for what it may have created first.
- `exec`, `update machine`, `acquire lease`, `create snapshot`: not idempotent and not
  reconcilable cheaply; retried only when the request certainly was not sent or was rejected
  with 429. An exec whose answer is lost raises `ExecOutcomeUnknownError`.

This module must never perform I/O; it is a table.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final


class Scope(enum.Enum):
    """What one rate-limit bucket is keyed by, besides the action."""

    APP = "app"
    MACHINE = "machine"
    VOLUME = "volume"


class Retry(enum.Enum):
    """How freely a failed request of an action may be sent again."""

    # Sending it twice ends in the same state as sending it once.
    IDEMPOTENT = "idempotent"
    # Sending it twice may do the work twice: only resend what was certainly not executed.
    ONLY_IF_NOT_EXECUTED = "only_if_not_executed"


class Action(enum.Enum):
    """One kind of Fly API call."""

    APP_GET = "app_get"
    APP_CREATE = "app_create"
    MACHINE_LIST = "machine_list"
    MACHINE_CREATE = "machine_create"
    MACHINE_GET = "machine_get"
    MACHINE_UPDATE = "machine_update"
    MACHINE_START = "machine_start"
    MACHINE_STOP = "machine_stop"
    MACHINE_RESTART = "machine_restart"
    MACHINE_DESTROY = "machine_destroy"
    MACHINE_WAIT = "machine_wait"
    MACHINE_EXEC = "machine_exec"
    LEASE_ACQUIRE = "lease_acquire"
    LEASE_REFRESH = "lease_refresh"
    LEASE_GET = "lease_get"
    LEASE_RELEASE = "lease_release"
    METADATA_GET = "metadata_get"
    METADATA_SET = "metadata_set"
    METADATA_DELETE = "metadata_delete"
    VOLUME_LIST = "volume_list"
    VOLUME_CREATE = "volume_create"
    VOLUME_GET = "volume_get"
    VOLUME_DELETE = "volume_delete"
    SNAPSHOT_LIST = "snapshot_list"
    SNAPSHOT_CREATE = "snapshot_create"
    LOGS_GET = "logs_get"

    @property
    def spec(self) -> ActionSpec:
        return ACTION_SPECS[self]

    @property
    def rate_bucket(self) -> Action:
        """The action whose bucket this one draws from (the server counts them together)."""
        return self.spec.shares_bucket_with or self


@dataclass(frozen=True, slots=True)
class ActionSpec:
    scope: Scope
    retry: Retry
    # Two client actions that are one server endpoint share one server-side limit.
    shares_bucket_with: Action | None = None


_READ: Final = Retry.IDEMPOTENT
_ONCE: Final = Retry.ONLY_IF_NOT_EXECUTED

ACTION_SPECS: Final[dict[Action, ActionSpec]] = {
    Action.APP_GET: ActionSpec(Scope.APP, _READ),
    Action.APP_CREATE: ActionSpec(Scope.APP, _ONCE),
    Action.MACHINE_LIST: ActionSpec(Scope.APP, _READ),
    Action.MACHINE_CREATE: ActionSpec(Scope.APP, _ONCE),
    Action.MACHINE_GET: ActionSpec(Scope.MACHINE, _READ),
    Action.MACHINE_UPDATE: ActionSpec(Scope.MACHINE, _ONCE),
    Action.MACHINE_START: ActionSpec(Scope.MACHINE, _READ),
    Action.MACHINE_STOP: ActionSpec(Scope.MACHINE, _READ),
    Action.MACHINE_RESTART: ActionSpec(Scope.MACHINE, _READ),
    Action.MACHINE_DESTROY: ActionSpec(Scope.MACHINE, _READ),
    Action.MACHINE_WAIT: ActionSpec(Scope.MACHINE, _READ),
    Action.MACHINE_EXEC: ActionSpec(Scope.MACHINE, _ONCE),
    Action.LEASE_ACQUIRE: ActionSpec(Scope.MACHINE, _ONCE),
    Action.LEASE_REFRESH: ActionSpec(Scope.MACHINE, _READ, Action.LEASE_ACQUIRE),
    Action.LEASE_GET: ActionSpec(Scope.MACHINE, _READ),
    Action.LEASE_RELEASE: ActionSpec(Scope.MACHINE, _READ),
    Action.METADATA_GET: ActionSpec(Scope.MACHINE, _READ),
    Action.METADATA_SET: ActionSpec(Scope.MACHINE, _READ),
    Action.METADATA_DELETE: ActionSpec(Scope.MACHINE, _READ),
    Action.VOLUME_LIST: ActionSpec(Scope.APP, _READ),
    Action.VOLUME_CREATE: ActionSpec(Scope.APP, _ONCE),
    Action.VOLUME_GET: ActionSpec(Scope.VOLUME, _READ),
    Action.VOLUME_DELETE: ActionSpec(Scope.VOLUME, _READ),
    Action.SNAPSHOT_LIST: ActionSpec(Scope.VOLUME, _READ),
    Action.SNAPSHOT_CREATE: ActionSpec(Scope.VOLUME, _ONCE),
    Action.LOGS_GET: ActionSpec(Scope.MACHINE, _READ),
}
