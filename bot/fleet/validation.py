"""Strict validation of every value that can reach a machine, Fly or the database.

Each check returns the normalised value or raises `InvalidInput` with a message that
can be shown to an admin as is. Nothing here talks to Fly, Telegram or the store, and
no message ever repeats a value that could be a secret.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from storage.pairing import PAIRING_CODE_PATTERN

# OpenClaw's pairing alphabet: upper case, no 0 O 1 I.
PROVIDER_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MODEL_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
SKILL_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
ENTITY_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
REGION_RE = re.compile(r"[a-z]{3}")
SECRET_NAME_RE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
TELEGRAM_BOT_TOKEN_RE = re.compile(r"[0-9]{3,15}:[A-Za-z0-9_-]{30,100}")
VM_SIZE_RE = re.compile(r"(shared|performance)-cpu-([1-9][0-9]?)x")
# A folder on the machine; only plain path characters, so it can sit in a fixed script.
OWNER_ENTRY_RE = re.compile(r"telegram:[0-9]{1,15}")
FLY_APP_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
# registry/repository[:tag][@sha256:digest], as Fly accepts for `image`.
IMAGE_RE = re.compile(
    r"[a-z0-9][a-z0-9.-]*(?::[0-9]+)?(?:/[a-z0-9][a-z0-9._-]*)+(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@sha256:[a-f0-9]{64})?"
)
MACHINE_DIR_RE = re.compile(r"/(?:[A-Za-z0-9._-]+/?)*")
HOSTNAME_RE = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)

MAX_SKILLS = 50
FORBIDDEN_MODEL = "gpt5mini"


class InvalidInput(ValueError):
    """A value was refused; `str(exc)` is a polite, safe explanation."""


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class InvalidInputs(InvalidInput):
    """Several values were refused at once; every problem is listed."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


def _require_ascii(value: str, what: str) -> None:
    # Upper-casing non-ASCII text can manufacture ASCII (e.g. "ß" -> "SS"), and
    # look-alike letters must never pass as the real ones.
    if not value.isascii():
        raise InvalidInput(f"{what} may only contain plain ASCII characters.")


def pairing_code(raw: str) -> str:
    """Normalise what a user typed into an OpenClaw pairing code, or refuse it."""
    if len(raw) > 64:
        raise InvalidInput("That is not a pairing code: a code has exactly 8 characters.")
    value = raw.strip()
    _require_ascii(value, "A pairing code")
    value = value.upper()
    if not PAIRING_CODE_PATTERN.fullmatch(value):
        raise InvalidInput(
            "That is not a valid pairing code: a code has exactly 8 characters "
            "from A-Z and 2-9 (no 0, O, 1 or I)."
        )
    return value


# A `.0` minor version names the same release (`gpt-5.0-mini` is `gpt-5-mini`).
_ZERO_MINOR_RE = re.compile(r"(?<=[0-9])\.0+(?![0-9])")


def model_key(model_id: str) -> str:
    """`model_id` reduced to what names the model, for comparing spellings of one model.

    Unicode compatibility forms are folded (NFKC: full-width letters, ligatures), invisible
    format characters (zero-width, bidi controls) and every separator are dropped, case is
    folded and a `.0` minor version is removed — so `openai/gpt-5.0-mini`, `x:gpt_5_mini`,
    `GPT-5-Mini` and `ｇｐｔ-５-ｍｉｎｉ` all become `...gpt5mini`. Provider prefixes stay in
    the key (any separator may join them); callers look for the model inside it.
    """
    text = unicodedata.normalize("NFKC", model_id)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = _ZERO_MINOR_RE.sub("", text.casefold())
    return re.sub(r"[^a-z0-9]", "", text)


def is_forbidden_model(model_id: str) -> bool:
    """True for gpt-5-mini in any spelling: any provider prefix with any separator, any case,
    any separators, a `.0` minor, a dated or suffixed variant, look-alike Unicode forms."""
    return FORBIDDEN_MODEL in model_key(model_id)


def model_id(raw: str) -> str:
    """A model id in `provider/model` form; gpt-5-mini is refused in any spelling."""
    if len(raw) > 200:
        raise InvalidInput("A model id is at most 200 characters.")
    value = raw.strip()
    # Before the ASCII check, so a decorated gpt-5-mini is named for what it is.
    if is_forbidden_model(value):
        raise InvalidInput("The model gpt-5-mini must not be used; choose another model.")
    _require_ascii(value, "A model id")
    provider, sep, name = value.partition("/")
    if not sep or not PROVIDER_RE.fullmatch(provider):
        raise InvalidInput(
            "A model id must look like provider/model, e.g. moonshotai/kimi-k2.5 "
            "(lower-case provider, then a slash)."
        )
    segments = name.split("/")
    if not all(MODEL_NAME_RE.fullmatch(segment) for segment in segments):
        raise InvalidInput(
            "A model name may contain letters, digits and . _ : - (and / between parts)."
        )
    return value


def skill_name(raw: str) -> str:
    value = raw.strip()
    _require_ascii(value, "A skill name")
    if not SKILL_RE.fullmatch(value):
        raise InvalidInput(
            "A skill name is 1-64 characters of lower-case letters, digits, _ and -."
        )
    return value


