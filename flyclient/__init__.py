"""Async client for the Fly Machines REST API and Fly's logs API.

`FlyClient` is the entry point (see `flyclient.client`); models, errors, retry policy and rate
limits are re-exported here so callers import from `flyclient` only.

Never imports `bot` or `storage`. Never logs, reprs or raises with the API token.
"""

from flyclient.actions import Action, Retry, Scope
from flyclient.auth import FlyToken
from flyclient.client import DEFAULT_LOGS_URL, DEFAULT_MACHINES_URL, FlyClient
from flyclient.errors import (
    ConflictError,
    ExecOutcomeUnknownError,
    FlyConnectionError,
    FlyError,
    FlyTimeoutError,
    ForbiddenError,
    InsufficientCapacityError,
    LeaseHeldError,
    NotFoundError,
    PreconditionFailedError,
    RateLimitedError,
    ServerError,
    UnauthorizedError,
    ValidationError,
    WaitTimeoutError,
)
from flyclient.machines import (
    EXEC_MAX_TIMEOUT_S,
    OP_ID_METADATA_KEY,
    clamp_exec_timeout,
    new_operation_id,
)
from flyclient.models import (
    App,
    AppOrganization,
    CheckStatus,
    ExecResult,
    ImageRef,
    Lease,
    LogEntry,
    LogPage,
    Machine,
    MachineCheck,
    MachineConfig,
    MachineEvent,
    MachineGuest,
    MachineMount,
    MachinePort,
    MachineRestart,
    MachineService,
    MachineServiceConcurrency,
    StopConfig,
    Volume,
    VolumeSnapshot,
)
from flyclient.ratelimit import RateLimit, RateLimiter, RateLimits
from flyclient.retry import RetryPolicy, parse_retry_after
from flyclient.wait import WAIT_MAX_TIMEOUT_S, clamp_wait_timeout

__all__ = [
    "DEFAULT_LOGS_URL",
    "DEFAULT_MACHINES_URL",
    "EXEC_MAX_TIMEOUT_S",
    "OP_ID_METADATA_KEY",
    "WAIT_MAX_TIMEOUT_S",
    "Action",
    "App",
    "AppOrganization",
    "CheckStatus",
    "ConflictError",
    "ExecOutcomeUnknownError",
    "ExecResult",
    "FlyClient",
    "FlyConnectionError",
    "FlyError",
    "FlyTimeoutError",
    "FlyToken",
    "ForbiddenError",
    "ImageRef",
    "InsufficientCapacityError",
    "Lease",
    "LeaseHeldError",
    "LogEntry",
    "LogPage",
    "Machine",
    "MachineCheck",
    "MachineConfig",
    "MachineEvent",
    "MachineGuest",
    "MachineMount",
    "MachinePort",
    "MachineRestart",
    "MachineService",
    "MachineServiceConcurrency",
    "NotFoundError",
    "PreconditionFailedError",
    "RateLimit",
    "RateLimitedError",
    "RateLimiter",
    "RateLimits",
    "Retry",
    "RetryPolicy",
    "Scope",
    "ServerError",
    "StopConfig",
    "UnauthorizedError",
    "ValidationError",
    "Volume",
    "VolumeSnapshot",
    "WaitTimeoutError",
    "clamp_exec_timeout",
    "clamp_wait_timeout",
    "new_operation_id",
    "parse_retry_after",
]
