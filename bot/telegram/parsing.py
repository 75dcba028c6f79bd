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

from bot.telegram.commands import Command

MAX_VALUE_CHARS = 256
MAX_WORDS = 24
_COMMAND_RE = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{1,64}))?(?:\s+|$)")
_OPTION_KEY_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
_SECRET_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


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
