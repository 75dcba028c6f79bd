"""Health-check statuses of a machine, computed when read.

A check passes once BOTH its grace period (times `time_scale`) has elapsed since
the machine started AND the simulated gateway listens on the check's port; the
first passing result comes at the first check run (grace, then every interval)
after the gateway started listening. Until then, and whenever the machine is
not running, it is `critical`. Top-level checks are named by their map key,
service checks `servicecheck-NN-TYPE-PORT` as Fly names them. Pure functions: they never
open a socket; "listening" is the simulated gateway's state.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .validation import parse_duration

DEFAULT_INTERVAL_S = 15.0


@dataclass(frozen=True)
class CheckSpec:
    name: str
    kind: str
    port: int | None
    grace_s: float
    interval_s: float


def check_specs(config: dict[str, Any]) -> list[CheckSpec]:
    specs: list[CheckSpec] = []
    for name, check in (config.get("checks") or {}).items():
        specs.append(_spec(str(name), check, check.get("port")))
    index = 0
    for service in config.get("services") or []:
        for check in service.get("checks") or []:
            port = check.get("port") or service.get("internal_port")
            kind = check.get("type", "tcp")
            specs.append(_spec(f"servicecheck-{index:02d}-{kind}-{port}", check, port))
            index += 1
    return specs


def _spec(name: str, check: dict[str, Any], port: Any) -> CheckSpec:
    def seconds(field: str, default: float) -> float:
        raw = check.get(field)
        return default if raw is None else parse_duration(raw, field)

    return CheckSpec(
        name=name,
        kind=str(check.get("type", "tcp")),
        port=port if isinstance(port, int) else None,
        grace_s=seconds("grace_period", 0.0),
        interval_s=seconds("interval", DEFAULT_INTERVAL_S),
    )


@dataclass(frozen=True)
class MachineHealth:
    running: bool
    started_mono: float | None
    listening_since_mono: float | None
    gateway_port: int
    private_ip: str
    changed_iso: str
    """When the machine last changed state: the `updated_at` of checks that never ran."""


def check_statuses(
    config: dict[str, Any],
    health: MachineHealth,
    *,
    time_scale: float,
    now_mono: float,
    mono_to_iso: Callable[[float], str],
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for spec in check_specs(config):
        results.append(_status(spec, health, time_scale, now_mono, mono_to_iso))
    return results


def _status(
    spec: CheckSpec,
    health: MachineHealth,
    time_scale: float,
    now_mono: float,
    mono_to_iso: Callable[[float], str],
) -> dict[str, Any]:
    def answer(status: str, output: str, updated_iso: str) -> dict[str, Any]:
        return {"name": spec.name, "status": status, "output": output, "updated_at": updated_iso}

    if not health.running or health.started_mono is None:
        return answer("critical", "the machine is not running", health.changed_iso)
    first_run = health.started_mono + spec.grace_s * time_scale
    refused = (
        f"dial tcp [{health.private_ip}]:{spec.port}: connect: connection refused"
        if spec.kind == "tcp"
        else f'Get "http://[{health.private_ip}]:{spec.port}/": dial tcp: connect: '
        "connection refused"
    )
    listening = health.listening_since_mono is not None and spec.port == health.gateway_port
    if now_mono < first_run:
        return answer(
            "critical", "waiting for the grace period to end", mono_to_iso(health.started_mono)
        )
    if not listening or health.listening_since_mono is None:
        return answer("critical", refused, mono_to_iso(first_run))
    interval = max(spec.interval_s * time_scale, 1e-6)
    since = health.listening_since_mono
    runs = 0 if since <= first_run else math.ceil((since - first_run) / interval)
    passing_from = first_run + runs * interval
    if now_mono < passing_from:
        return answer("critical", refused, mono_to_iso(first_run))
    output = "Success" if spec.kind == "tcp" else "200 OK"
    return answer("passing", output, mono_to_iso(passing_from))
