"""The compact callback-data scheme of every inline button: `<action>:<arg>[:<arg>]`.

Telegram allows 1-64 bytes of callback data. Actions are two letters; arguments are ids the
bot generated itself (`pr_…`, `ag_…`, short random tokens, page numbers), never user input, so
they are plain `A-Z a-z 0-9 _ -`. Scheme:

    pa:<pairing request id>     approve a pairing request (runs it exactly once)
    pr:<pairing request id>     reject a pairing request
    rs:<agent id>               restart the agent's machine (a stuck pairing)
    rt:<pairing request id>     retry a pairing after a restart found it still pending
    cf:<token>                  confirm a destructive command
    cx:<token>                  cancel a destructive command
    pg:<token>:<page>           show another page of a long list
    gp:<token>:<index>          pick an offered value in a guided command
    gx:<token>                  cancel a guided command

This module only encodes and decodes; it never decides what a button may do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

MAX_CALLBACK_BYTES = 64
_ARG_RE = re.compile(r"[A-Za-z0-9_-]{1,48}")


class Action(StrEnum):
    APPROVE = "pa"
    REJECT = "pr"
    RESTART = "rs"
    RETRY = "rt"
    CONFIRM = "cf"
    CANCEL = "cx"
    PAGE = "pg"
    PICK = "gp"
    GUIDE_CANCEL = "gx"


_ARITY = {
    Action.APPROVE: 1,
    Action.REJECT: 1,
    Action.RESTART: 1,
    Action.RETRY: 1,
    Action.CONFIRM: 1,
    Action.CANCEL: 1,
    Action.PAGE: 2,
    Action.PICK: 2,
    Action.GUIDE_CANCEL: 1,
}


@dataclass(frozen=True)
class CallbackData:
    action: Action
    args: tuple[str, ...]

    @property
    def arg(self) -> str:
        return self.args[0]


def encode(action: Action, *args: str | int) -> str:
    """The callback data for a button; refuses anything outside the scheme or over 64 bytes."""
    parts = [str(arg) for arg in args]
    if len(parts) != _ARITY[action] or not all(_ARG_RE.fullmatch(part) for part in parts):
        raise ValueError(f"callback arguments do not fit action {action.value}")
    data = ":".join((action.value, *parts))
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        raise ValueError("callback data is over 64 bytes")
    return data


def decode(data: str | None) -> CallbackData | None:
    """The button's meaning, or None for anything this bot did not make."""
    if not data or len(data.encode()) > MAX_CALLBACK_BYTES:
        return None
    head, *parts = data.split(":")
    try:
        action = Action(head)
    except ValueError:
        return None
    if len(parts) != _ARITY[action] or not all(_ARG_RE.fullmatch(part) for part in parts):
        return None
    return CallbackData(action, tuple(parts))
