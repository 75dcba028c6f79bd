"""Is an agent's OpenClaw gateway really serving? Fly's checks and the gateway's own logs.

A machine can be `started` on Fly while its gateway is not listening (the seed's warning),
so readiness needs both: the TCP check passing and a `[gateway] ready` (or older
`listening on ws://`) line from the current boot. Problems that waiting cannot fix — the
auth refusal and a version mismatch — end the wait at once with a specific diagnosis.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.fleet.errors import GatewayFailure, GatewayProblem
from bot.fleet.gateway_signals import GatewayReport, summarize
from flyclient import FlyClient, FlyError, Machine

log = logging.getLogger("bot.fleet.gateway")

AUTH_REFUSED_FIX = (
    "OPENCLAW_GATEWAY_TOKEN is missing or empty on the machine, so OpenClaw refuses to bind "
    "the gateway on lan. Store a token for the agent with /secret AGENT "
    "OPENCLAW_GATEWAY_TOKEN and then /recreate it, or give the machine one with "
    "fly machine update -e (OPENCLAW_GATEWAY_TOKEN and a value)"
)
VERSION_MISMATCH_FIX = (
    "The image's OpenClaw is older than the one that last wrote the config on the volume, and "
    "it refuses that volume. Run machines with one consistent OpenClaw version: deploy an "
    "image with the newer OpenClaw (FLYAGENTS_AGENT_IMAGE or the tenant's), or, to roll back, "
    "restore the volume as it was before the upgrade (/recreate from a snapshot taken then) — "
    "switching the image alone is not enough"
)
NEVER_LISTENING_FIX = (
    "The machine is started but the gateway never logged that it listens. Check that the "
    "image's entrypoint does not force --dev (set OPENCLAW_GATEWAY_DEV_MODE=true only when "
    "needed), then restart the machine"
)


def parse_log_time(value: str | None) -> datetime | None:
    """Fly stamps logs with nanoseconds; `datetime` holds microseconds."""
    if not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class LogCursor:
    """Reads a machine's log lines forward, keeping only those at or after `since`."""

    machine_id: str
    since: datetime | None = None
    lines: list[str] = field(default_factory=list)
    _token: str | None = None
    _seen_ids: set[str] = field(default_factory=set)

    async def poll(self, fly: FlyClient) -> list[str]:
        page = await fly.get_logs(self.machine_id, next_token=self._token)
        if page.next_token:
            self._token = page.next_token
        fresh = []
        for entry in page.entries:
            if entry.id and entry.id in self._seen_ids:
                continue
            if entry.id:
                self._seen_ids.add(entry.id)
            stamp = parse_log_time(entry.timestamp)
            if self.since is not None and stamp is not None and stamp < self.since:
                continue
            fresh.append(entry.message)
        self.lines.extend(fresh)
        return fresh


@dataclass(frozen=True)
class GatewayHealth:
    healthy: bool
    reason: str
    report: GatewayReport | None = None
    machine_state: str | None = None


def checks_passing(machine: Machine) -> bool:
    return bool(machine.checks) and all(check.status == "passing" for check in machine.checks)


def version_mismatch_text(report: GatewayReport, machine_id: str) -> str:
    """The diagnosis, naming both versions: the image's OpenClaw and the config's."""
    versions = report.versions
    if versions is None:
        return f"Machine {machine_id}: {report.version_line}"
    binary = f"OpenClaw {versions.binary}" if versions.binary else "its OpenClaw"
    return (
        f"Machine {machine_id}: version mismatch — the image runs {binary}, older than "
        f"OpenClaw {versions.config}, which last wrote the config on the volume; the gateway "
        "refuses to start (exit 1)."
    )


def diagnose(report: GatewayReport, machine_id: str) -> GatewayProblem | None:
    """A problem that waiting cannot fix, read from the boot's log lines; None otherwise."""
    if report.auth_refused:
        return GatewayProblem(
            GatewayFailure.AUTH_REFUSED,
            f"Machine {machine_id}: Refusing to bind gateway to lan without auth.",
            cleanup=(AUTH_REFUSED_FIX,),
        )
    if report.version_mismatch:
        return GatewayProblem(
            GatewayFailure.VERSION_MISMATCH,
            version_mismatch_text(report, machine_id),
            cleanup=(VERSION_MISMATCH_FIX,),
        )
    return None


async def current_health(
    fly: FlyClient, machine_id: str, *, since: datetime | None = None
) -> GatewayHealth:
    """One look: machine started, check passing and the gateway's logs say ready."""
    machine = await fly.get_machine(machine_id)
    if machine.state != "started":
        return GatewayHealth(False, f"machine is {machine.state}", machine_state=machine.state)
    cursor = LogCursor(machine_id, since=since)
    try:
        await cursor.poll(fly)
    except FlyError as error:
        log.warning("logs of %s unavailable (%s); judging by checks alone", machine_id, error)
        ok = checks_passing(machine)
        return GatewayHealth(ok, "check passing" if ok else "check not passing", None, "started")
    report = summarize(cursor.lines)
    problem = diagnose(report, machine_id)
    if problem is not None:
        return GatewayHealth(False, problem.message, report, "started")
    if not checks_passing(machine):
        return GatewayHealth(False, "health check not passing yet", report, "started")
    if not report.ready:
        return GatewayHealth(False, "gateway has not logged that it is ready", report, "started")
    return GatewayHealth(True, "gateway ready", report, "started")


async def wait_until_ready(
    fly: FlyClient,
    machine_id: str,
    *,
    deadline_s: float,
    poll_s: float,
    since: datetime | None = None,
) -> GatewayReport:
    """Wait for a ready gateway; `GatewayProblem` as soon as the logs show it cannot be."""
    cursor = LogCursor(machine_id, since=since)
    started = time.monotonic()
    report = summarize([])
    while True:
        try:
            await cursor.poll(fly)
        except FlyError as error:
            log.warning("reading logs of %s failed: %s", machine_id, error)
        report = summarize(cursor.lines)
        problem = diagnose(report, machine_id)
        if problem is not None:
            raise problem
        if report.ready:
            machine = await fly.get_machine(machine_id)
            if checks_passing(machine):
                return report
        if time.monotonic() - started >= deadline_s:
            raise GatewayProblem(
                GatewayFailure.NEVER_LISTENING,
                f"Machine {machine_id}: the gateway did not become ready within {deadline_s:g}s.",
                cleanup=(NEVER_LISTENING_FIX,),
            )
        await asyncio.sleep(poll_s)
