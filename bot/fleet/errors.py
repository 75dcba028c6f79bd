"""Errors the fleet service raises: each carries a message fit to show an admin as is.

Messages never contain secret values, tracebacks or raw API bodies: every message (and
cleanup step) is cut of the values the process knows as secrets when the error is made, since
some quote a third party's text (a Fly error body can echo a config value).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from storage.models import AlertKind
from storage.redaction import redact_known


class FleetError(Exception):
    """Base of every refusal or failure the service reports to its caller."""

    def __init__(self, message: str, *, cleanup: Sequence[str] = ()) -> None:
        message = redact_known(message)
        super().__init__(message)
        self.message = message
        self.cleanup = tuple(redact_known(step) for step in cleanup)

    def __str__(self) -> str:
        if not self.cleanup:
            return self.message
        return f"{self.message} To clean up: {'; '.join(self.cleanup)}."


class InvalidRequest(FleetError):
    """Input was refused before anything was created; `problems` lists every reason."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = [redact_known(problem) for problem in problems]
        super().__init__("; ".join(self.problems))


class AgentNotFound(FleetError):
    pass


class AgentBusy(FleetError):
    """Another operation holds the agent, or its state does not allow this one."""


class NoSnapshot(FleetError):
    pass


class OperationFailed(FleetError):
    """A multi-step operation stopped; the state it left is recorded and named."""


class GatewayFailure(StrEnum):
    """Why the OpenClaw gateway did not come up."""

    AUTH_REFUSED = "auth_refused"
    VERSION_MISMATCH = "version_mismatch"
    NEVER_LISTENING = "never_listening"


_GATEWAY_ALERTS = {
    GatewayFailure.AUTH_REFUSED: AlertKind.GATEWAY_AUTH_REFUSED,
    GatewayFailure.VERSION_MISMATCH: AlertKind.GATEWAY_VERSION_MISMATCH,
    GatewayFailure.NEVER_LISTENING: AlertKind.GATEWAY_NEVER_LISTENING,
}


class GatewayProblem(OperationFailed):
    """The OpenClaw gateway did not come up; `kind` says why."""

    def __init__(self, kind: GatewayFailure, message: str, *, cleanup: Sequence[str] = ()) -> None:
        super().__init__(message, cleanup=cleanup)
        self.kind = kind

    @property
    def alert_kind(self) -> AlertKind:
        return _GATEWAY_ALERTS[self.kind]


class ModelMismatch(OperationFailed):
    pass


class MachineUnsettled(AgentBusy):
    """An earlier command on the machine never answered and may still be running in it: the
    machine takes no other command until it was restarted."""


# --- the store's refusals, as the fleet's callers meet them (`bot.fleet.storage_boundary`) ---


class RecordNotFound(FleetError):
    """A record the request named (a pairing request, an invite…) does not exist."""


class StateConflict(FleetError):
    """The record is not (or no longer) in a state the request applies to, or already
    exists; `current` is its state as the store found it, when known."""

    def __init__(self, message: str, *, current: object = None) -> None:
        super().__init__(message)
        self.current = current


class RefusedValue(FleetError):
    """A value the store refuses to keep (a malformed pairing code or secret name)."""


class VaultNotConfigured(FleetError):
    """Secrets cannot be stored: the process has no vault key."""


class InviteRefused(FleetError):
    """An invite could not be redeemed; `reason` says why (an `InviteRefusal`). When the
    agent is linked to someone else, `agent_id` and `linked_user_id` name both."""

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        agent_id: str | None = None,
        linked_user_id: int | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.agent_id = agent_id
        self.linked_user_id = linked_user_id
