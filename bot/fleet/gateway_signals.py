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
# What an older OpenClaw prints (on stderr, then exit 1) when the config on the volume was last
# written by a newer one — seen with 2026.6.11 on a 2026.9.6 config, the same sentence in the
# source of every release between them:
#   Refusing to run automatic gateway startup migrations because this OpenClaw binary
#   (2026.6.11) is older than the config last written by OpenClaw 2026.9.6.
# The wording "Config was last written by a newer OpenClaw" is in OpenClaw's docs only: it is
# never printed. The match keys on the stable part and captures both versions.
_VERSION_MISMATCH_RE = re.compile(
    r"is older than the config last written by openclaw\s+v?(?P<config>[0-9][0-9A-Za-z.+-]*?)"
    r"\.?(?:\s|$)",
    re.IGNORECASE,
)
_BINARY_VERSION_RE = re.compile(
    r"this openclaw binary\s*\(v?(?P<binary>[0-9][0-9A-Za-z.+-]*)\)", re.IGNORECASE
)


@dataclass(frozen=True)
class VersionMismatch:
    """The versions a version-mismatch refusal names (None when a part was not printed)."""

    binary: str | None
    config: str


def parse_version_mismatch(line: str) -> VersionMismatch | None:
    """The versions in OpenClaw's refusal to start on a config a newer OpenClaw wrote."""
    text = clean_line(line)
    found = _VERSION_MISMATCH_RE.search(text)
    if found is None:
        return None
    binary = _BINARY_VERSION_RE.search(text)
    return VersionMismatch(binary.group("binary") if binary else None, found.group("config"))


def classify(line: str) -> GatewaySignal | None:
    text = clean_line(line)
    lowered = text.lower()
    if any(p.search(text) for p in _READY_PATTERNS):
        return GatewaySignal.READY
    if _AUTH_REFUSED in lowered:
        return GatewaySignal.AUTH_REFUSED
    if parse_version_mismatch(text) is not None:
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
    # The versions the refusal named: the image's OpenClaw and the one that wrote the config.
    versions: VersionMismatch | None = None


def summarize(lines: Iterable[str]) -> GatewayReport:
    """Signals of the most recent boot: a later `ready` clears an earlier refusal only
    if it comes after it, since a restart loop repeats the refusal on every boot."""
    ready = auth_refused = version_mismatch = False
    agent_model: str | None = None
    version_line: str | None = None
    versions: VersionMismatch | None = None
    for raw in lines:
        text = clean_line(raw)
        signal = classify(text)
        if signal is GatewaySignal.READY:
            ready, auth_refused = True, False
        elif signal is GatewaySignal.AUTH_REFUSED:
            ready, auth_refused = False, True
        elif signal is GatewaySignal.VERSION_MISMATCH:
            version_mismatch, version_line = True, text[:300]
            versions = parse_version_mismatch(text)
        model = AGENT_MODEL_RE.search(text)
        if model:
            agent_model = model.group(1)
    return GatewayReport(
        ready=ready,
        auth_refused=auth_refused,
        version_mismatch=version_mismatch,
        agent_model=agent_model,
        version_line=version_line,
        versions=versions,
    )
