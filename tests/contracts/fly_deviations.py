"""Where the real Fly Machines API differs from its published OpenAPI spec, as data.

Each entry names what differs, where, and why we believe the real behaviour (the facts collected
in fly-machines-api.md and what Fly's own Go client decodes) rather than the spec. An entry may
carry an *effect* that the validator in ``fly_spec`` applies; an entry without one only records a
documented quirk the spec already tolerates. This list must never grow to hide an emulator or client
bug: add an entry only for a difference the real API is known to have, with its source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JsonSchema = Mapping[str, Any]

# Operation keys are "METHOD /template" with the template exactly as the spec writes it (relative
# to https://api.machines.dev/v1); the logs API lives on another host and is keyed by its own path.
LIST_MACHINES = "GET /apps/{app_name}/machines"
CREATE_APP = "POST /apps"
DESTROY_MACHINE = "DELETE /apps/{app_name}/machines/{machine_id}"
START_MACHINE = "POST /apps/{app_name}/machines/{machine_id}/start"
STOP_MACHINE = "POST /apps/{app_name}/machines/{machine_id}/stop"
RESTART_MACHINE = "POST /apps/{app_name}/machines/{machine_id}/restart"
WAIT_MACHINE = "GET /apps/{app_name}/machines/{machine_id}/wait"
EXEC_MACHINE = "POST /apps/{app_name}/machines/{machine_id}/exec"
ACQUIRE_LEASE = "POST /apps/{app_name}/machines/{machine_id}/lease"
SHOW_LEASE = "GET /apps/{app_name}/machines/{machine_id}/lease"
RELEASE_LEASE = "DELETE /apps/{app_name}/machines/{machine_id}/lease"
CREATE_SNAPSHOT = "POST /apps/{app_name}/volumes/{volume_id}/snapshots"
APP_LOGS = "GET /api/v1/apps/{app_name}/logs"

LEASE_OPERATIONS = (ACQUIRE_LEASE, SHOW_LEASE, RELEASE_LEASE)

ERROR_RESPONSE_REF = "#/components/schemas/ErrorResponse"


@dataclass(frozen=True)
class ExtraQueryParameter:
    """A query parameter real clients send that the spec does not list for these operations."""

    operations: tuple[str, ...]
    name_pattern: str  # a regular expression the whole parameter name must match
    schema: JsonSchema


@dataclass(frozen=True)
class ResponseOverride:
    """What the real API answers for these statuses, replacing what the spec declares.

    ``schema`` None means the answer has no body; ``body_optional`` also accepts no body at all.
    """

    operations: tuple[str, ...]
    statuses: tuple[int, ...]
    schema: JsonSchema | None
    body_optional: bool = False


@dataclass(frozen=True)
class AlternativeErrorBody:
    """An error body shape these operations use instead of the spec's ErrorResponse."""

    operations: tuple[str, ...]
    schema: JsonSchema


@dataclass(frozen=True)
class OptionalRequestBody:
    """The spec marks the body required, but the real API also takes the call without one."""

    operations: tuple[str, ...]


@dataclass(frozen=True)
class SchemaPatch:
    """Replace (or, with ``adds_property``, add) one property of a component schema."""

    schema_name: str
    property_name: str
    replacement: JsonSchema
    adds_property: bool = False


@dataclass(frozen=True)
class ExtraOperation:
    """An endpoint the bot uses that is not in the Machines spec at all."""

    operation: str
    query_parameters: Mapping[str, JsonSchema]
    success_schema: JsonSchema
    error_schema: JsonSchema


@dataclass(frozen=True)
class NullMeansAbsent:
    """A ``null`` member is treated as if the member were missing, in both directions."""


@dataclass(frozen=True)
class UndocumentedErrorStatuses:
    """Error statuses the spec does not list for an operation are judged by their body alone."""


@dataclass(frozen=True)
class BodylessServerErrors:
    """A 5xx answer may come without a JSON body."""


Effect = (
    ExtraQueryParameter
    | ResponseOverride
    | AlternativeErrorBody
    | OptionalRequestBody
    | SchemaPatch
    | ExtraOperation
    | NullMeansAbsent
    | UndocumentedErrorStatuses
    | BodylessServerErrors
)


@dataclass(frozen=True)
class SpecDeviation:
    what: str
    where: str
    reason: str
    effect: Effect | None = field(default=None)


