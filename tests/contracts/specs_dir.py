"""Where the machine-readable contracts live, and what to do when they are absent.

The specs are not part of the project (they stay in the shared folder next to the repository), so
every test that needs one asks this module for it. Locally a missing spec skips those tests with a
reason that says how to fix it; CI sets ``FLYAGENTS_REQUIRE_SPECS=1`` so the same absence fails the
run instead of silently weakening it. This module must never copy, download or embed a spec.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

SPECS_DIR_ENV = "FLYAGENTS_SPECS_DIR"
REQUIRE_SPECS_ENV = "FLYAGENTS_REQUIRE_SPECS"

FLY_SPEC_FILE = "fly-machines-openapi.json"
TELEGRAM_SPEC_FILE = "telegram-bot-api.json"

FLY_SPEC_LABEL = "Fly Machines OpenAPI spec"
TELEGRAM_SPEC_LABEL = "Telegram Bot API spec"

REPO_ROOT = Path(__file__).resolve().parents[2]


def specs_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The folder holding the spec files: ``$FLYAGENTS_SPECS_DIR`` or ``<repo>/../shared/specs``."""
    env = os.environ if environ is None else environ
    configured = env.get(SPECS_DIR_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    return REPO_ROOT.parent / "shared" / "specs"


def specs_required(environ: Mapping[str, str] | None = None) -> bool:
    """True when a missing spec must fail the run (CI) rather than skip the tests that need it."""
    env = os.environ if environ is None else environ
    return env.get(REQUIRE_SPECS_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class SpecLocation:
    """Where one spec file is expected, and why it cannot be used if it is not there."""

    label: str
    path: Path

    @property
    def available(self) -> bool:
        return self.path.is_file()

    @property
    def missing_reason(self) -> str:
        return f"{self.label} not found at {self.path}; set {SPECS_DIR_ENV}"


def locate_spec(
    file_name: str, label: str, environ: Mapping[str, str] | None = None
) -> SpecLocation:
    return SpecLocation(label=label, path=specs_dir(environ) / file_name)


def locate_fly_spec(environ: Mapping[str, str] | None = None) -> SpecLocation:
    return locate_spec(FLY_SPEC_FILE, FLY_SPEC_LABEL, environ)


def locate_telegram_spec(environ: Mapping[str, str] | None = None) -> SpecLocation:
    return locate_spec(TELEGRAM_SPEC_FILE, TELEGRAM_SPEC_LABEL, environ)


def refuse_missing_spec(
    location: SpecLocation, environ: Mapping[str, str] | None = None
) -> NoReturn:
    """Stop the current test: fail if specs are required, else skip; same reason both ways."""
    if specs_required(environ):
        pytest.fail(location.missing_reason, pytrace=False)
    pytest.skip(location.missing_reason)


def require_spec(location: SpecLocation, environ: Mapping[str, str] | None = None) -> Path:
    """The spec's path if it exists; otherwise skip or fail the calling test (see module doc)."""
    if not location.available:
        refuse_missing_spec(location, environ)
    return location.path
