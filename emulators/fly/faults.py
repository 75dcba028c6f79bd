"""Fault injection rules for the Fly emulator (`POST /_emulator/faults`).

Each POST adds rules or replaces the rule with the same identity; the body is
one rule, a list of rules, or `{"rules": [...]}`; `{"clear": true}` removes
every rule and resets every gateway mode. Rule shapes (exact JSON):

- HTTP error: `{"route": {"method": "POST", "path_regex": "machines$"}, "status": 500,
  "rate": 1.0, "count": 2, "mode": "before"|"after", "retry_after": 3, "body": {...}}`
  — `route` is optional (every Machines/logs API request), `method` optional,
  `path_regex` is searched in the path without query string (`/v1/apps/a/machines`);
  `rate` is the probability a match fires (default 1.0); `count` limits the rule
  to its next N firings; `mode: "after"` lets the operation take effect and then
  answers the error (an ambiguous failure); `retry_after` adds a `Retry-After`
  header; `body` replaces the default `{"error": "…"}`; `echo_env: "NAME"` makes the body
  quote the value the request gave NAME (in `config.env` of a machine create/update, or in
  `values` of a secrets update), as Fly's config validation does:
  `{"error": "invalid config: env.NAME: value … is not allowed"}`. Identity: route + "status".
- Latency: `{"route": {...}, "latency_s": 0.2, "rate"?, "count"?}` — sleeps before
  handling. A rule may carry both `latency_s` and `status`. Identity: route + "latency".
- `{"exec_hang": {"machine_id": "…", "match": "pairing approve", "count"?: N,
  "mode"?: "before"|"after"}}` — execs on that machine whose argv (joined by spaces)
  contains `match` hang until the machine is stopped or restarted: before the command
  does anything (default: killed, it changed nothing), or with `mode: "after"` once it
  took effect (its answer never comes). Identity: machine_id + match. Machine id `"*"`
  matches every machine (also one created later, e.g. during a provisioning).
- `{"exec_slow": {"machine_id": "…", "match": "…", "seconds": 5, "count"?: N}}` — such
  execs take `seconds` longer (so a client's exec timeout fires while the command
  still completes inside the machine). Identity: machine_id + match.
- `{"gateway_mode": {"machine_id": "…"|"*", "mode": MODE}}` with MODE one of
  `normal`, `never_listen`, `refuse_auth`, `version_mismatch` — how the simulated
  gateway behaves from its next boot on ("*": every machine without its own mode).
  `version_mismatch`: the volume's config was last written by a newer OpenClaw
  (2026.10.1) than the image's (2026.9.6); the gateway prints OpenClaw's real refusal
  and exits 1.
- `{"crash": {"machine_id": "…", "to": "stopped"|"failed", "auto_restart"?: bool}}` — the
  machine's main process dies now; by default flyd then applies the restart policy.

This module only parses and matches rules; the server and machines act on them. It must
never act on a machine itself or fire outside the rules it was given.
"""

from __future__ import annotations

import http
import random
import re
from dataclasses import dataclass
from typing import Any, Literal, cast

from .gateway_sim import GATEWAY_MODES, GatewayMode

FaultMode = Literal["before", "after"]


@dataclass
class HttpFault:
    method: str | None
    path_regex: str
    status: int | None
    latency_s: float
    rate: float
    remaining: int | None
    mode: FaultMode
    retry_after: int | None
    body: Any
    echo_env: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return re.search(self.path_regex, path) is not None

    def identity(self) -> tuple[str | None, str, str]:
        return (self.method, self.path_regex, "status" if self.status is not None else "latency")

    def describe(self) -> dict[str, Any]:
        return {
            "route": {"method": self.method, "path_regex": self.path_regex},
            "status": self.status,
            "latency_s": self.latency_s,
            "rate": self.rate,
            "count": self.remaining,
            "mode": self.mode,
            "retry_after": self.retry_after,
            "body": self.body,
            "echo_env": self.echo_env,
        }


@dataclass
class ExecRule:
    kind: Literal["hang", "slow"]
    machine_id: str
    match: str
    seconds: float
    remaining: int | None
    mode: FaultMode = "before"

    def describe(self) -> dict[str, Any]:
        key = "exec_hang" if self.kind == "hang" else "exec_slow"
        detail: dict[str, Any] = {
            "machine_id": self.machine_id,
            "match": self.match,
            "count": self.remaining,
        }
        if self.kind == "slow":
            detail["seconds"] = self.seconds
        else:
            detail["mode"] = self.mode
        return {key: detail}


@dataclass(frozen=True)
class ExecEffect:
    """What the fault rules do to one exec."""

    hangs: bool = False
    hangs_after: bool = False  # runs to completion (with its effect), then never answers
    extra_delay_s: float = 0.0


