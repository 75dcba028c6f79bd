"""Fly's published Machines API rate limits as token buckets.

One bucket per (action, key) where the key is the machine id for
machine-level actions and the app name for app-level ones: 1 request/s with a
burst of 3, get-machine 5/s with a burst of 10. Buckets are refilled lazily on
use (O(1) per request, no timers) and full, idle buckets are swept now and then,
so thousands of machines cost a dict entry each at most. Knows nothing of HTTP.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Limit:
    rate: float
    burst: float


DEFAULT_LIMIT = Limit(rate=1.0, burst=3.0)
DEFAULT_ACTION_LIMITS = {"machine_get": Limit(rate=5.0, burst=10.0)}
_SWEEP_EVERY = 5_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    enabled: bool = True
    default: Limit = field(default_factory=lambda: Limit(DEFAULT_LIMIT.rate, DEFAULT_LIMIT.burst))
    per_action: dict[str, Limit] = field(
        default_factory=lambda: {
            k: Limit(v.rate, v.burst) for k, v in DEFAULT_ACTION_LIMITS.items()
        }
    )
    _buckets: dict[tuple[str, str], _Bucket] = field(default_factory=dict)
    _since_sweep: int = 0

    def limit_for(self, action: str) -> Limit:
        return self.per_action.get(action, self.default)

    def take(self, action: str, key: str) -> int | None:
        """None when the request may proceed, else the seconds to put in Retry-After."""
        if not self.enabled:
            return None
        limit = self.limit_for(action)
        now = time.monotonic()
        bucket = self._buckets.get((action, key))
        if bucket is None:
            bucket = _Bucket(tokens=limit.burst, updated=now)
            self._buckets[(action, key)] = bucket
            self._since_sweep += 1
            if self._since_sweep >= _SWEEP_EVERY:
                self._sweep(now)
        else:
            bucket.tokens = min(limit.burst, bucket.tokens + (now - bucket.updated) * limit.rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / limit.rate))

    def _sweep(self, now: float) -> None:
        self._since_sweep = 0
        full = [
            key
            for key, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.updated) * self.limit_for(key[0]).rate
            >= self.limit_for(key[0]).burst
        ]
        for key in full:
            del self._buckets[key]

    def configure(self, settings: dict[str, Any]) -> None:
        """Apply `{"enabled"?, "default"?: {rate, burst}, "actions"?: {name: {rate, burst}}}`."""
        known = {"enabled", "default", "actions", "reset"}
        unknown = set(settings) - known
        if unknown:
            raise ValueError(
                f"unknown rate-limit settings {sorted(unknown)}; known: {sorted(known)}"
            )
        enabled = settings.get("enabled", self.enabled)
        if not isinstance(enabled, bool):
            raise ValueError("enabled must be a boolean")
        default = _parse_limit(settings["default"]) if "default" in settings else self.default
        actions = dict(self.per_action)
        raw_actions = settings.get("actions", {})
        if not isinstance(raw_actions, dict):
            raise ValueError("actions must be an object of {rate, burst}")
        for name, raw in raw_actions.items():
            actions[str(name)] = _parse_limit(raw)
        self.enabled = enabled
        self.default = default
        self.per_action = actions
        self._buckets.clear()

    def reset(self) -> None:
        self.enabled = True
        self.default = Limit(DEFAULT_LIMIT.rate, DEFAULT_LIMIT.burst)
        self.per_action = {k: Limit(v.rate, v.burst) for k, v in DEFAULT_ACTION_LIMITS.items()}
        self._buckets.clear()

    def describe(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "default": {"rate": self.default.rate, "burst": self.default.burst},
            "actions": {k: {"rate": v.rate, "burst": v.burst} for k, v in self.per_action.items()},
        }


def _parse_limit(raw: Any) -> Limit:
    if not isinstance(raw, dict):
        raise ValueError("a limit is an object {rate, burst}")
    return Limit(rate=_positive(raw, "rate"), burst=_positive(raw, "burst"))


def _positive(raw: dict[str, Any], name: str) -> float:
    value = raw.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{name} must be a number > 0")
    return float(value)
