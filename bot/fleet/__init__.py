"""The fleet service: lifecycle, provisioning, pairing executor, model control, monitor.

Knows nothing of Telegram: the bot, tests, a CLI and the benchmarks all drive it. This module
is the fleet's public surface: `__all__` names everything its callers use, and the Telegram
layer imports from here only, never from a submodule (`tests/fleet/test_fleet_public_surface.py`
checks both). Every error a caller meets is a `FleetError` (the store's and Fly's are turned
into one at the boundary), except the input checks of `validation` (`InvalidInput`).

The names are loaded on first use (PEP 562), not when the package is imported: a light caller
(`bot.settings` needs `bot.fleet.validation`; `python -m bot health`) does not pay for the whole
service, and `bot.fleet.defaults`, which imports `bot.settings`, closes no import cycle.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.fleet.bulk import BULK_STEPS, BulkAction, BulkReport
    from bot.fleet.defaults import FleetDefaults, FleetTimings
    from bot.fleet.errors import (
        AgentBusy,
        AgentNotFound,
        FleetError,
        GatewayProblem,
        InvalidRequest,
        InviteRefused,
        MachineUnsettled,
        ModelMismatch,
        NoSnapshot,
        OperationFailed,
        RecordNotFound,
        RefusedValue,
        StateConflict,
        VaultNotConfigured,
    )
    from bot.fleet.fly_pool import FlyPool
    from bot.fleet.gateway import GatewayHealth
    from bot.fleet.invites import InviteRedemption
    from bot.fleet.monitor import Monitor
    from bot.fleet.openclaw import find_pairing_code
    from bot.fleet.pairing_executor import PairingOutcome, PairingResult
    from bot.fleet.pairing_recovery import RecoveryResult
    from bot.fleet.progress import Progress, StepState
    from bot.fleet.provisioning import (
        PROVISION_STEPS,
        ProvisionRequest,
        ProvisionResult,
        ResumedProvision,
    )
    from bot.fleet.recreate import RECREATE_STEPS
    from bot.fleet.resolve import AGENT_SECRET_KEYS, TENANT_PLAIN_KEYS, TENANT_SECRET_KEYS
    from bot.fleet.service import FleetService
    from bot.fleet.tenants import TenantNotFound, TenantSetting, TenantView
    from bot.fleet.validation import InvalidInput, InvalidInputs, pairing_code
    from bot.fleet.views import AgentView

# Each public name and the module that defines it.
_HOMES: dict[str, str] = {
    # the front, and what runs beside it
    "FleetService": "service",
    "FleetDefaults": "defaults",
    "FleetTimings": "defaults",
    "FlyPool": "fly_pool",
    "Monitor": "monitor",
    # errors: every refusal or failure a caller meets
    "FleetError": "errors",
    "InvalidRequest": "errors",
    "AgentNotFound": "errors",
    "AgentBusy": "errors",
    "MachineUnsettled": "errors",
    "NoSnapshot": "errors",
    "OperationFailed": "errors",
    "GatewayProblem": "errors",
    "ModelMismatch": "errors",
    "RecordNotFound": "errors",
    "StateConflict": "errors",
    "RefusedValue": "errors",
    "VaultNotConfigured": "errors",
    "InviteRefused": "errors",
    "TenantNotFound": "tenants",
    # input checks
    "InvalidInput": "validation",
    "InvalidInputs": "validation",
    "pairing_code": "validation",
    "find_pairing_code": "openclaw",
    # what the use cases take and answer
    "ProvisionRequest": "provisioning",
    "ProvisionResult": "provisioning",
    "ResumedProvision": "provisioning",
    "AgentView": "views",
    "GatewayHealth": "gateway",
    "PairingOutcome": "pairing_executor",
    "PairingResult": "pairing_executor",
    "RecoveryResult": "pairing_recovery",
    "InviteRedemption": "invites",
    "BulkAction": "bulk",
    "BulkReport": "bulk",
    "TenantView": "tenants",
    "TenantSetting": "tenants",
    # progress and the step tables shown while an operation runs
    "Progress": "progress",
    "StepState": "progress",
    "PROVISION_STEPS": "provisioning",
    "RECREATE_STEPS": "recreate",
    "BULK_STEPS": "bulk",
    # the configuration keys, by level
    "TENANT_PLAIN_KEYS": "resolve",
    "TENANT_SECRET_KEYS": "resolve",
    "AGENT_SECRET_KEYS": "resolve",
}

__all__ = [
    "AGENT_SECRET_KEYS",
    "BULK_STEPS",
    "PROVISION_STEPS",
    "RECREATE_STEPS",
    "TENANT_PLAIN_KEYS",
    "TENANT_SECRET_KEYS",
    "AgentBusy",
    "AgentNotFound",
    "AgentView",
    "BulkAction",
    "BulkReport",
    "FleetDefaults",
    "FleetError",
    "FleetService",
    "FleetTimings",
    "FlyPool",
    "GatewayHealth",
    "GatewayProblem",
    "InvalidInput",
    "InvalidInputs",
    "InvalidRequest",
    "InviteRedemption",
    "InviteRefused",
    "MachineUnsettled",
    "ModelMismatch",
    "Monitor",
    "NoSnapshot",
    "OperationFailed",
    "PairingOutcome",
    "PairingResult",
    "Progress",
    "ProvisionRequest",
    "ProvisionResult",
    "RecordNotFound",
    "RecoveryResult",
    "RefusedValue",
    "ResumedProvision",
    "StateConflict",
    "StepState",
    "TenantNotFound",
    "TenantSetting",
    "TenantView",
    "VaultNotConfigured",
    "find_pairing_code",
    "pairing_code",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        # AttributeError, so `from bot.fleet import validation` still finds the submodule.
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # loaded once; later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