@dataclass(frozen=True)
class Crash:
    machine_id: str
    to: Literal["stopped", "failed"]
    auto_restart: bool | None


@dataclass(frozen=True)
class HttpFaultHit:
    status: int
    mode: FaultMode
    body: Any
    headers: dict[str, str]


def default_error_body(status: int) -> dict[str, str]:
    if status == 429:
        return {"error": "rate limit exceeded"}
    if status == 408:
        return {"error": "deadline_exceeded: request timed out"}
    try:
        phrase = http.HTTPStatus(status).phrase.lower()
    except ValueError:
        phrase = "error"
    return {"error": phrase}


def _env_value(request_body: Any, name: str) -> str | None:
    """The value a request gave env variable NAME: machine config env, or a secrets update."""
    if not isinstance(request_body, dict):
        return None
    config = request_body.get("config")
    for holder in (
        config.get("env") if isinstance(config, dict) else None,
        request_body.get("values"),
    ):
        if isinstance(holder, dict) and isinstance(holder.get(name), str):
            return str(holder[name])
    return None


def _number(raw: dict[str, Any], name: str, default: float) -> float:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name} must be a number >= 0")
    return float(value)


def _count(raw: dict[str, Any]) -> int | None:
    value = raw.get("count")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("count must be an integer >= 1")
    return value


def _machine_id(raw: Any, kind: str) -> dict[str, Any]:
    if not isinstance(raw, dict) or not isinstance(raw.get("machine_id"), str):
        raise ValueError(f"{kind} needs an object with a machine_id")
    return cast(dict[str, Any], raw)