_OK_BODY: JsonSchema = {
    "type": "object",
    "required": ["ok"],
    "additionalProperties": False,
    "properties": {"ok": {"type": "boolean", "enum": [True]}},
}

_LEASE_WRAPPED: JsonSchema = {
    "type": "object",
    "required": ["status", "data"],
    "additionalProperties": False,
    "properties": {
        "status": {"type": "string", "enum": ["success"]},
        "data": {
            "allOf": [{"$ref": "#/components/schemas/Lease"}],
            "required": ["nonce", "expires_at"],
        },
    },
}

_LEASE_RELEASED: JsonSchema = {
    "type": "object",
    "required": ["status"],
    "additionalProperties": False,
    "properties": {
        "status": {"type": "string", "enum": ["success"]},
        # What a release puts in data is documented nowhere; only the envelope is known.
        "data": {"type": "object"},
    },
}

_LEASE_ERROR: JsonSchema = {
    "type": "object",
    "required": ["status", "message"],
    "additionalProperties": False,
    "properties": {
        "status": {"type": "string", "enum": ["error"]},
        "message": {"type": "string"},
        "code": {"type": "string"},
    },
}

_START_BODY: JsonSchema = {
    "type": "object",
    "required": ["previous_state"],
    "additionalProperties": False,
    "properties": {
        "previous_state": {"type": "string"},
        "migrated": {"type": "boolean"},
        "new_host": {"type": "string"},
    },
}

_LOG_ENTRY: JsonSchema = {
    "type": "object",
    "required": ["id", "type", "attributes"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string"},
        "type": {"type": "string"},
        "attributes": {
            "type": "object",
            "required": ["timestamp", "message", "level", "instance", "region"],
            "additionalProperties": False,
            "properties": {
                "timestamp": {"type": "string"},
                "message": {"type": "string"},
                "level": {"type": "string"},
                "instance": {"type": "string"},
                "region": {"type": "string"},
                "meta": {"type": "object"},
            },
        },
    },
}

LOGS_SUCCESS_SCHEMA: JsonSchema = {
    "type": "object",
    "required": ["data", "meta"],
    "additionalProperties": False,
    "properties": {
        "data": {"type": "array", "items": _LOG_ENTRY},
        "meta": {
            "type": "object",
            "required": ["next_token"],
            "additionalProperties": False,
            "properties": {"next_token": {"type": "string"}},
        },
    },
}

LOGS_ERROR_SCHEMA: JsonSchema = {
    "anyOf": [
        {"$ref": ERROR_RESPONSE_REF},
        {
            "type": "object",
            "required": ["errors"],
            "additionalProperties": False,
            "properties": {"errors": {"type": "array", "items": {"type": "object"}}},
        },
    ]
}

_STRING: JsonSchema = {"type": "string"}
_BOOLEAN: JsonSchema = {"type": "boolean"}
_INTEGER: JsonSchema = {"type": "integer"}

