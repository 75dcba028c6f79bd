"""Reading an OpenClaw gateway's health from its log lines.

Classifies the lines the gateway prints (current and older builds, with timestamps and
ANSI colours stripped) into the few signals the bot acts on. Pure functions: fetching
logs and raising alerts happen elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from bot.fleet.openclaw import AGENT_MODEL_RE, clean_line


class GatewaySignal(StrEnum):
    READY = "ready"
    AUTH_REFUSED = "auth_refused"
    VERSION_MISMATCH = "version_mismatch"


_READY_PATTERNS = (
    re.compile(r"^\[gateway\] ready\b"),
    re.compile(r"^\[gateway\] listening on ws://"),
)
_AUTH_REFUSED = "refusing to bind gateway to lan without auth"
_VERSION_MISMATCH = "config was last written by a newer openclaw"


def classify(line: str) -> GatewaySignal | None:
    text = clean_line(line)
    lowered = text.lower()
    if any(p.search(text) for p in _READY_PATTERNS):
        return GatewaySignal.READY
    if _AUTH_REFUSED in lowered:
        return GatewaySignal.AUTH_REFUSED
    if _VERSION_MISMATCH in lowered:
        return GatewaySignal.VERSION_MISMATCH
    return None


@dataclass(frozen=True)
class GatewayReport:
    """What the latest boot's log lines say."""

    ready: bool
    auth_refused: bool
    version_mismatch: bool
    agent_model: str | None
    version_line: str | None


def summarize(lines: Iterable[str]) -> GatewayReport:
    """Signals of the most recent boot: a later `ready` clears an earlier refusal only
    if it comes after it, since a restart loop repeats the refusal on every boot."""
    ready = auth_refused = version_mismatch = False
    agent_model: str | None = None
    version_line: str | None = None
    for raw in lines:
        text = clean_line(raw)
        signal = classify(text)
        if signal is GatewaySignal.READY:
            ready, auth_refused = True, False
        elif signal is GatewaySignal.AUTH_REFUSED:
            ready, auth_refused = False, True
        elif signal is GatewaySignal.VERSION_MISMATCH:
            version_mismatch, version_line = True, text[:300]
        model = AGENT_MODEL_RE.search(text)
        if model:
            agent_model = model.group(1)
    return GatewayReport(
        ready=ready,
        auth_refused=auth_refused,
        version_mismatch=version_mismatch,
        agent_model=agent_model,
        version_line=version_line,
    )