class FaultBook:
    def __init__(self) -> None:
        self.http: list[HttpFault] = []
        self.exec_rules: list[ExecRule] = []
        self.gateway_modes: dict[str, GatewayMode] = {}

    def clear(self) -> None:
        self.http.clear()
        self.exec_rules.clear()
        self.gateway_modes.clear()

    def add(self, spec: Any) -> list[Crash]:
        """Add (or replace) the rules in SPEC; returns the crashes to perform now."""
        if isinstance(spec, dict) and "rules" in spec:
            spec = spec["rules"]
        rules = spec if isinstance(spec, list) else [spec]
        crashes: list[Crash] = []
        parsed: list[Any] = []
        for rule in rules:
            if not isinstance(rule, dict):
                raise ValueError("each fault rule must be a JSON object")
            parsed.append(self._parse(rule))
        for item in parsed:
            if isinstance(item, Crash):
                crashes.append(item)
            elif item == "clear":
                self.clear()
            elif isinstance(item, HttpFault):
                self.http = [f for f in self.http if f.identity() != item.identity()]
                self.http.append(item)
            elif isinstance(item, ExecRule):
                self.exec_rules = [
                    r
                    for r in self.exec_rules
                    if (r.machine_id, r.match) != (item.machine_id, item.match)
                ]
                self.exec_rules.append(item)
            elif isinstance(item, tuple):
                machine_id, mode = item
                self.gateway_modes[machine_id] = mode
        return crashes

    def _parse(self, rule: dict[str, Any]) -> Any:
        if rule.get("clear") is True:
            return "clear"
        if "exec_hang" in rule or "exec_slow" in rule:
            kind: Literal["hang", "slow"] = "hang" if "exec_hang" in rule else "slow"
            raw = _machine_id(rule.get("exec_hang") or rule.get("exec_slow"), f"exec_{kind}")
            match = raw.get("match", "")
            if not isinstance(match, str):
                raise ValueError("match must be a string")
            seconds = _number(raw, "seconds", 0.0) if kind == "slow" else 0.0
            mode = raw.get("mode", "before")
            if mode not in ("before", "after"):
                raise ValueError('mode must be "before" or "after"')
            return ExecRule(kind, raw["machine_id"], match, seconds, _count(raw), mode)
        if "gateway_mode" in rule:
            raw = _machine_id(rule["gateway_mode"], "gateway_mode")
            mode = raw.get("mode")
            if mode not in GATEWAY_MODES:
                raise ValueError(f"mode must be one of {', '.join(GATEWAY_MODES)}")
            return (raw["machine_id"], cast(GatewayMode, mode))
        if "crash" in rule:
            raw = _machine_id(rule["crash"], "crash")
            to = raw.get("to", "failed")
            if to not in ("stopped", "failed"):
                raise ValueError('crash.to must be "stopped" or "failed"')
            auto_restart = raw.get("auto_restart")
            if auto_restart is not None and not isinstance(auto_restart, bool):
                raise ValueError("crash.auto_restart must be a boolean")
            return Crash(raw["machine_id"], to, auto_restart)
        if "status" in rule or "latency_s" in rule:
            return self._parse_http(rule)
        raise ValueError(
            "unknown fault rule; expected status/latency_s (with route), exec_hang, exec_slow, "
            "gateway_mode, crash or clear"
        )

    @staticmethod
    def _parse_http(rule: dict[str, Any]) -> HttpFault:
        route = rule.get("route") or {}
        if not isinstance(route, dict):
            raise ValueError("route must be an object {method?, path_regex?}")
        method = route.get("method")
        if method is not None and not isinstance(method, str):
            raise ValueError("route.method must be a string")
        path_regex = route.get("path_regex", "")
        if not isinstance(path_regex, str):
            raise ValueError("route.path_regex must be a string")
        try:
            re.compile(path_regex)
        except re.error as error:
            raise ValueError(f"route.path_regex does not compile: {error}") from None
        status = rule.get("status")
        if status is not None and (
            isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599
        ):
            raise ValueError("status must be an HTTP status code")
        mode = rule.get("mode", "before")
        if mode not in ("before", "after"):
            raise ValueError('mode must be "before" or "after"')
        retry_after = rule.get("retry_after")
        if retry_after is not None and (
            isinstance(retry_after, bool) or not isinstance(retry_after, int) or retry_after < 0
        ):
            raise ValueError("retry_after must be an integer number of seconds")
        echo_env = rule.get("echo_env")
        if echo_env is not None and not isinstance(echo_env, str):
            raise ValueError("echo_env must be the name of an env variable")
        rate = _number(rule, "rate", 1.0)
        if rate > 1.0:
            raise ValueError("rate is a probability between 0 and 1")
        return HttpFault(
            method=method.upper() if method else None,
            path_regex=path_regex,
            status=status,
            latency_s=_number(rule, "latency_s", 0.0),
            rate=rate,
            remaining=_count(rule),
            mode=cast(FaultMode, mode),
            retry_after=retry_after,
            body=rule.get("body"),
            echo_env=echo_env,
        )

    def _fires(self, fault: HttpFault) -> bool:
        if fault.remaining is not None and fault.remaining <= 0:
            return False
        if fault.rate < 1.0 and random.random() >= fault.rate:
            return False
        if fault.remaining is not None:
            fault.remaining -= 1
        return True

    def latency_for(self, method: str, path: str) -> float:
        total = 0.0
        for fault in self.http:
            if fault.latency_s > 0 and fault.matches(method, path) and self._fires(fault):
                total += fault.latency_s
        self._drop_spent()
        return total

    def error_for(self, method: str, path: str, request_body: Any = None) -> HttpFaultHit | None:
        for fault in self.http:
            if fault.status is None or not fault.matches(method, path):
                continue
            if not self._fires(fault):
                continue
            self._drop_spent()
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = str(fault.retry_after)
            body = fault.body if fault.body is not None else default_error_body(fault.status)
            if fault.echo_env is not None:
                quoted = _env_value(request_body, fault.echo_env)
                if quoted is not None:
                    body = {
                        "error": f"invalid config: env.{fault.echo_env}: value {quoted} "
                        "is not allowed"
                    }
            return HttpFaultHit(fault.status, fault.mode, body, headers)
        return None

    def _drop_spent(self) -> None:
        self.http = [f for f in self.http if f.remaining is None or f.remaining > 0]

    def exec_effect(self, machine_id: str, command_text: str) -> ExecEffect:
        """What the rules do to an exec on MACHINE_ID running COMMAND_TEXT."""
        hangs = False
        hangs_after = False
        extra = 0.0
        for rule in self.exec_rules:
            if rule.machine_id not in (machine_id, "*") or rule.match not in command_text:
                continue
            if rule.remaining is not None:
                if rule.remaining <= 0:
                    continue
                rule.remaining -= 1
            if rule.kind == "hang" and rule.mode == "after":
                hangs_after = True
            elif rule.kind == "hang":
                hangs = True
            else:
                extra += rule.seconds
        self.exec_rules = [r for r in self.exec_rules if r.remaining is None or r.remaining > 0]
        return ExecEffect(hangs=hangs, hangs_after=hangs_after and not hangs, extra_delay_s=extra)

    def gateway_mode(self, machine_id: str) -> GatewayMode:
        return self.gateway_modes.get(machine_id) or self.gateway_modes.get("*") or "normal"

    def describe(self) -> dict[str, Any]:
        return {
            "http": [f.describe() for f in self.http],
            "exec": [r.describe() for r in self.exec_rules],
            "gateway_modes": dict(self.gateway_modes),
        }