KNOWN_SPEC_DEVIATIONS: tuple[SpecDeviation, ...] = (
    SpecDeviation(
        what="lease answers are wrapped in {status, data}",
        where=f"{ACQUIRE_LEASE} and {SHOW_LEASE}",
        reason=(
            "the real API (and fly-go's MachineLease it decodes into) wraps the lease as "
            '{"status":"success","data":{nonce, expires_at, owner, description, version}}; the '
            "spec's flat Lease is never sent. The spec says 201 for acquire, fly-go accepts any "
            "2xx, so 200 and 201 are both taken"
        ),
        effect=ResponseOverride(
            operations=(ACQUIRE_LEASE, SHOW_LEASE), statuses=(200, 201), schema=_LEASE_WRAPPED
        ),
    ),
    SpecDeviation(
        what='releasing a lease answers the {"status": "success", "data"?} envelope, or nothing',
        where=RELEASE_LEASE,
        reason=(
            "fly-machines-api.md: lease answers are wrapped in {status, data}; what data holds "
            "on release is not documented, and fly-go does not decode the answer, so an empty 200 "
            "is equally real. The spec declares 200 without a body"
        ),
        effect=ResponseOverride(
            operations=(RELEASE_LEASE,),
            statuses=(200,),
            schema=_LEASE_RELEASED,
            body_optional=True,
        ),
    ),
    SpecDeviation(
        what="lease errors use {status: error, message, code} instead of ErrorResponse",
        where=", ".join(LEASE_OPERATIONS),
        reason=(
            "fly-machines-api.md: a lease held by someone else answers 409 "
            '{"status":"error","message":…,"code":…}; fly-go decodes that into MachineLease'
        ),
        effect=AlternativeErrorBody(operations=LEASE_OPERATIONS, schema=_LEASE_ERROR),
    ),
    SpecDeviation(
        what="acquiring a lease takes ?ttl= instead of a JSON body",
        where=ACQUIRE_LEASE,
        reason=(
            'fly-machines-api.md: POST {"ttl":seconds,"description"?} (or ?ttl=); the spec only '
            "knows the body and marks it required"
        ),
        effect=ExtraQueryParameter(
            operations=(ACQUIRE_LEASE,), name_pattern="ttl", schema=_INTEGER
        ),
    ),
    SpecDeviation(
        what="acquiring a lease with ?ttl= sends no body",
        where=ACQUIRE_LEASE,
        reason="follows from the query form above: the body is then absent",
        effect=OptionalRequestBody(operations=(ACQUIRE_LEASE,)),
    ),
    SpecDeviation(
        what='stop answers {"ok": true}',
        where=STOP_MACHINE,
        reason='fly-machines-api.md: stop answers {"ok":true}; the spec says 200 without a body',
        effect=ResponseOverride(operations=(STOP_MACHINE,), statuses=(200,), schema=_OK_BODY),
    ),
    SpecDeviation(
        what='destroy answers {"ok": true}',
        where=DESTROY_MACHINE,
        reason='fly-machines-api.md: destroy answers {"ok":true}; the spec: 200 without a body',
        effect=ResponseOverride(operations=(DESTROY_MACHINE,), statuses=(200,), schema=_OK_BODY),
    ),
    SpecDeviation(
        what="destroy takes ?kill=true as well as ?force=true",
        where=DESTROY_MACHINE,
        reason="fly-machines-api.md: some clients send kill; the real API accepts both",
        effect=ExtraQueryParameter(
            operations=(DESTROY_MACHINE,), name_pattern="kill", schema=_BOOLEAN
        ),
    ),
    SpecDeviation(
        what="start answers {previous_state, migrated, new_host}",
        where=START_MACHINE,
        reason=(
            "fly-machines-api.md lists that body for start; the spec declares 200 without a body"
        ),
        effect=ResponseOverride(operations=(START_MACHINE,), statuses=(200,), schema=_START_BODY),
    ),
    SpecDeviation(
        what="restart takes ?force_stop=",
        where=RESTART_MACHINE,
        reason="fly-machines-api.md: force_stop is also sent by some clients; the spec lists only "
        "timeout and signal",
        effect=ExtraQueryParameter(
            operations=(RESTART_MACHINE,), name_pattern="force_stop", schema=_BOOLEAN
        ),
    ),
    SpecDeviation(
        what="list machines filters by ?metadata.{key}=value",
        where=LIST_MACHINES,
        reason=(
            "fly-machines-api.md: the list takes metadata.{key} filters (we find a machine by the "
            "operation id we put in its metadata before retrying a create); the spec omits them"
        ),
        effect=ExtraQueryParameter(
            operations=(LIST_MACHINES,), name_pattern=r"metadata\.[^.\s]+", schema=_STRING
        ),
    ),
    SpecDeviation(
        what="exec takes the deprecated string field cmd as well as the command array",
        where=EXEC_MACHINE,
        reason=(
            "fly-machines-api.md: cmd is still sent by some clients. The spec still lists cmd "
            "(marked deprecated), so nothing needs relaxing; recorded so the list mirrors the docs"
        ),
    ),
    SpecDeviation(
        what="null equals an absent member",
        where="every request and response body",
        reason=(
            "fly-machines-api.md: unset fields come back as null (e.g. a free volume's "
            "attached_machine_id) where the spec does not mark them nullable; the API is Go, whose "
            "JSON decoder also ignores nulls in requests (e.g. secrets update uses null to unset). "
            "Nulls are stripped recursively before validating"
        ),
        effect=NullMeansAbsent(),
    ),
    SpecDeviation(
        what="create app answers 201 with an App body",
        where=CREATE_APP,
        reason=(
            "fly-machines-api.md: fly-go decodes an App from the answer though the spec says 201 "
            "without a body"
        ),
        effect=ResponseOverride(
            operations=(CREATE_APP,),
            statuses=(201,),
            schema={"allOf": [{"$ref": "#/components/schemas/App"}], "required": ["name"]},
        ),
    ),
    SpecDeviation(
        what="create snapshot answers 200 with an empty body",
        where=CREATE_SNAPSHOT,
        reason=(
            "fly-machines-api.md: the new snapshot's id is not in the answer, clients list the "
            "snapshots afterwards. The spec agrees (200 without content), so the validator already "
            "demands an empty body; recorded because clients must not expect one"
        ),
    ),
    SpecDeviation(
        what="wait answers 408 with an ErrorResponse body when the timeout elapses",
        where=WAIT_MACHINE,
        reason=("fly-machines-api.md: 408 on timeout; the spec lists only 200 and 400 for wait"),
        effect=ResponseOverride(
            operations=(WAIT_MACHINE,),
            statuses=(408,),
            schema={"$ref": ERROR_RESPONSE_REF},
        ),
    ),
    SpecDeviation(
        what="error statuses the spec omits (401, 403, 404, 409, 412, 422, 429, 5xx …)",
        where="every operation",
        reason=(
            "fly-machines-api.md lists the codes seen in practice; the spec lists few error "
            "responses. An unlisted error status is accepted when its body is an ErrorResponse "
            'with an "error" message (or the lease error shape on lease endpoints)'
        ),
        effect=UndocumentedErrorStatuses(),
    ),
    SpecDeviation(
        what="a 5xx may come without a JSON body",
        where="every operation",
        reason=(
            "server errors can be produced by Fly's proxy in front of the API, which does not "
            "speak the API's error format; clients retry 5xx whatever the body"
        ),
        effect=BodylessServerErrors(),
    ),
    SpecDeviation(
        what='error "status" may be "name_taken"',
        where="components/schemas/main.statusCode (ErrorResponse.status)",
        reason=(
            'fly-machines-api.md: error bodies carry status "unknown", "insufficient_capacity" '
            'or "name_taken"; the spec enum lacks the last'
        ),
        effect=SchemaPatch(
            schema_name="ErrorResponse",
            property_name="status",
            replacement={
                "type": "string",
                "enum": ["unknown", "insufficient_capacity", "name_taken"],
            },
        ),
    ),
    SpecDeviation(
        what="services[].autostop is a boolean as well as a string",
        where="components/schemas/fly.MachineService.autostop",
        reason=(
            "the spec's own description: the API accepts a boolean (old format) and still answers "
            'booleans for "off" and "stop", but its schema says string enum only'
        ),
        effect=SchemaPatch(
            schema_name="fly.MachineService",
            property_name="autostop",
            replacement={
                "anyOf": [
                    {"type": "string", "enum": ["off", "stop", "suspend"]},
                    {"type": "boolean"},
                ]
            },
        ),
    ),
    SpecDeviation(
        what="create app takes the app's name as app_name",
        where=f"{CREATE_APP} (components/schemas/CreateAppRequest)",
        reason=(
            "Fly's Machines API docs create an app with "
            '{"app_name": …, "org_slug": …} and fly-go sends app_name; the spec\'s '
            "CreateAppRequest only lists name (also accepted)"
        ),
        effect=SchemaPatch(
            schema_name="CreateAppRequest",
            property_name="app_name",
            replacement={"type": "string"},
            adds_property=True,
        ),
    ),
    SpecDeviation(
        what="the logs API is not in the Machines spec",
        where=APP_LOGS + " (host api.fly.io)",
        reason=(
            "fly-machines-api.md documents it as the endpoint `fly logs --no-tail` reads, with a "
            "JSON:API body {data:[{id,type,attributes:{timestamp,message,level,instance,region,"
            "meta}}],meta:{next_token}}; validated against that shape, kept in this module"
        ),
        effect=ExtraOperation(
            operation=APP_LOGS,
            query_parameters={"next_token": _STRING, "instance": _STRING, "region": _STRING},
            success_schema=LOGS_SUCCESS_SCHEMA,
            error_schema=LOGS_ERROR_SCHEMA,
        ),
    ),
)
