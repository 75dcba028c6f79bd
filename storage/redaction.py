"""Guards that keep secrets out of the plain-text records: audit log, journal, outbox, overrides.

Two rules, applied before anything is written:
- a mapping key named like a secret (`TELEGRAM_BOT_TOKEN`, `apiKey`, `password`, …) is refused
  with `UnsafeRecordError`: secrets belong in the vault, and a refused write is louder than a
  silently stripped one;
- string values are scrubbed of text shaped like a credential (Telegram bot tokens, `sk-…` keys,
  Fly tokens, `Bearer …`, `NAME_TOKEN=value`) — CLI output kept for the audit trail can carry
  them by accident.

This module never logs what it finds: the whole point is that the value goes nowhere.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence

from storage.errors import UnsafeRecordError

REDACTED = "[redacted]"

# Whole words that mark a field as secret on their own.
_SECRET_WORDS = frozenset(
    {
        "secret",
        "secrets",
        "token",
        "password",
        "passwd",
        "passphrase",
        "credential",
        "credentials",
        "apikey",
        "cookie",
        "authorization",
        "privatekey",
    }
)
# Two-word names that mark a field as secret ("api key", "service key", …); `key` alone does not
# (`idempotency_key`, `dedupe_key`, `key_id` are ordinary).
_SECRET_KEY_PREFIXES = frozenset({"api", "private", "service", "encryption", "access", "signing"})

_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")

_SECRET_VALUE_PATTERNS: tuple[re.Pattern[str], ...] = (
    # NAME_TOKEN=value, apiKey: value, "password": "value" — keep the name, drop the value.
    re.compile(
        r"""(?ix)
        (?P<name>[A-Za-z0-9_.-]*(?:token|secret|passw(?:or)?d|api[_-]?key|service[_-]?key)
            [A-Za-z0-9_.-]*["']?\s*[=:]\s*)
        (?P<value>"[^"]*"|'[^']*'|[^\s,;"']+)
        """
    ),
    re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}"),  # Telegram bot token
    re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"),  # OpenAI-style API key
    re.compile(r"\bFlyV1\s+\S+"),  # Fly macaroon token
    re.compile(r"\bfm[12]_[A-Za-z0-9_+/=-]{16,}"),
    re.compile(r"(?i)\bBearer\s+\S+"),
)


def is_secret_field_name(name: str) -> bool:
    """True when a field name says it holds a secret."""
    words = [word.lower() for word in _WORD_SPLIT.split(name) if word]
    if any(word in _SECRET_WORDS for word in words):
        return True
    return any(
        first in _SECRET_KEY_PREFIXES and second == "key"
        for first, second in itertools.pairwise(words)
    )


def find_secret_fields(value: object, path: str = "") -> list[str]:
    """Dotted paths of every mapping key named like a secret, at any depth."""
    found: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            key_text = str(key)
            item_path = f"{path}.{key_text}" if path else key_text
            if is_secret_field_name(key_text):
                found.append(item_path)
            found.extend(find_secret_fields(item, item_path))
    elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
        for index, item in enumerate(value):
            found.extend(find_secret_fields(item, f"{path}[{index}]"))
    return found


def ensure_no_secret_fields(value: object, what: str) -> None:
    """Refuse a record that has secret-named fields; the message names fields, never values."""
    offending = find_secret_fields(value)
    if offending:
        raise UnsafeRecordError(
            f"{what} has fields named like secrets ({', '.join(offending)}); "
            "secrets belong in the vault, not in plain-text records"
        )


def redact_text(text: str) -> str:
    """Replace credential-shaped substrings with a marker."""
    for pattern in _SECRET_VALUE_PATTERNS:
        if "value" in pattern.groupindex:
            text = pattern.sub(lambda match: f"{match.group('name')}{REDACTED}", text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


def redact_json(value: object) -> object:
    """A copy of a JSON-like value with every string passed through `redact_text`."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {str(key): redact_json(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        return [redact_json(item) for item in value]
    return value
