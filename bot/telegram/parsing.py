"""Turns a command's text into its values: positional words and `key=value` options.

Words are split on whitespace only: nothing is ever interpreted as shell, quoting or markup,
so `;`, `$(…)`, backticks and quotes are just characters that validation later refuses.
Errors are polite and never repeat what was typed (it may be hostile, huge or a secret).
Validation of the values themselves belongs to `bot.fleet.validation`, not here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import SecretStr

from bot.fleet import TENANT_PLAIN_KEYS, TENANT_SECRET_KEYS
from bot.telegram.commands import TENANT_SUBCOMMANDS, Command

MAX_VALUE_CHARS = 256
MAX_WORDS = 24
_COMMAND_RE = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{1,64}))?(?:\s+|$)")
_OPTION_KEY_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
_SECRET_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
MAX_SECRET_CHARS = 4096
# `fly tokens create` prints "FlyV1 fm2_…": the scheme word is dropped, the token kept.
_FLY_TOKEN_SCHEME = "FlyV1"  # noqa: S105 - a scheme word, not a token


class ParseError(ValueError):
    """The text does not fit the command's syntax; `str(error)` is safe to show."""


@dataclass(frozen=True)
class CommandText:
    name: str
    rest: str
    # `/list@other_bot` in a group is meant for another bot.
    addressed_to: str | None = None


@dataclass(frozen=True)
class ParsedArgs:
    values: Mapping[str, str]

    def get(self, name: str) -> str | None:
        return self.values.get(name)


def split_command(text: str) -> CommandText | None:
    """`/provision@bot tenant=a` → ("provision", "tenant=a"); None when it is no command."""
    match = _COMMAND_RE.match(text)
    if match is None:
        return None
    return CommandText(match.group(1).lower(), text[match.end() :].strip(), match.group(2))


def words(rest: str) -> list[str]:
    found = rest.split()
    if len(found) > MAX_WORDS:
        raise ParseError("That is too many values for one command.")
    for word in found:
        if len(word) > MAX_VALUE_CHARS:
            raise ParseError(f"A value is too long (at most {MAX_VALUE_CHARS} characters).")
    return found


def parse_args(command: Command, rest: str) -> ParsedArgs:
    """The command's values by parameter name; missing ones are simply absent."""
    values: dict[str, str] = {}
    positional: list[str] = []
    names = command.option_names
    for word in words(rest):
        key, sep, value = word.partition("=")
        if sep and _OPTION_KEY_RE.fullmatch(key):
            name = key.lower()
            if name not in names:
                allowed = ", ".join(sorted(names)) or "none"
                raise ParseError(
                    f"/{command.name} has no option {name}. Options: {allowed}. "
                    f"Usage: {command.usage}"
                )
            if name in values:
                raise ParseError(f"{name} is given twice.")
            if not value:
                raise ParseError(f"{name}= needs a value.")
            values[name] = value
        else:
            positional.append(word)
    slots = [param for param in command.params if param.positional and param.name not in values]
    for index, word in enumerate(positional):
        if index >= len(slots):
            raise ParseError(f"Too many values. Usage: {command.usage}")
        param = slots[index]
        if param.greedy:
            values[param.name] = " ".join(positional[index:])
            break
        values[param.name] = word
    return ParsedArgs(values)


@dataclass(frozen=True)
class SecretAssignment:
    name: str
    value: SecretStr


def looks_like_secret(text: str) -> bool:
    """True when a message seems to carry `NAME=VALUE`: it must be deleted before anything."""
    return "=" in text


def parse_secret_command(rest: str) -> tuple[str | None, list[SecretAssignment]]:
    """`AGENT NAME=VALUE [NAME=VALUE…]` → the agent reference and the assignments.

    Values stay `SecretStr` from here on; an error never names or echoes a value.
    """
    agent: str | None = None
    assignments: list[SecretAssignment] = []
    for word in rest.split():
        if "=" not in word:
            if agent is not None or assignments:
                raise ParseError("Write secrets as NAME=VALUE after the agent, with no spaces.")
            if len(word) > MAX_VALUE_CHARS:
                raise ParseError(f"A value is too long (at most {MAX_VALUE_CHARS} characters).")
            agent = word
            continue
        assignments.append(parse_assignment(word))
    if len(assignments) > MAX_WORDS:
        raise ParseError("That is too many secrets for one message.")
    return agent, assignments


def parse_assignment(text: str) -> SecretAssignment:
    name, sep, value = text.strip().partition("=")
    if not sep or not _SECRET_NAME_RE.fullmatch(name):
        raise ParseError(
            "Write a secret as NAME=VALUE, where NAME is letters, digits and _ "
            "(e.g. TELEGRAM_BOT_TOKEN=…)."
        )
    if not value:
        raise ParseError(f"{name.upper()} has no value.")
    if len(value) > 4096:
        raise ParseError(f"The value of {name.upper()} is too long.")
    return SecretAssignment(name.upper(), SecretStr(value))


def parse_secret_reply(text: str) -> list[SecretAssignment]:
    """A guided-mode answer: one or more `NAME=VALUE` separated by whitespace."""
    parts = text.split()
    if not parts:
        raise ParseError("Send the secret as NAME=VALUE.")
    if len(parts) > MAX_WORDS:
        raise ParseError("That is too many secrets for one message.")
    return [parse_assignment(part) for part in parts]


