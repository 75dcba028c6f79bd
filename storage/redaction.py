"""Guards that keep secrets out of the plain-text records: audit log, journal, outbox, overrides.

Three rules, applied before anything is written:
- every value the bot holds as a secret (its settings' `SecretStr`s, everything in the vault) is
  replaced wherever it appears, whatever its shape — see `KNOWN_SECRETS` below; a third party
  (Fly quoting a config value in an error body) can hand one back to us in any text;
- a mapping key named like a secret (`TELEGRAM_BOT_TOKEN`, `apiKey`, `password`, …) is refused
  with `UnsafeRecordError`: secrets belong in the vault, and a refused write is louder than a
  silently stripped one;
- string values are scrubbed of text shaped like a credential (Telegram bot tokens, `sk-…` keys,
  Fly tokens, `Bearer …`, `NAME_TOKEN=value`) — CLI output kept for the audit trail can carry
  them by accident.

This module never logs what it finds: the whole point is that the value goes nowhere.
"""

from __future__ import annotations

import html
import itertools
import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import quote, quote_plus

from pydantic import SecretStr

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


class KnownSecrets:
    """Every secret value this process holds, to be cut out of any text before it leaves.

    One registry per process (`KNOWN_SECRETS`): fed by the runtime with the settings' secrets
    at start and by the vault with every value it stores, decrypts, or finds stored when it is
    opened; read by every sink — storage writes, the log record factory, the Telegram
    messenger, fleet errors. A value is also known in the shapes it takes when another system
    quotes it: JSON-escaped, URL-encoded and HTML-escaped.

    Values shorter than `MIN_CHARS` are not registered: replacing a 3-letter string would
    mangle ordinary words and, worse, the markers would show where (so what) the value is.
    Such values are not secrets worth the name (every real key and token is far longer); the
    vault still encrypts them and no code of ours ever writes one out.

    Matching looks each position of a text up by its first `MIN_CHARS` characters in an index
    of the values, longest value first (so a value that contains another is replaced whole):
    the cost grows with the text's length, not with the number of values, so a fleet of
    thousands of agents' secrets costs every log line and database write the same as a few.
    The registry only grows: a value removed from the vault may still sit in texts written
    earlier.
    """

    MIN_CHARS = 6

    def __init__(self) -> None:
        self._values: set[str] = set()
        # First MIN_CHARS characters → the values that start so, longest first.
        self._index: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def add(self, *values: str | SecretStr | None) -> None:
        """Remember values (and their quoted shapes); short and empty ones are ignored."""
        fresh: set[str] = set()
        for value in values:
            text = value.get_secret_value() if isinstance(value, SecretStr) else value
            if not text or len(text) < self.MIN_CHARS:
                continue
            shapes = {
                text,
                json.dumps(text)[1:-1],
                json.dumps(text, ensure_ascii=False)[1:-1],
                quote(text, safe=""),
                quote_plus(text, safe=""),
                html.escape(text, quote=False),
                html.escape(text, quote=True),
            }
            fresh.update(shape for shape in shapes if len(shape) >= self.MIN_CHARS)
        with self._lock:
            for shape in fresh - self._values:
                self._values.add(shape)
                head = shape[: self.MIN_CHARS]
                # A new tuple replaces the old one whole: a reader never sees it half-built.
                self._index[head] = tuple(
                    sorted((*self._index.get(head, ()), shape), key=len, reverse=True)
                )

    def update(self, values: Iterable[str | SecretStr | None]) -> None:
        self.add(*values)

    def __len__(self) -> int:
        return len(self._values)

    def redact(self, text: str) -> str:
        """`text` with every known value replaced by the redaction marker."""
        index = self._index
        size = self.MIN_CHARS
        if not index or len(text) < size:
            return text
        parts: list[str] = []
        position = kept = 0
        last = len(text) - size
        while position <= last:
            candidates = index.get(text[position : position + size])
            if candidates is not None:
                found = next((v for v in candidates if text.startswith(v, position)), None)
                if found is not None:
                    parts.append(text[kept:position])
                    parts.append(REDACTED)
                    position += len(found)
                    kept = position
                    continue
            position += 1
        if not parts:
            return text
        parts.append(text[kept:])
        return "".join(parts)

    def forget_all(self) -> None:
        """For tests that need a fresh process's registry."""
        with self._lock:
            self._values.clear()
            self._index = {}


KNOWN_SECRETS = KnownSecrets()


def redact_known(text: str) -> str:
    """`text` without any value registered in `KNOWN_SECRETS` (shape-based rules not applied)."""
    return KNOWN_SECRETS.redact(text)


def redact_params(
    params: Sequence[object] | Mapping[str, object],
) -> Sequence[object] | Mapping[str, object]:
    """SQL parameters with every known secret cut out of their text values: the last net
    before anything reaches the database file."""
    if not KNOWN_SECRETS:  # a cheap check on the hot path
        return params
    if isinstance(params, Mapping):
        return {
            key: redact_known(value) if isinstance(value, str) else value
            for key, value in params.items()
        }
    return tuple(redact_known(value) if isinstance(value, str) else value for value in params)


_base_record_factory = logging.getLogRecordFactory()
_factory_installed = False


def install_log_redaction() -> None:
    """Cut known secrets out of every log record as it is made, whatever handler reads it.

    A filter on the root handler would miss handlers added later (a library's, pytest's
    capture) and records' tracebacks; the record factory sees every record at birth. The
    message is formatted once here (`msg % args`), and an exception's traceback is formatted
    and redacted into `exc_text`, which formatters use as is.
    """
    global _factory_installed
    if _factory_installed:
        return
    formatter = logging.Formatter()

    def make_record(*args: object, **kwargs: object) -> logging.LogRecord:
        record = _base_record_factory(*args, **kwargs)
        if not KNOWN_SECRETS:  # nothing to cut yet
            return record
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: logging reports it when it formats it
            return record
        record.msg = redact_known(message)
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact_known(formatter.formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact_known(record.stack_info)
        return record

    logging.setLogRecordFactory(make_record)
    _factory_installed = True


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
    """Replace known secret values and credential-shaped substrings with a marker."""
    text = redact_known(text)
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
