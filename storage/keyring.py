"""The vault's keys: parsing `AGENT_SECRETS_ENCRYPTION_KEY`, sealing and opening secrets.

Format of `AGENT_SECRETS_ENCRYPTION_KEY` (whitespace around entries is ignored):

    <key>                          one key; its id is derived from it
    <id>:<key>,<id>:<key>,…        several keys; the FIRST is current, the others decrypt only

`<key>` is standard (or URL-safe) base64 of exactly 32 random bytes; `<id>` is 1–32 characters
of `A-Z a-z 0-9 _ . -` and may be omitted on any entry, in which case it is the first 8 hex
characters of an HKDF-derived value of the key (stable, reveals nothing about the key).
Generate a key with:

    python -c "import base64,os;print(base64.b64encode(os.urandom(32)).decode())"

Rotation: put the new key first (`new:<NEW>,old:<OLD>`), restart, run the vault's `rotate`, then
drop the old entry.

Cryptography: AES-256-GCM with a fresh random 96-bit nonce per encryption, under a subkey
derived from the configured key with HKDF-SHA256. The associated data binds each ciphertext to
`scope_kind | scope_id | name | key_id` (length-prefixed, so no separator ambiguity): a ciphertext
copied to another agent, another secret name or relabelled with another key id fails to decrypt.
Fingerprints are HMAC-SHA256 under a second HKDF-derived subkey, never a plain hash of a value.

This module never logs, prints or puts into an exception message a key or a secret value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

from storage.errors import SecretDecryptionError, UnknownKeyIdError, VaultKeyError

ENV_VAR = "AGENT_SECRETS_ENCRYPTION_KEY"
GENERATE_COMMAND = 'python -c "import base64,os;print(base64.b64encode(os.urandom(32)).decode())"'

KEY_BYTES = 32
NONCE_BYTES = 12
FINGERPRINT_CHARS = 16
_KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_AAD_PREFIX = b"flyagents/vault/v1"

_HOW_TO_FIX = (
    f"{ENV_VAR} must be base64 of exactly 32 random bytes (or a comma-separated list of "
    f"[key_id:]base64 entries, the first being the current key). Generate one with: "
    f"{GENERATE_COMMAND}"
)


def _derive(key: bytes, purpose: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose).derive(key)


def derive_key_id(key: bytes) -> str:
    """The default id of a key: 8 hex characters of an HKDF output, not of the key itself."""
    return _derive(key, b"flyagents vault key id v1", 4).hex()


def associated_data(scope_kind: str, scope_id: str, name: str, key_id: str) -> bytes:
    """`scope_kind | scope_id | name | key_id`, each length-prefixed so no two tuples collide."""
    parts = [_AAD_PREFIX]
    for field in (scope_kind, scope_id, name, key_id):
        encoded = field.encode("utf-8")
        parts.append(len(encoded).to_bytes(4, "big") + encoded)
    return b"".join(parts)


@dataclass(frozen=True)
class SealedSecret:
    """What is stored for one secret; nothing in it is sensitive on its own."""

    key_id: str
    nonce: bytes
    ciphertext: bytes
    fingerprint: str


class VaultKey:
    """One configured key. Its bytes never leave this object."""

    __slots__ = ("_aead", "_fingerprint_key", "key_id")

    def __init__(self, key_id: str, key: bytes) -> None:
        self.key_id = key_id
        self._aead = AESGCM(_derive(key, b"flyagents vault aes-256-gcm v1", KEY_BYTES))
        self._fingerprint_key = _derive(key, b"flyagents vault fingerprint v1", KEY_BYTES)

    def __repr__(self) -> str:
        return f"VaultKey(key_id={self.key_id!r})"

    def fingerprint(self, value: str) -> str:
        digest = hmac.new(self._fingerprint_key, value.encode("utf-8"), hashlib.sha256)
        return digest.hexdigest()[:FINGERPRINT_CHARS]

    def seal(self, value: str, aad: bytes) -> SealedSecret:
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = self._aead.encrypt(nonce, value.encode("utf-8"), aad)
        return SealedSecret(self.key_id, nonce, ciphertext, self.fingerprint(value))

    def open(self, nonce: bytes, ciphertext: bytes, aad: bytes) -> str | None:
        """The plaintext, or None when authentication fails."""
        try:
            return self._aead.decrypt(nonce, ciphertext, aad).decode("utf-8")
        except (InvalidTag, ValueError, UnicodeDecodeError):
            return None


class VaultKeyring:
    """The current key plus decrypt-only older keys."""

    def __init__(self, keys: list[VaultKey]) -> None:
        if not keys:
            raise VaultKeyError(f"no encryption key configured. {_HOW_TO_FIX}")
        self._keys = {key.key_id: key for key in keys}
        if len(self._keys) != len(keys):
            raise VaultKeyError(f"{ENV_VAR} lists the same key id twice")
        self._current = keys[0]

    def __repr__(self) -> str:
        return f"VaultKeyring(current={self.current_key_id!r}, key_ids={self.key_ids!r})"

    @classmethod
    def from_env_value(cls, value: str | SecretStr) -> VaultKeyring:
        """Parse the documented format; refuse anything else with a message saying how to fix it.

        Error messages name the entry by position only, never echoing key material.
        """
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        entries = [entry.strip() for entry in text.split(",")]
        if not text.strip() or any(not entry for entry in entries):
            raise VaultKeyError(f"{ENV_VAR} is empty or has an empty entry. {_HOW_TO_FIX}")
        keys: list[VaultKey] = []
        seen_material: set[bytes] = set()
        for position, entry in enumerate(entries, start=1):
            key_id, _, encoded = entry.rpartition(":")
            key = _decode_key(encoded, position)
            if key_id and not _KEY_ID_PATTERN.match(key_id):
                raise VaultKeyError(
                    f"{ENV_VAR} entry {position}: key id must be 1-32 characters of "
                    "A-Z a-z 0-9 _ . -"
                )
            if key in seen_material:
                raise VaultKeyError(f"{ENV_VAR} entry {position} repeats an earlier key")
            seen_material.add(key)
            keys.append(VaultKey(key_id or derive_key_id(key), key))
        return cls(keys)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> VaultKeyring | None:
        """The keyring from `AGENT_SECRETS_ENCRYPTION_KEY`, or None when it is not set."""
        source = os.environ if environ is None else environ
        value = source.get(ENV_VAR)
        return None if value is None else cls.from_env_value(value)

    @staticmethod
    def generate_env_value() -> str:
        """A fresh random key in the format `from_env_value` accepts."""
        return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")

    @property
    def current_key_id(self) -> str:
        return self._current.key_id

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def seal(self, scope_kind: str, scope_id: str, name: str, value: str) -> SealedSecret:
        """Encrypt under the current key."""
        aad = associated_data(scope_kind, scope_id, name, self._current.key_id)
        return self._current.seal(value, aad)

    def open(
        self,
        scope_kind: str,
        scope_id: str,
        name: str,
        key_id: str,
        nonce: bytes,
        ciphertext: bytes,
    ) -> str:
        """Decrypt a stored secret, or raise a clear error that names it but shows nothing."""
        key = self._keys.get(key_id)
        where = f"secret {name} of {scope_kind} {scope_id}"
        if key is None:
            raise UnknownKeyIdError(
                f"{where} is encrypted under key id {key_id!r}, which is not configured "
                f"(configured: {', '.join(self._keys)}); add that key to {ENV_VAR} as a "
                "decrypt-only entry"
            )
        plaintext = key.open(nonce, ciphertext, associated_data(scope_kind, scope_id, name, key_id))
        if plaintext is None:
            raise SecretDecryptionError(
                f"{where} failed authentication: the stored ciphertext was altered, copied from "
                f"another record, or key {key_id!r} is not the key it was written with"
            )
        return plaintext

    def fingerprint(self, value: str) -> str:
        """The current key's fingerprint of a value (to compare without revealing it)."""
        return self._current.fingerprint(value)


def _decode_key(encoded: str, position: int) -> bytes:
    problem = (
        f"{ENV_VAR} entry {position} is not base64 of exactly {KEY_BYTES} bytes. {_HOW_TO_FIX}"
    )
    for altchars in (None, b"-_"):
        try:
            key = base64.b64decode(encoded, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(key) == KEY_BYTES:
            return key
        break
    raise VaultKeyError(problem)
