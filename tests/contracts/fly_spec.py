"""Checks one recorded Fly Machines API exchange against Fly's published OpenAPI spec.

The input is one record of the Fly emulator's ``GET /_emulator/requests``; the output is a list of
human-readable violations (empty when the exchange honours the contract). Requests are checked as a
real client must send them, answers as the real API gives them: where the two differ from the spec,
``fly_deviations.KNOWN_SPEC_DEVIATIONS`` says so, with a reason, and nothing else is relaxed.

Beyond the spec, objects are closed (a member the spec does not define is a violation: a client
sending it, or an emulator inventing it, is out of contract) and, as fly-machines-api.md says, an
error body carries an ``error`` message and every Machines API answer a ``fly-request-id`` header.
This module must never read or hold a spec file itself: the caller names the folder.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openapi_schema_validator import OAS30Validator

from .fly_deviations import (
    ERROR_RESPONSE_REF,
    KNOWN_SPEC_DEVIATIONS,
    AlternativeErrorBody,
    BodylessServerErrors,
    ExtraOperation,
    ExtraQueryParameter,
    JsonSchema,
    NullMeansAbsent,
    OptionalRequestBody,
    ResponseOverride,
    SchemaPatch,
    SpecDeviation,
    UndocumentedErrorStatuses,
)
from .specs_dir import FLY_SPEC_FILE
from .violation import Violation

__all__ = ["KNOWN_SPEC_DEVIATIONS", "FlySpec", "SpecDeviation", "Violation"]

MACHINES_API_PREFIX = "/v1"
REQUEST_ID_HEADER = "fly-request-id"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
MAX_ERRORS_PER_BODY = 8
MAX_MESSAGE_CHARS = 240

# strconv.ParseBool, which the Go API uses for boolean query parameters.
_GO_BOOLEANS = {
    "1": True,
    "t": True,
    "T": True,
    "TRUE": True,
    "true": True,
    "True": True,
    "0": False,
    "f": False,
    "F": False,
    "FALSE": False,
    "false": False,
    "False": False,
}
_INTEGER_TEXT = re.compile(r"[+-]?\d+")


@dataclass(frozen=True)
class _Route:
    key: str  # "METHOD /template", the template as the spec (or the deviation) writes it
    method: str
    pattern: re.Pattern[str]
    literal_segments: int
    operation: Mapping[str, Any] | None  # None for a documented extra operation
    extra: ExtraOperation | None


@dataclass(frozen=True)
class _Expectation:
    """The bodies an answer may carry: each schema is an alternative, None means no body."""

    alternatives: tuple[JsonSchema | None, ...]


def strip_nulls(value: Any) -> Any:
    """The value with every null object member removed, recursively (null list items are kept)."""
    if isinstance(value, dict):
        return {key: strip_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [strip_nulls(item) for item in value]
    return value


def _close_objects(schema: Any) -> None:
    """Forbid undeclared members in every object schema that declares its members."""
    if not isinstance(schema, dict):
        return
    properties = schema.get("properties")
    if isinstance(properties, dict):
        schema.setdefault("additionalProperties", False)
        for member in properties.values():
            _close_objects(member)
    for keyword in ("additionalProperties", "items", "not"):
        _close_objects(schema.get(keyword))
    for keyword in ("allOf", "anyOf", "oneOf"):
        for alternative in schema.get(keyword, ()):
            _close_objects(alternative)


def _template_pattern(template: str) -> tuple[re.Pattern[str], int]:
    parts: list[str] = []
    literal_segments = 0
    for segment in template.strip("/").split("/"):
        match = re.fullmatch(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", segment)
        if match:
            parts.append(f"(?P<{match.group(1)}>[^/]+)")
        else:
            parts.append(re.escape(segment))
            literal_segments += 1
    return re.compile("/" + "/".join(parts)), literal_segments


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


def _compact(value: Any) -> str:
    return _shorten(json.dumps(value, ensure_ascii=False, sort_keys=True))


class FlySpec:
    """The Fly Machines contract: the spec made strict, plus the documented deviations."""

    def __init__(
        self,
        document: Mapping[str, Any],
        deviations: Sequence[SpecDeviation] = KNOWN_SPEC_DEVIATIONS,
    ) -> None:
        self.deviations = tuple(deviations)
        self._document = document
        effects = [d.effect for d in self.deviations if d.effect is not None]
        self._strip_nulls = any(isinstance(e, NullMeansAbsent) for e in effects)
        self._judge_unlisted_errors = any(isinstance(e, UndocumentedErrorStatuses) for e in effects)
        self._bodyless_server_errors = any(isinstance(e, BodylessServerErrors) for e in effects)
        self._extra_query = [e for e in effects if isinstance(e, ExtraQueryParameter)]
        self._overrides = [e for e in effects if isinstance(e, ResponseOverride)]
        self._error_alternatives = [e for e in effects if isinstance(e, AlternativeErrorBody)]
        self._optional_bodies = {
            op for e in effects if isinstance(e, OptionalRequestBody) for op in e.operations
        }
        self._patches = [e for e in effects if isinstance(e, SchemaPatch)]
        self._extra_operations = [e for e in effects if isinstance(e, ExtraOperation)]
        self._components = self._strict_components(document)
        self._routes = self._build_routes(document)
        self._validators: dict[str, Any] = {}

    @classmethod
    def load(cls, specs_dir: Path | str) -> FlySpec:
        """The spec in ``specs_dir``, parsed once per process (later calls share the instance)."""
        return _load_cached(str(Path(specs_dir).resolve()))

    # -- public checks -------------------------------------------------------------------------

    def check_exchange(self, record: Mapping[str, Any]) -> list[str]:
        """Every contract violation in one recorded exchange, as readable lines."""
        prefix = self.describe(record)
        return [f"{prefix}: {v.side}: {v.message}" for v in self.exchange_violations(record)]

    @staticmethod
    def describe(record: Mapping[str, Any]) -> str:
        return (
            f"#{record.get('seq', '?')} {str(record.get('method', '?')).upper()} "
            f"{record.get('path', '?')} -> {record.get('status', '?')}"
        )

    def exchange_violations(self, record: Mapping[str, Any]) -> list[Violation]:
        method = str(record.get("method", "")).upper()
        path = str(record.get("path", ""))
        route, problem = self._find_route(method, path)
        if route is None:
            return [Violation("request", problem)]
        violations = self._check_request(route, path, record)
        violations.extend(self._check_response(route, record))
        return violations

    def deviation_problems(self) -> list[str]:
        """Deviations that point at nothing in the spec, or that the spec has since made moot."""
        problems: list[str] = []
        keys = {route.key for route in self._routes}
        for deviation in self.deviations:
            effect = deviation.effect
            operations: tuple[str, ...] = ()
            if isinstance(
                effect,
                ExtraQueryParameter | ResponseOverride | AlternativeErrorBody | OptionalRequestBody,
            ):
                operations = effect.operations
            problems.extend(
                f"{deviation.what!r}: no operation {op}" for op in operations if op not in keys
            )
            if isinstance(effect, ExtraQueryParameter):
                for op in effect.operations:
                    declared = self._declared_parameters(op, "query")
                    stale = [n for n in declared if re.fullmatch(effect.name_pattern, n)]
                    if stale:
                        problems.append(f"{deviation.what!r}: the spec now lists {stale} on {op}")
            if isinstance(effect, SchemaPatch):
                schemas = self._document["components"]["schemas"]
                present = effect.property_name in schemas.get(effect.schema_name, {}).get(
                    "properties", {}
                )
                if effect.schema_name not in schemas or present == effect.adds_property:
                    state = "already has" if present else "has no"
                    problems.append(
                        f"{deviation.what!r}: {effect.schema_name} {state} {effect.property_name}"
                    )
            if isinstance(effect, ExtraOperation) and self._spec_route_for(effect.operation):
                problems.append(f"{deviation.what!r}: the spec now has {effect.operation}")
        return problems

    # -- construction --------------------------------------------------------------------------

    def _strict_components(self, document: Mapping[str, Any]) -> dict[str, Any]:
        components: dict[str, Any] = copy.deepcopy(dict(document.get("components", {})))
        schemas = components.setdefault("schemas", {})
        for patch in self._patches:
            target = schemas.get(patch.schema_name, {}).get("properties", {})
            if patch.property_name in target or patch.adds_property:
                target[patch.property_name] = copy.deepcopy(dict(patch.replacement))
        # fly-machines-api.md: an error body is {"error": "…", "status"?: …}.
        error_response = schemas.get("ErrorResponse")
        if isinstance(error_response, dict):
            error_response["required"] = ["error"]
        for schema in schemas.values():
            _close_objects(schema)
        return components

    def _build_routes(self, document: Mapping[str, Any]) -> list[_Route]:
        routes: list[_Route] = []
        for template, path_item in document.get("paths", {}).items():
            pattern, literals = _template_pattern(MACHINES_API_PREFIX + template)
            for method in HTTP_METHODS:
                operation = path_item.get(method)
                if operation is None:
                    continue
                merged = dict(operation)
                merged["parameters"] = self._merge_parameters(
                    path_item.get("parameters", []), operation.get("parameters", [])
                )
                key = f"{method.upper()} {template}"
                routes.append(_Route(key, method.upper(), pattern, literals, merged, None))
        for extra in self._extra_operations:
            method, template = extra.operation.split(" ", 1)
            pattern, literals = _template_pattern(template)
            routes.append(_Route(extra.operation, method, pattern, literals, None, extra))
        # A literal segment beats a parameter in the same place (certificates/acme vs {hostname}).
        routes.sort(key=lambda route: -route.literal_segments)
        return routes

    @staticmethod
    def _merge_parameters(
        path_level: Iterable[Mapping[str, Any]], operation_level: Iterable[Mapping[str, Any]]
    ) -> list[Mapping[str, Any]]:
        merged = {(p["name"], p["in"]): p for p in path_level}
        merged.update({(p["name"], p["in"]): p for p in operation_level})
        return list(merged.values())

    def _spec_route_for(self, key: str) -> _Route | None:
        return next((r for r in self._routes if r.key == key and r.operation is not None), None)

    def _declared_parameters(self, key: str, location: str) -> dict[str, Mapping[str, Any]]:
        route = self._spec_route_for(key)
        if route is None or route.operation is None:
            return {}
        return {
            p["name"]: p for p in route.operation.get("parameters", []) if p.get("in") == location
        }

    def _find_route(self, method: str, path: str) -> tuple[_Route | None, str]:
        matching = [route for route in self._routes if route.pattern.fullmatch(path)]
        for route in matching:
            if route.method == method:
                return route, ""
        if matching:
            allowed = sorted({route.method for route in matching})
            template = matching[0].key.split(" ", 1)[1]
            return None, (
                f"unknown operation: {method} is not defined for {template} "
                f"(the spec has {', '.join(allowed)})"
            )
        return None, (
            f"unknown operation: {method} {path} matches no path of the spec nor a documented extra"
        )

    # -- validation helpers --------------------------------------------------------------------

    def _validator(self, schema: JsonSchema) -> Any:
        cache_key = json.dumps(schema, sort_keys=True)
        validator = self._validators.get(cache_key)
        if validator is None:
            closed = copy.deepcopy(dict(schema))
            _close_objects(closed)
            # Embedding the components lets "#/components/schemas/…" resolve against this root.
            validator = OAS30Validator({**closed, "components": self._components})
            self._validators[cache_key] = validator
        return validator

    def _schema_errors(self, schema: JsonSchema, instance: Any, what: str) -> list[str]:
        errors = sorted(
            self._validator(schema).iter_errors(instance),
            key=lambda error: [str(part) for part in error.absolute_path],
        )
        lines = []
        for error in errors[:MAX_ERRORS_PER_BODY]:
            where = "/".join(str(part) for part in error.absolute_path) or "(root)"
            lines.append(f"{what} at {where}: {_shorten(error.message)}")
        if len(errors) > MAX_ERRORS_PER_BODY:
            lines.append(f"{what}: {len(errors) - MAX_ERRORS_PER_BODY} more schema errors")
        return lines

    def _normalise(self, body: Any) -> Any:
        return strip_nulls(body) if self._strip_nulls else body

    # -- request -------------------------------------------------------------------------------

    def _check_request(
        self, route: _Route, path: str, record: Mapping[str, Any]
    ) -> list[Violation]:
        messages: list[str] = []
        match = route.pattern.fullmatch(path)
        path_values = match.groupdict() if match else {}
        if route.extra is not None:
            messages.extend(self._check_extra_query(route.extra, record))
            if record.get("request_body") is not None:
                messages.append(f"request body sent to {route.key}, which takes none")
            return [Violation("request", m) for m in messages]

        operation = route.operation or {}
        parameters = operation.get("parameters", [])
        for parameter in parameters:
            if parameter.get("in") != "path":
                continue
            value = path_values.get(parameter["name"])
            if not value:
                messages.append(f"path parameter {parameter['name']} is missing")
                continue
            messages.extend(
                self._schema_errors(
                    parameter.get("schema", {}), value, f"path parameter {parameter['name']}"
                )
            )
        messages.extend(self._check_query(route, parameters, record))
        messages.extend(self._check_headers(parameters, record))
        messages.extend(self._check_request_body(route, operation, record))
        return [Violation("request", m) for m in messages]

    def _check_query(
        self, route: _Route, parameters: Sequence[Mapping[str, Any]], record: Mapping[str, Any]
    ) -> list[str]:
        messages: list[str] = []
        query: Mapping[str, Sequence[str]] = record.get("query") or {}
        declared = {p["name"]: p for p in parameters if p.get("in") == "query"}
        for name, values in query.items():
            parameter = declared.get(name)
            schema: JsonSchema | None = parameter.get("schema", {}) if parameter else None
            if schema is None:
                schema = self._extra_query_schema(route.key, name)
            if schema is None:
                messages.append(
                    f"unknown query parameter {name!r} for {route.key} "
                    f"(the spec has: {', '.join(sorted(declared)) or 'none'})"
                )
                continue
            messages.extend(self._check_query_values(name, values, schema))
        for name, parameter in declared.items():
            if parameter.get("required") and name not in query:
                messages.append(f"required query parameter {name!r} is missing")
        return messages

    def _extra_query_schema(self, key: str, name: str) -> JsonSchema | None:
        for extra in self._extra_query:
            if key in extra.operations and re.fullmatch(extra.name_pattern, name):
                return extra.schema
        return None

    def _check_extra_query(self, extra: ExtraOperation, record: Mapping[str, Any]) -> list[str]:
        messages: list[str] = []
        query: Mapping[str, Sequence[str]] = record.get("query") or {}
        for name, values in query.items():
            schema = extra.query_parameters.get(name)
            if schema is None:
                known = ", ".join(sorted(extra.query_parameters))
                messages.append(
                    f"unknown query parameter {name!r} for {extra.operation} (documented: {known})"
                )
                continue
            messages.extend(self._check_query_values(name, values, schema))
        return messages

    def _check_query_values(
        self, name: str, values: Sequence[str], schema: JsonSchema
    ) -> list[str]:
        if isinstance(values, str):
            values = [values]
        if len(values) != 1 and schema.get("type") != "array":
            return [f"query parameter {name!r} given {len(values)} times: {list(values)}"]
        messages: list[str] = []
        for raw in values:
            value, problem = _coerce_query_value(raw, schema)
            if problem:
                messages.append(f"query parameter {name!r}={raw!r}: {problem}")
                continue
            messages.extend(self._schema_errors(schema, value, f"query parameter {name!r}"))
        return messages

    @staticmethod
    def _check_headers(
        parameters: Sequence[Mapping[str, Any]], record: Mapping[str, Any]
    ) -> list[str]:
        headers: Mapping[str, Any] = record.get("headers") or {}
        return [
            f"required header {p['name']!r} is missing"
            for p in parameters
            if p.get("in") == "header" and p.get("required") and p["name"].lower() not in headers
        ]

    def _check_request_body(
        self, route: _Route, operation: Mapping[str, Any], record: Mapping[str, Any]
    ) -> list[str]:
        body = self._normalise(record.get("request_body"))
        request_body = operation.get("requestBody")
        if request_body is None:
            # An empty object is what many HTTP clients send for "no body"; the API ignores it.
            if body is not None and body != {}:
                return [f"request body sent to {route.key}, which takes none: {_compact(body)}"]
            return []
        if body is None:
            required = request_body.get("required", False)
            if required and route.key not in self._optional_bodies:
                return [f"request body is required by {route.key} but none was sent"]
            return []
        schema = request_body.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            return [f"{route.key} takes no JSON body, got {_compact(body)}"]
        return self._schema_errors(schema, body, "request body")

    # -- response ------------------------------------------------------------------------------

    def _check_response(self, route: _Route, record: Mapping[str, Any]) -> list[Violation]:
        status = record.get("status")
        if not isinstance(status, int):
            return [Violation("response", f"status is not an integer: {status!r}")]
        messages: list[str] = []
        if route.extra is None:
            headers: Mapping[str, Any] = record.get("response_headers") or {}
            if REQUEST_ID_HEADER not in {name.lower() for name in headers}:
                messages.append(f"answer lacks the {REQUEST_ID_HEADER} header")
        expectation, problem = self._expectation(route, status)
        if expectation is None:
            messages.append(problem)
        else:
            body = self._normalise(record.get("response_body"))
            messages.extend(self._check_body_against(expectation, body))
        return [Violation("response", m) for m in messages]

    def _expectation(self, route: _Route, status: int) -> tuple[_Expectation | None, str]:
        for override in self._overrides:
            if route.key in override.operations and status in override.statuses:
                alternatives: tuple[JsonSchema | None, ...] = (override.schema,)
                if override.body_optional:
                    alternatives += (None,)
                return _Expectation(alternatives), ""
        if route.extra is not None:
            if 200 <= status < 300:
                return _Expectation((route.extra.success_schema,)), ""
            if status >= 400:
                return self._error_expectation(route, status, route.extra.error_schema), ""
            return None, f"status {status} is not a documented answer of {route.key}"

        responses: Mapping[str, Any] = (route.operation or {}).get("responses", {})
        declared = responses.get(str(status))
        if declared is not None:
            return _Expectation((self._declared_body_schema(declared),)), ""
        if status >= 400:
            default = responses.get("default")
            base = self._declared_body_schema(default) if default else None
            if self._judge_unlisted_errors or base is not None:
                return self._error_expectation(route, status, base), ""
        listed = ", ".join(sorted(responses)) or "none"
        return None, f"status {status} is not a documented answer of {route.key} (spec: {listed})"

    def _error_expectation(
        self, route: _Route, status: int, base: JsonSchema | None
    ) -> _Expectation:
        alternatives: list[JsonSchema | None] = [base or {"$ref": ERROR_RESPONSE_REF}]
        alternatives.extend(
            alt.schema for alt in self._error_alternatives if route.key in alt.operations
        )
        if status >= 500 and self._bodyless_server_errors:
            alternatives.append(None)
        return _Expectation(tuple(alternatives))

    @staticmethod
    def _declared_body_schema(response: Mapping[str, Any]) -> JsonSchema | None:
        content: Mapping[str, Any] = response.get("content") or {}
        if not content:
            return None
        media = content.get("application/json") or next(iter(content.values()))
        schema: JsonSchema = media.get("schema", {})
        return schema

    def _check_body_against(self, expectation: _Expectation, body: Any) -> list[str]:
        best: list[str] | None = None
        for schema in expectation.alternatives:
            if schema is None:
                errors = (
                    []
                    if body is None
                    else [f"answer has a body where none is due: {_compact(body)}"]
                )
            elif body is None:
                errors = ["answer has no body where one is due"]
            else:
                errors = self._schema_errors(schema, body, "response body")
            if not errors:
                return []
            if best is None or len(errors) < len(best):
                best = errors
        return best or []


def _coerce_query_value(raw: str, schema: JsonSchema) -> tuple[Any, str]:
    """The typed value a Go server would parse from a query string, or why it cannot."""
    kind = schema.get("type")
    if kind == "integer":
        if _INTEGER_TEXT.fullmatch(raw):
            return int(raw), ""
        return None, "not an integer"
    if kind == "number":
        try:
            return float(raw), ""
        except ValueError:
            return None, "not a number"
    if kind == "boolean":
        if raw in _GO_BOOLEANS:
            return _GO_BOOLEANS[raw], ""
        return None, "not a boolean"
    return raw, ""


@functools.cache
def _load_cached(resolved_dir: str) -> FlySpec:
    with (Path(resolved_dir) / FLY_SPEC_FILE).open(encoding="utf-8") as handle:
        return FlySpec(json.load(handle))
