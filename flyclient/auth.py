"""The Fly API token as a secret value, and the one rule that turns it into a header.

`FlyToken` wraps the raw token so that it can travel through the client without ever
being printed: its `repr`, `str` and format output are redacted, and the only way to
read the value is the explicit `reveal()` call made when a request is built.

This module must never log, print or embed the token in an exception message.
"""

from __future__ import annotations

from typing import Final, NoReturn

REDACTED: Final = "[redacted]"

# Macaroon tokens (what `fly tokens create` prints) must use the FlyV1 scheme;
# anything else is a classic personal token that Fly accepts as a bearer token.
_MACAROON_PREFIXES: Final = ("fm1_", "fm2_")
_FLYV1_SCHEME: Final = "FlyV1 "


class FlyToken:
    """A Fly API token that refuses to show itself.

    Construct it from the token exactly as Fly printed it (`fo1_…`, `fm2_…`, or a whole
    `FlyV1 fm2_…,fm2_…` string). Two tokens compare equal when their values are equal,
    so a token can key a cache without being revealed.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        cleaned = value.strip()
        if not cleaned:
            raise ValueError("the Fly API token is empty")
        # A control character would make httpx raise an error whose message quotes
        # the whole header value; refuse early with a message that quotes nothing.
        if any(ord(char) < 0x20 or ord(char) == 0x7F for char in cleaned):
            raise ValueError("the Fly API token contains control characters")
        self._value = cleaned

    def reveal(self) -> str:
        """The raw token; call it only to build the Authorization header."""
        return self._value

    @property
    def scheme(self) -> str:
        """`FlyV1` for macaroons and pre-scoped FlyV1 strings, else `Bearer`."""
        if self._value.startswith(_FLYV1_SCHEME) or self._value.startswith(_MACAROON_PREFIXES):
            return "FlyV1"
        return "Bearer"

    def authorization_header(self) -> str:
        """The value of the `Authorization` header Fly expects for this token."""
        if self._value.startswith(_FLYV1_SCHEME):
            return self._value
        return f"{self.scheme} {self._value}"

    def scrub(self, text: str) -> str:
        """`text` with every occurrence of the token replaced by a redaction marker."""
        if self._value in text:
            text = text.replace(self._value, REDACTED)
        bare = self._value.removeprefix(_FLYV1_SCHEME)
        if bare and bare in text:
            text = text.replace(bare, REDACTED)
        return text

    def __repr__(self) -> str:
        return f"FlyToken({REDACTED})"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, format_spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FlyToken):
            return NotImplemented
        return self._value == other._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> NoReturn:
        # Pickling would write the raw token into whatever stores the pickle.
        raise TypeError("a FlyToken cannot be pickled")


def as_token(token: str | FlyToken) -> FlyToken:
    """Accept either a raw string or an already wrapped token."""
    return token if isinstance(token, FlyToken) else FlyToken(token)