def skills(values: Iterable[str]) -> list[str]:
    """A de-duplicated, order-preserving list of valid skill names."""
    result: list[str] = []
    for raw in values:
        name = skill_name(raw)
        if name not in result:
            result.append(name)
    if len(result) > MAX_SKILLS:
        raise InvalidInput(f"At most {MAX_SKILLS} skills may be allowed.")
    return result


def skills_csv(raw: str) -> list[str]:
    parts = [p for p in raw.split(",") if p.strip()]
    return skills(parts)


def allowed_skills_json(raw: str) -> list[str]:
    """`ALLOWED_SKILLS_JSON`: a JSON array of skill names."""
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise InvalidInput(
            'ALLOWED_SKILLS_JSON must be a JSON array, e.g. ["linkhub-bridge"].'
        ) from None
    if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
        raise InvalidInput("ALLOWED_SKILLS_JSON must be a JSON array of strings.")
    return skills(parsed)


def https_url(raw: str, what: str = "The bridge URL") -> str:
    value = raw.strip()
    _require_ascii(value, what)
    if len(value) > 2048 or any(ch.isspace() for ch in value):
        raise InvalidInput(f"{what} must be a single https URL without spaces.")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise InvalidInput(f"{what} is not a valid URL.") from None
    if parts.scheme != "https":
        raise InvalidInput(f"{what} must start with https://.")
    if parts.username or parts.password:
        raise InvalidInput(f"{what} must not contain a user name or password.")
    host = parts.hostname or ""
    if not HOSTNAME_RE.fullmatch(host):
        raise InvalidInput(f"{what} must name a valid host.")
    if port is not None and not 0 < port < 65536:
        raise InvalidInput(f"{what} has an invalid port.")
    return value


def entity_id(raw: str, what: str) -> str:
    """Tenant, user and similar ids: 1-64 of letters, digits, `_ . -`, starting alphanumeric."""
    value = raw.strip()
    _require_ascii(value, what)
    if not ENTITY_ID_RE.fullmatch(value):
        raise InvalidInput(
            f"{what} must be 1-64 characters of letters, digits, _ . - "
            "and start with a letter or digit."
        )
    return value


def region(raw: str) -> str:
    value = raw.strip().lower()
    _require_ascii(value, "A region")
    if not REGION_RE.fullmatch(value):
        raise InvalidInput("A Fly region is a three-letter code such as iad or ams.")
    return value


def secret_name(raw: str) -> str:
    value = raw.strip()
    _require_ascii(value, "A secret name")
    value = value.upper()
    if not SECRET_NAME_RE.fullmatch(value):
        raise InvalidInput(
            "A secret name is 1-64 characters of A-Z, 0-9 and _, starting with a letter."
        )
    return value


MAX_SECRET_VALUE_CHARS = 4096


def secret_value(name: str, raw: str) -> str:
    """A secret's value: one line of visible characters, no spaces; the stripped text.

    `isprintable()` is False for every control (NUL…), format (bidi overrides U+202A-U+202E and
    U+2066-U+2069, zero-width U+200B-U+200D, U+2060, U+FEFF) and separator character: a value
    holding one was almost surely pasted with junk, and would differ invisibly from what the
    admin sees. The message names the setting, never the value.
    """
    value = raw.strip()
    if not value:
        raise InvalidInput(f"{name} needs a value.")
    if len(value) > MAX_SECRET_VALUE_CHARS:
        raise InvalidInput(f"{name} is longer than {MAX_SECRET_VALUE_CHARS} characters.")
    if not value.isprintable() or any(char.isspace() for char in value):
        raise InvalidInput(
            f"{name} must be a single line of visible characters: no spaces, control, "
            "direction-changing (bidi) or zero-width characters. Copy the value again from "
            "its source."
        )
    return value


def telegram_bot_token(raw: str) -> str:
    value = raw.strip()
    if not value.isascii() or not TELEGRAM_BOT_TOKEN_RE.fullmatch(value):
        # Never echo the value: it is meant to be a secret.
        raise InvalidInput("TELEGRAM_BOT_TOKEN does not look like a Telegram bot token.")
    return value


def vm_size(raw: str) -> tuple[str, int]:
    """`shared-cpu-1x` → ("shared", 1)."""
    value = raw.strip().lower()
    match = VM_SIZE_RE.fullmatch(value)
    if not match:
        raise InvalidInput("A VM size looks like shared-cpu-1x or performance-cpu-2x.")
    return match.group(1), int(match.group(2))


def machine_dir(raw: str) -> str:
    value = raw.strip()
    if not MACHINE_DIR_RE.fullmatch(value) or ".." in value.split("/"):
        raise InvalidInput("The OpenClaw folder must be an absolute path of plain characters.")
    return value.rstrip("/") or "/"


def fly_app_name(raw: str) -> str:
    value = raw.strip()
    if not value.isascii() or not FLY_APP_NAME_RE.fullmatch(value):
        raise InvalidInput("A Fly app name is 2-63 characters of a-z, 0-9 and -.")
    return value
