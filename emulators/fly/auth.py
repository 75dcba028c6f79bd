"""Who may call the emulated API: Fly's `Authorization` header rules.

`Authorization: Bearer <token>` or `FlyV1 <token>`; a missing or empty token is
401. With a global token configured only that token is accepted (for every
app); app tokens are valid only for their own app (another app is 401). With
neither configured, any non-empty token is accepted. Tokens are compared and
forgotten: nothing here stores them.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from .errors import ApiError


def presented_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() not in ("bearer", "flyv1"):
        return None
    token = value.strip()
    return token or None


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True)
class AuthPolicy:
    token: str | None = None
    app_tokens: dict[str, str] = field(default_factory=dict)

    def check(self, token: str | None, app: str | None) -> None:
        if token is None:
            raise ApiError(401, "You must be authenticated to view this.")
        if self.token is None and not self.app_tokens:
            return
        if self.token is not None and _same(token, self.token):
            return
        if app is not None:
            expected = self.app_tokens.get(app)
            if expected is not None and _same(token, expected):
                return
        where = f"app {app!r}" if app else "this organization"
        raise ApiError(401, f"unauthorized: the token is not valid for {where}")
