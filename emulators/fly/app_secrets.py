"""App secrets (`/apps/{app}/secrets`): values a machine sees as environment variables.

Every change bumps the app's secrets version. A machine reads the secrets when
it boots (start, restart, update, flyd's own restarts), so a change reaches a
running machine only after it restarts, as on Fly; a secret wins over a config
`env` entry of the same name. Values are shown only with `show_secrets`.
Never logs or records a value anywhere else.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from .clock import EmulatorClock


@dataclass
class Secret:
    name: str
    value: str
    created_at: float
    updated_at: float

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.value.encode()).hexdigest()[:16]

    def as_json(self, clock: EmulatorClock, *, show_value: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "digest": self.digest,
            "created_at": clock.iso(self.created_at),
            "updated_at": clock.iso(self.updated_at),
        }
        if show_value:
            body["value"] = self.value
        return body


@dataclass
class AppSecrets:
    clock: EmulatorClock
    version: int = 0
    items: dict[str, Secret] = field(default_factory=dict)

    def values(self) -> dict[str, str]:
        return {name: secret.value for name, secret in self.items.items()}

    def set(self, name: str, value: str) -> Secret:
        now = self.clock.now()
        existing = self.items.get(name)
        if existing is None:
            existing = Secret(name=name, value=value, created_at=now, updated_at=now)
            self.items[name] = existing
        else:
            existing.value = value
            existing.updated_at = now
        return existing

    def delete(self, name: str) -> bool:
        return self.items.pop(name, None) is not None

    def bump(self) -> int:
        self.version += 1
        return self.version

    def listing(self, *, show_values: bool) -> list[dict[str, Any]]:
        return [
            self.items[name].as_json(self.clock, show_value=show_values)
            for name in sorted(self.items)
        ]
