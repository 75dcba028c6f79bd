"""Checks one recorded Telegram Bot API call against the machine-readable Bot API description.

The input is one record of the Telegram emulator's ``GET /_emulator/requests``; the output lists
human-readable violations (empty when the call honours the contract). The request must name a
method the API has, carry every required field, no unknown field, and values of the declared types
(objects checked field by field, recursively, unions and abstract types by their variants). Form,
multipart and query bodies carry every value as text, so they are read the way the API reads
them: numbers from decimal text, booleans from true/false, objects and arrays as JSON. The answer
envelope is checked too, and a successful ``result`` against the method's declared return type.

Stricter than a plain type check, on purpose: objects are closed (no member the API does not
define), a subtype's discriminator must hold its constant ("type": "chat" for
BotCommandScopeChat), and string lengths stated as "N-M characters/bytes" are enforced. This module
must never read a spec file by itself: the caller names the folder.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .specs_dir import TELEGRAM_SPEC_FILE
from .violation import Violation

__all__ = ["TelegramSpec", "Violation"]

JSON_ENCODING = "json"
TEXT_ENCODINGS = frozenset({"form", "multipart", "query"})
KNOWN_ENCODINGS = TEXT_ENCODINGS | {JSON_ENCODING}

ARRAY_PREFIX = "Array of "
INTEGER, FLOAT, BOOLEAN, STRING, INPUT_FILE = "Integer", "Float", "Boolean", "String", "InputFile"
SCALARS = frozenset({INTEGER, FLOAT, BOOLEAN, STRING})

TEXT_BOOLEANS = {"true": True, "false": False, "True": True, "False": False}
_DECIMAL = re.compile(r"-?\d+")
_LENGTH_LIMIT = re.compile(r"(\d+)-(\d+) (bytes|characters)")
_DISCRIMINATOR = re.compile(r'(?:always "([^"]+)"|must be ([a-z_]+))')
DISCRIMINATOR_FIELDS = ("type", "status", "source")
_ATTACH = re.compile(r"attach://([A-Za-z0-9_\-]+)")

SUCCESS_ENVELOPE_KEYS = frozenset({"ok", "result", "description"})
ERROR_ENVELOPE_KEYS = frozenset({"ok", "error_code", "description", "parameters"})
MAX_VALUE_CHARS = 80
NO_ANSWER_STATUS = 0
SERVER_ERROR = 500


@dataclass(frozen=True)
class _Field:
    name: str
    types: tuple[str, ...]
    required: bool
    length_limit: tuple[int, int, str] | None  # (min, max, "bytes"|"characters")
    limit_counts_parsed_text: bool  # "… characters after entities parsing"


@dataclass(frozen=True)
class _Match:
    """How a value fared against one type: ``shaped`` says its outer shape fit (worth detailing)."""

    errors: tuple[str, ...]
    shaped: bool


def _describe(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 1] + "…"
    return f"{type(value).__name__} {text}"


def _fields_of(raw_fields: Sequence[Mapping[str, Any]]) -> dict[str, _Field]:
    fields: dict[str, _Field] = {}
    for raw in raw_fields:
        description = str(raw.get("description", ""))
        types = tuple(raw["types"])
        limit = None
        after_parsing = False
        match = _LENGTH_LIMIT.search(description) if types == (STRING,) else None
        if match:
            limit = (int(match.group(1)), int(match.group(2)), match.group(3))
            after_parsing = "after entit" in description[match.end() : match.end() + 20]
        fields[raw["name"]] = _Field(
            raw["name"], types, bool(raw.get("required")), limit, after_parsing
        )
    return fields


class TelegramSpec:
    """The Telegram Bot API contract: its methods, their fields and return types, and its types."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.version = str(document.get("version", "unknown"))
        self._methods: dict[str, Mapping[str, Any]] = {
            name.lower(): method for name, method in document["methods"].items()
        }
        self._method_fields = {
            name: _fields_of(method.get("fields", [])) for name, method in self._methods.items()
        }
        self._types: Mapping[str, Mapping[str, Any]] = document["types"]
        self._type_fields = {
            name: _fields_of(spec.get("fields", [])) for name, spec in self._types.items()
        }
        self._discriminators = {
            name: found for name in self._types if (found := self._discriminator_of(name))
        }

    @classmethod
    def load(cls, specs_dir: Path | str) -> TelegramSpec:
        """The spec in ``specs_dir``, parsed once per process (later calls share the instance)."""
        return _load_cached(str(Path(specs_dir).resolve()))

    # -- public checks -------------------------------------------------------------------------

    def check_call(self, record: Mapping[str, Any]) -> list[str]:
        """Every contract violation in one recorded call, as readable lines."""
        prefix = self.describe(record)
        return [f"{prefix}: {v.side}: {v.message}" for v in self.call_violations(record)]

    @staticmethod
    def describe(record: Mapping[str, Any]) -> str:
        return (
            f"#{record.get('seq', '?')} {record.get('method', '?')} "
            f"({record.get('encoding', '?')}) -> {record.get('status', '?')}"
        )

    def call_violations(self, record: Mapping[str, Any]) -> list[Violation]:
        name = str(record.get("method", ""))
        method = self._methods.get(name.lower())
        violations: list[Violation] = []
        if method is None:
            violations.append(Violation("request", f"unknown method {name!r}"))
        else:
            violations.extend(
                Violation("request", m) for m in self._request_errors(name.lower(), record)
            )
        violations.extend(Violation("response", m) for m in self._answer_errors(method, record))
        return violations

    def has_method(self, name: str) -> bool:
        return name.lower() in self._methods

    def value_errors(
        self, value: Any, types: Sequence[str], where: str, encoding: str = JSON_ENCODING
    ) -> list[str]:
        """Why ``value`` (read as ``encoding``) matches none of ``types``; empty if it does."""
        return list(self._match_any(value, tuple(types), where, encoding).errors)

    # -- request -------------------------------------------------------------------------------

    def _request_errors(self, method: str, record: Mapping[str, Any]) -> list[str]:
        encoding = record.get("encoding")
        if encoding not in KNOWN_ENCODINGS:
            return [f"unknown encoding {encoding!r} (expected one of {sorted(KNOWN_ENCODINGS)})"]
        params = record.get("params")
        if params is None:
            params = {}
        if not isinstance(params, dict):
            return [f"parameters are not an object: {_describe(params)}"]
        fields = self._method_fields[method]
        attached = self._attached_names(params) if encoding == "multipart" else set()
        errors: list[str] = []
        for key, value in params.items():
            field = fields.get(key)
            if field is None:
                if key not in attached:
                    errors.append(f"unknown field {key!r}")
                continue
            errors.extend(self._field_errors(field, value, params, key, encoding, top_level=True))
        errors.extend(
            f"required field {f.name!r} is missing"
            for f in fields.values()
            if f.required and f.name not in params
        )
        return errors

    @staticmethod
    def _attached_names(params: Mapping[str, Any]) -> set[str]:
        """Multipart parts that another field refers to as attach://<name> (uploaded files)."""
        text = json.dumps(params, ensure_ascii=False)
        return set(_ATTACH.findall(text))

    # -- values --------------------------------------------------------------------------------

    def _field_errors(
        self,
        field: _Field,
        value: Any,
        siblings: Mapping[str, Any],
        where: str,
        encoding: str,
        top_level: bool = False,
    ) -> list[str]:
        if value is None:
            return [f"{where}: null is not a value (leave the field out instead)"]
        match = self._match_any(value, field.types, where, encoding, top_level)
        if match.errors:
            return list(match.errors)
        return self._length_errors(field, value, siblings, where)

    @staticmethod
    def _length_errors(
        field: _Field, value: Any, siblings: Mapping[str, Any], where: str
    ) -> list[str]:
        if field.length_limit is None or not isinstance(value, str):
            return []
        # Markup shrinks when parsed; the raw text only bounds the parsed one from above.
        if field.limit_counts_parsed_text and "parse_mode" in siblings:
            return []
        low, high, unit = field.length_limit
        size = len(value.encode("utf-8")) if unit == "bytes" else len(value)
        if low <= size <= high:
            return []
        return [f"{where}: {size} {unit}, must be {low}-{high}"]

    def _match_any(
        self,
        value: Any,
        types: tuple[str, ...],
        where: str,
        encoding: str,
        top_level: bool = False,
    ) -> _Match:
        attempts = [self._match(value, t, where, encoding, top_level) for t in types]
        if any(not attempt.errors for attempt in attempts):
            return _Match((), True)
        shaped = [attempt for attempt in attempts if attempt.shaped]
        if shaped:
            return min(shaped, key=lambda attempt: len(attempt.errors))
        if len(attempts) == 1:
            return attempts[0]
        return _Match((f"{where}: expected {' or '.join(types)}, got {_describe(value)}",), False)

    def _match(
        self, value: Any, type_name: str, where: str, encoding: str, top_level: bool
    ) -> _Match:
        if encoding in TEXT_ENCODINGS and isinstance(value, str):
            return self._match_text(value, type_name, where, encoding)
        if top_level and isinstance(value, str) and type_name not in SCALARS | {INPUT_FILE}:
            # The API documents complex parameters as "JSON-serialized"; a JSON body may carry
            # them serialized into a string as well as inline.
            decoded, ok = _json_or_none(value)
            if ok:
                return self._match(decoded, type_name, where, JSON_ENCODING, False)
        return self._match_json(value, type_name, where)

    def _match_text(self, text: str, type_name: str, where: str, encoding: str) -> _Match:
        """A form, multipart or query value: text that the API parses according to the type."""
        if type_name == STRING:
            return _Match((), True)
        if type_name == INPUT_FILE:
            if encoding == "multipart":
                return _Match((), True)
            return _mismatch(where, "InputFile (a multipart upload)", text)
        if type_name == INTEGER:
            return (
                _Match((), True) if _DECIMAL.fullmatch(text) else _mismatch(where, type_name, text)
            )
        if type_name == FLOAT:
            try:
                float(text)
            except ValueError:
                return _mismatch(where, type_name, text)
            return _Match((), True)
        if type_name == BOOLEAN:
            return _Match((), True) if text in TEXT_BOOLEANS else _mismatch(where, type_name, text)
        decoded, ok = _json_or_none(text)
        if not ok:
            return _Match((f"{where}: expected JSON-serialized {type_name}, got {text!r}",), False)
        return self._match_json(decoded, type_name, where)

    def _match_json(self, value: Any, type_name: str, where: str) -> _Match:
        if type_name.startswith(ARRAY_PREFIX):
            return self._match_array(value, type_name, where)
        scalar_check = _SCALAR_CHECKS.get(type_name)
        if scalar_check is not None:
            return _Match((), True) if scalar_check(value) else _mismatch(where, type_name, value)
        if type_name == INPUT_FILE:
            return _mismatch(where, "InputFile (a multipart upload)", value)
        spec = self._types.get(type_name)
        if spec is None:
            return _Match((f"{where}: the spec has no type {type_name!r}",), False)
        subtypes = spec.get("subtypes")
        if subtypes:
            return self._match_variants(value, type_name, subtypes, where)
        if not isinstance(value, dict):
            return _mismatch(where, type_name, value)
        return _Match(tuple(self._object_errors(value, type_name, where)), True)

    def _match_array(self, value: Any, type_name: str, where: str) -> _Match:
        if not isinstance(value, list):
            return _mismatch(where, type_name, value)
        item_type = type_name[len(ARRAY_PREFIX) :]
        errors: list[str] = []
        for index, item in enumerate(value):
            if item is None:
                errors.append(f"{where}[{index}]: null is not a {item_type}")
                continue
            errors.extend(
                self._match_any(item, (item_type,), f"{where}[{index}]", JSON_ENCODING).errors
            )
        return _Match(tuple(errors), True)

    def _match_variants(
        self, value: Any, type_name: str, subtypes: Sequence[str], where: str
    ) -> _Match:
        """VALUE against a union type: the variant its tag names, else any of them."""
        chosen = self._variants_named_by(value, subtypes)
        if chosen is not None and not chosen:
            variants = ", ".join(sorted(self._variant_tags(subtypes)))
            return _Match(
                (f"{where}: no {type_name} variant is tagged so (known: {variants})",), True
            )
        match = self._match_any(value, tuple(chosen or subtypes), where, JSON_ENCODING)
        if match.errors and not match.shaped:
            got = _describe(value)
            return _Match(
                (f"{where}: expected a {type_name} ({' or '.join(subtypes)}), got {got}",),
                False,
            )
        return match

    def _variants_named_by(self, value: Any, subtypes: Sequence[str]) -> list[str] | None:
        """The variants whose discriminator the value carries; None when variants have no tags."""
        tagged = [(s, self._discriminators[s]) for s in subtypes if s in self._discriminators]
        if not isinstance(value, dict) or not tagged or len(tagged) != len(subtypes):
            return None
        return [s for s, (field, constant) in tagged if value.get(field) == constant]

    def _variant_tags(self, subtypes: Sequence[str]) -> set[str]:
        return {
            f"{field}={constant}"
            for s in subtypes
            if s in self._discriminators
            for field, constant in [self._discriminators[s]]
        }

    def _object_errors(self, value: Mapping[str, Any], type_name: str, where: str) -> list[str]:
        fields = self._type_fields[type_name]
        errors: list[str] = []
        for key, member in value.items():
            field = fields.get(key)
            if field is None:
                errors.append(f"{where}.{key}: {type_name} has no field {key!r}")
                continue
            errors.extend(self._field_errors(field, member, value, f"{where}.{key}", JSON_ENCODING))
        errors.extend(
            f"{where}: {type_name} lacks required field {f.name!r}"
            for f in fields.values()
            if f.required and f.name not in value
        )
        discriminator = self._discriminators.get(type_name)
        if discriminator is not None:
            name, constant = discriminator
            if name in value and value[name] != constant:
                errors.append(
                    f"{where}.{name}: {type_name} needs {constant!r}, got {value[name]!r}"
                )
        return errors

    def _discriminator_of(self, type_name: str) -> tuple[str, str] | None:
        """The (field, constant) that tells this variant of an abstract type from its siblings."""
        spec = self._types[type_name]
        if not spec.get("subtype_of"):
            return None
        for raw in spec.get("fields", []):
            if raw["name"] in DISCRIMINATOR_FIELDS and raw["types"] == [STRING]:
                match = _DISCRIMINATOR.search(str(raw.get("description", "")))
                if match:
                    return raw["name"], match.group(1) or match.group(2)
        return None

    # -- answer --------------------------------------------------------------------------------

    def _answer_errors(
        self, method: Mapping[str, Any] | None, record: Mapping[str, Any]
    ) -> list[str]:
        answer = record.get("answer")
        status = record.get("status")
        if answer is None and status == NO_ANSWER_STATUS:
            return []  # the connection was dropped (an injected network fault): nothing to judge
        if answer is None and isinstance(status, int) and status >= SERVER_ERROR:
            return []  # a proxy in front of the API answers 5xx without the JSON envelope
        if not isinstance(answer, dict):
            return [f"answer is not a JSON object: {_describe(answer)}"]
        ok = answer.get("ok")
        if ok is True:
            return self._success_errors(method, answer, status)
        if ok is False:
            return self._failure_errors(answer, status)
        return [f"ok: expected Boolean, got {_describe(ok)}"]

    def _success_errors(
        self, method: Mapping[str, Any] | None, answer: Mapping[str, Any], status: Any
    ) -> list[str]:
        """What is wrong with an `"ok": true` answer: its envelope, and its result's type."""
        errors = [
            f"unexpected envelope member {k!r}" for k in answer if k not in SUCCESS_ENVELOPE_KEYS
        ]
        if status != 200:
            errors.append(f"successful answer with HTTP status {status}")
        if "description" in answer and not isinstance(answer["description"], str):
            errors.append(f"description: expected String, got {_describe(answer['description'])}")
        if "result" not in answer:
            errors.append("successful answer without a result")
        elif method is not None:
            returns = tuple(method.get("returns", ()))
            if returns:
                result = answer["result"]
                if result is None:
                    errors.append("result: null is not a value")
                else:
                    errors.extend(self._match_any(result, returns, "result", JSON_ENCODING).errors)
        return errors

    def _failure_errors(self, answer: Mapping[str, Any], status: Any) -> list[str]:
        """What is wrong with an `"ok": false` answer: its envelope, code and parameters."""
        errors = [
            f"unexpected envelope member {k!r}" for k in answer if k not in ERROR_ENVELOPE_KEYS
        ]
        code = answer.get("error_code")
        if not isinstance(code, int) or isinstance(code, bool):
            errors.append(f"error_code: expected Integer, got {_describe(code)}")
        elif code != status:
            errors.append(f"error_code {code} differs from the HTTP status {status}")
        if not isinstance(answer.get("description"), str):
            errors.append(
                f"description: expected String, got {_describe(answer.get('description'))}"
            )
        if "parameters" in answer:
            errors.extend(
                self._match_any(
                    answer["parameters"], ("ResponseParameters",), "parameters", JSON_ENCODING
                ).errors
            )
        return errors


# The JSON scalar types: whether a decoded value is one (a bool is no number in the Bot API).
_SCALAR_CHECKS: dict[str, Callable[[Any], bool]] = {
    INTEGER: lambda value: isinstance(value, int) and not isinstance(value, bool),
    FLOAT: lambda value: isinstance(value, int | float) and not isinstance(value, bool),
    BOOLEAN: lambda value: isinstance(value, bool),
    STRING: lambda value: isinstance(value, str),
}


def _mismatch(where: str, expected: str, value: Any) -> _Match:
    return _Match((f"{where}: expected {expected}, got {_describe(value)}",), False)


def _json_or_none(text: str) -> tuple[Any, bool]:
    try:
        return json.loads(text), True
    except ValueError:
        return None, False


@functools.cache
def _load_cached(resolved_dir: str) -> TelegramSpec:
    with (Path(resolved_dir) / TELEGRAM_SPEC_FILE).open(encoding="utf-8") as handle:
        return TelegramSpec(json.load(handle))
