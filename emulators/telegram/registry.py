"""The table of Bot API methods the emulator implements: name, parameter table, handler.

Handler modules register themselves with `@bot_method(name, *fields)`; the server finds a
method by its case-insensitive name, as Telegram does. This module holds no method logic.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .params import Field, Params
from .state import BotState
from .world import World


@dataclass(frozen=True)
class Call:
    world: World
    bot: BotState
    params: Params
    method: str


@dataclass(frozen=True)
class Answer:
    """A result with the optional `description` Telegram adds to some successes."""

    result: Any
    description: str | None = None


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class Method:
    name: str
    fields: tuple[Field, ...]
    handler: Handler


_METHODS: dict[str, Method] = {}


def bot_method(name: str, *fields: Field) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        _METHODS[name.lower()] = Method(name, fields, handler)
        return handler

    return register


def find_method(name: str) -> Method | None:
    return _METHODS.get(name.lower())


def method_names() -> list[str]:
    return sorted(method.name for method in _METHODS.values())
