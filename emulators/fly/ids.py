"""Identifiers in the shapes Fly uses: machine ids, ULIDs, volume and snapshot ids.

Pure generators with no state of their own; they never look anything up, so
uniqueness within the emulator rests on their randomness (14 hex digits and
more), which is what Fly relies on too.
"""

from __future__ import annotations

import secrets
import string
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_LOWER_ALNUM = string.ascii_lowercase + string.digits
_MIXED_ALNUM = string.ascii_letters + string.digits

_ADJECTIVES = (
    "aged", "billowing", "bitter", "black", "blue", "bold", "cold", "crimson", "damp", "dark",
    "dawn", "delicate", "divine", "dry", "empty", "falling", "floral", "fragrant", "frosty",
    "green", "hidden", "holy", "icy", "late", "lingering", "little", "lively", "long", "misty",
    "morning", "muddy", "nameless", "old", "patient", "polished", "proud", "purple", "quiet",
    "red", "restless", "rough", "shy", "silent", "small", "snowy", "solitary", "sparkling",
    "spring", "still", "summer", "twilight", "wandering", "weathered", "white", "wild", "winter",
    "wispy", "withered", "young",
)  # fmt: skip
_NOUNS = (
    "bird", "breeze", "brook", "bush", "butterfly", "cherry", "cloud", "darkness", "dawn", "dew",
    "dream", "dust", "feather", "field", "fire", "firefly", "flower", "fog", "forest", "frog",
    "frost", "glade", "glitter", "grass", "haze", "hill", "lake", "leaf", "meadow", "moon",
    "morning", "mountain", "night", "paper", "pine", "pond", "rain", "resonance", "river", "sea",
    "shadow", "shape", "silence", "sky", "smoke", "snow", "snowflake", "sound", "star", "sun",
    "sunset", "surf", "thunder", "tree", "violet", "voice", "water", "waterfall", "wave",
    "wildflower", "wind", "wood",
)  # fmt: skip


def machine_id() -> str:
    """14 lower-case hex digits, e.g. `d5683212a7918e`."""
    return secrets.token_hex(7)


def ulid(unix_seconds: float | None = None) -> str:
    """26 Crockford base32 characters: 48-bit millisecond time then 80 random bits."""
    millis = int((time.time() if unix_seconds is None else unix_seconds) * 1000)
    value = (millis << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def volume_id() -> str:
    """`vol_` and 16 lower-case alphanumerics, e.g. `vol_2n0l3vl60qpv635d`."""
    return "vol_" + "".join(secrets.choice(_LOWER_ALNUM) for _ in range(16))


def snapshot_id() -> str:
    """`vs_` and 24 alphanumerics."""
    return "vs_" + "".join(secrets.choice(_MIXED_ALNUM) for _ in range(24))


def lease_nonce() -> str:
    """12 hex digits, e.g. `5c35f65c9f95`."""
    return secrets.token_hex(6)


def request_id(region: str = "iad") -> str:
    """The `fly-request-id` header value: a ULID and the edge region."""
    return f"{ulid()}-{region}"


def machine_name() -> str:
    """Fly's generated names, e.g. `aged-thunder-7371`."""
    return (
        f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}-{secrets.randbelow(9000) + 1000}"
    )


def private_ip() -> str:
    """A 6PN address, e.g. `fdaa:0:3ec2:a7b:5bd4:9fa:e7b7:2`."""
    groups = [f"{secrets.randbits(16):x}" for _ in range(4)]
    return f"fdaa:0:{groups[0]}:a7b:{groups[1]}:{groups[2]}:{groups[3]}:2"


def zone() -> str:
    """A volume's zone: four hex digits."""
    return secrets.token_hex(2)


def app_id() -> str:
    return "".join(secrets.choice(_MIXED_ALNUM) for _ in range(22))


def pid() -> int:
    """A plausible process id for the gateway's log line."""
    return 300 + secrets.randbelow(700)