# --- /tenant ------------------------------------------------------------------------------------

_TENANT_ACTIONS = tuple(sub.name for sub in TENANT_SUBCOMMANDS)
_TENANT_USAGE = {sub.name: sub.usage for sub in TENANT_SUBCOMMANDS}


@dataclass(frozen=True)
class TenantAssignment:
    """One `KEY=VALUE` of `/tenant set`; the value stays hidden (it may be a secret)."""

    key: str  # upper-cased; whether it is a tenant setting is the fleet service's call
    value: SecretStr

    @property
    def secret(self) -> bool:
        return self.key in TENANT_SECRET_KEYS


@dataclass(frozen=True)
class TenantRequest:
    action: str
    tenant_id: str = ""
    name: str | None = None  # add
    key: str | None = None  # unset
    assignments: tuple[TenantAssignment, ...] = ()

    @property
    def sets_secret(self) -> bool:
        return any(assignment.secret for assignment in self.assignments)


def _is_plain_assignment(word: str) -> bool:
    key, sep, value = word.partition("=")
    return bool(sep and value) and key.upper() in TENANT_PLAIN_KEYS


def tenant_text_may_hold_secret(rest: str) -> bool:
    """True when a `/tenant` message might carry a secret value: it must be deleted at once.

    A `set` passes only when every pair is a well-formed plain setting, since a mistyped key
    (`LLM_KEY=sk-…`) or a stray word may hold a secret too; any other form passes unless a
    word names a secret setting with `=`.
    """
    found = rest.split()
    if not found:
        return False
    action, values = found[0].lower(), found[1:]
    if action == "set":
        if values and "=" not in values[0]:
            values = values[1:]  # the tenant id
        return not all(_is_plain_assignment(word) for word in values)
    return any(
        word.partition("=")[0].upper() in TENANT_SECRET_KEYS for word in values if "=" in word
    )


def _tenant_usage(action: str) -> str:
    return f"Usage: {_TENANT_USAGE[action]}"


def _tenant_id(action: str, found: list[str]) -> str:
    if not found:
        raise ParseError(f"Name the tenant. {_tenant_usage(action)}")
    word = found[0]
    if "=" in word:
        raise ParseError(f"Name the tenant first. {_tenant_usage(action)}")
    if len(word) > MAX_VALUE_CHARS:
        raise ParseError(f"A value is too long (at most {MAX_VALUE_CHARS} characters).")
    return word


def _tenant_assignments(found: list[str]) -> tuple[TenantAssignment, ...]:
    """`KEY=VALUE …` with the "FlyV1 fm2_…" form of a Fly token joined into one value."""
    if not found:
        raise ParseError(f"Give at least one KEY=VALUE. {_tenant_usage('set')}")
    assignments: list[TenantAssignment] = []
    seen: set[str] = set()
    index = 0
    while index < len(found):
        key, sep, value = found[index].partition("=")
        index += 1
        if not sep or not _SECRET_NAME_RE.fullmatch(key):
            raise ParseError(
                "Write each setting as KEY=VALUE, with no spaces around = or inside the value "
                '(JSON too: ["a","b"]). ' + _tenant_usage("set")
            )
        name = key.upper()
        if name == "FLY_API_TOKEN" and value == _FLY_TOKEN_SCHEME and index < len(found):
            value = found[index]
            index += 1
        if not value:
            raise ParseError(f"{name} has no value.")
        if len(value) > MAX_SECRET_CHARS:
            raise ParseError(f"The value of {name} is too long.")
        if name in seen:
            raise ParseError(f"{name} is given twice.")
        seen.add(name)
        assignments.append(TenantAssignment(name, SecretStr(value)))
    if len(assignments) > MAX_WORDS:
        raise ParseError("That is too many settings for one message.")
    return tuple(assignments)


def parse_tenant_command(rest: str) -> TenantRequest:
    """`/tenant ACTION …` → what to do. Errors never repeat a value (it may be a secret)."""
    found = rest.split()
    if not found:
        raise ParseError(f"Say what to do: {', '.join(_TENANT_USAGE.values())}.")
    action, values = found[0].lower(), found[1:]
    if action not in _TENANT_ACTIONS:
        raise ParseError(
            f"/tenant can {', '.join(_TENANT_ACTIONS[:-1])} or {_TENANT_ACTIONS[-1]}. "
            "/help shows how."
        )
    if action == "list":
        if values:
            raise ParseError(_tenant_usage(action))
        return TenantRequest(action)
    tenant_id = _tenant_id(action, values)
    if action == "add":
        # The display name is the rest of the line as typed (it may hold spaces).
        parts = rest.split(maxsplit=2)
        name = parts[2].strip() if len(parts) > 2 else None
        return TenantRequest(action, tenant_id, name=name)
    if action == "set":
        return TenantRequest(action, tenant_id, assignments=_tenant_assignments(values[1:]))
    if action == "unset":
        if len(values) != 2:
            raise ParseError(_tenant_usage(action))
        key = values[1]
        if not _SECRET_NAME_RE.fullmatch(key):
            raise ParseError(f"KEY is a setting name such as LLM_MODEL. {_tenant_usage(action)}")
        return TenantRequest(action, tenant_id, key=key.upper())
    if len(values) != 1:
        raise ParseError(_tenant_usage(action))
    return TenantRequest(action, tenant_id)
