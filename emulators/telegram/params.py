"""Method parameters: the embedded field tables and Telegram's coercion rules.

Clients send parameters as JSON values, form fields, multipart parts or query strings;
Telegram reads them all the same way: integers from decimal strings, booleans from
"true"/"false", objects and arrays from JSON text. `decode` applies a method's table
(name, kind, required) to whatever arrived and returns typed `Params`. Unknown parameters
are ignored, as Telegram ignores them. This module never looks at state.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import BotApiError, bad_request


class Kind(enum.Enum):
    INTEGER = "Integer"
    STRING = "String"
    BOOLEAN = "Boolean"
    FLOAT = "Float"
    CHAT_ID = "Integer or String"
    JSON = "JSON"


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    required: bool = False
    # Telegram's own description when a required parameter is missing.
    missing: str | None = None
    # Telegram's description when a JSON-valued parameter is not valid JSON.
    unparsable: str | None = None


def integer(name: str, *, required: bool = False, missing: str | None = None) -> Field:
    return Field(name, Kind.INTEGER, required, missing)


def string(name: str, *, required: bool = False, missing: str | None = None) -> Field:
    return Field(name, Kind.STRING, required, missing)


def boolean(name: str) -> Field:
    return Field(name, Kind.BOOLEAN)


def number(name: str) -> Field:
    return Field(name, Kind.FLOAT)


def chat_id(name: str = "chat_id", *, required: bool = True) -> Field:
    return Field(name, Kind.CHAT_ID, required, f"{name} is empty")


def json_value(
    name: str, *, required: bool = False, missing: str | None = None, unparsable: str | None = None
) -> Field:
    return Field(name, Kind.JSON, required, missing, unparsable)


_DECIMAL = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")


def _type_error(field: Field) -> BotApiError:
    return bad_request(f'field "{field.name}" must be of type {field.kind.value}')


def _coerce_integer(field: Field, value: Any) -> int:
    if isinstance(value, bool):
        raise _type_error(field)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _DECIMAL.match(value.strip()):
        return int(value.strip())
    raise _type_error(field)


def _coerce_string(field: Field, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise _type_error(field)


def _coerce_boolean(field: Field, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "false", "0"):
        return value.strip().lower() in ("true", "1")
    raise _type_error(field)


def _coerce_float(field: Field, value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and _FLOAT.match(value.strip()):
        return float(value.strip())
    raise _type_error(field)


def _coerce_json(field: Field, value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(field.unparsable or f"can't parse {field.name} JSON object") from None
    return value


def _coerce(field: Field, value: Any) -> Any:
    """VALUE as FIELD's kind, the way the Bot API converts it (a JSON field: parsed if a string)."""
    if field.kind is Kind.CHAT_ID:
        return coerce_chat_id(value, field)
    return _COERCERS.get(field.kind, _coerce_json)(field, value)


def coerce_chat_id(value: Any, field: Field | None = None) -> int | str:
    """A chat identifier: an integer, or `@username` of a public chat."""
    field = field or chat_id()
    if isinstance(value, bool):
        raise _type_error(field)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        stripped = value.strip()
        if _DECIMAL.match(stripped):
            return int(stripped)
        if stripped.startswith("@") and len(stripped) > 1:
            return stripped
        raise bad_request("chat not found")
    raise _type_error(field)


_COERCERS: dict[Kind, Callable[[Field, Any], Any]] = {
    Kind.INTEGER: _coerce_integer,
    Kind.STRING: _coerce_string,
    Kind.BOOLEAN: _coerce_boolean,
    Kind.FLOAT: _coerce_float,
}


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value == "")


class Params:
    """Decoded parameters of one call, read through typed accessors."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def has(self, name: str) -> bool:
        return name in self._values

    def integer(self, name: str) -> int | None:
        value = self._values.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def string(self, name: str) -> str | None:
        value = self._values.get(name)
        return value if isinstance(value, str) else None

    def boolean(self, name: str) -> bool:
        return self._values.get(name) is True

    def number(self, name: str) -> float | None:
        value = self._values.get(name)
        return value if isinstance(value, float) else None

    def chat_id(self, name: str = "chat_id") -> int | str | None:
        value = self._values.get(name)
        return value if isinstance(value, int | str) and not isinstance(value, bool) else None

    def json(self, name: str) -> Any:
        return self._values.get(name)


def decode(fields: tuple[Field, ...], raw: Mapping[str, Any]) -> Params:
    """Typed parameters of a call, or the BotApiError Telegram would answer."""
    values: dict[str, Any] = {}
    for field in fields:
        value = raw.get(field.name)
        if _absent(value):
            if field.required:
                raise bad_request(field.missing or f'parameter "{field.name}" is required')
            continue
        values[field.name] = _coerce(field, value)
    return Params(values)
