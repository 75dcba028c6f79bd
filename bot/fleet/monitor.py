"""The fleet monitor: one list call per Fly app per sweep, state changes recorded, alerts queued.

It reads, records and alerts; it never stops or starts a machine. Lifecycle stays explicit,
as in the seed. Conditions alerted: a machine that stopped or failed while its agent should
run, a machine that vanished, a health check still critical after the startup grace period,
and a machine wedged in a transient state (over 5 minutes; 10 in `updating`). Each condition
is alerted once when it appears, not on every sweep. Machines are read with
`list_machine_states` (five fields a machine, streamed), so a sweep of 10,000 machines holds
a few MiB of machine data rather than the whole answer and full models.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from dataclasses import dataclass, field

from bot.fleet.context import FleetContext
from bot.fleet.errors import FleetError
from bot.fleet.resolve import AgentOverrides
from flyclient import FlyClient, FlyError, ForbiddenError, MachineStatus, UnauthorizedError
from storage.errors import StateTransitionError
from storage.models import Actor, AgentGlance, AgentStatus, AlertKind, AlertSeverity

log = logging.getLogger("bot.fleet.monitor")

# A machine seen too long in one of these states is wedged: the alert for each state.
_WEDGED_ALERTS = {
    "creating": AlertKind.MACHINE_WEDGED_CREATING,
    "starting": AlertKind.MACHINE_WEDGED_STARTING,
    "stopping": AlertKind.MACHINE_WEDGED_STOPPING,
    "restarting": AlertKind.MACHINE_WEDGED_RESTARTING,
    "suspending": AlertKind.MACHINE_WEDGED_SUSPENDING,
    "destroying": AlertKind.MACHINE_WEDGED_DESTROYING,
    "updating": AlertKind.MACHINE_WEDGED_UPDATING,
    "replacing": AlertKind.MACHINE_WEDGED_REPLACING,
    "launch_failed": AlertKind.MACHINE_WEDGED_LAUNCH_FAILED,
}
TRANSIENT_STATES = frozenset(_WEDGED_ALERTS)
# A machine found in one of these states although its agent should run: the alert for each.
_UNEXPECTED_ALERTS = {
    "stopped": AlertKind.MACHINE_UNEXPECTED_STOPPED,
    "failed": AlertKind.MACHINE_UNEXPECTED_FAILED,
    "suspended": AlertKind.MACHINE_UNEXPECTED_SUSPENDED,
}
WEDGED_AFTER_S = 300.0
WEDGED_UPDATING_AFTER_S = 600.0
# Statuses in which the agent is expected to be serving.
EXPECT_RUNNING = frozenset({AgentStatus.RUNNING})


@dataclass
class SweepReport:
    apps: int = 0
    api_calls: int = 0
    machines_seen: int = 0
    agents_checked: int = 0
    alerts: int = 0
    status_changes: int = 0
    failed_apps: list[str] = field(default_factory=list)


@dataclass
class _Seen:
    state: str
    since: float
    alerted: set[str] = field(default_factory=set)


class Monitor:
    def __init__(self, ctx: FleetContext) -> None:
        self.ctx = ctx
        self._seen: dict[str, _Seen] = {}
        self._task: asyncio.Task[None] | None = None

    # --- one sweep ----------------------------------------------------------------------------

    async def sweep(self) -> SweepReport:
        report = SweepReport()
        groups = await self._group_by_app()
        report.apps = len(groups)
        for (app, _digest), (fly, tenants, agents) in groups.items():
            try:
                machines = await fly.list_machine_states()
                report.api_calls += 1
            except (UnauthorizedError, ForbiddenError) as error:
                report.api_calls += 1
                report.failed_apps.append(app)
                report.alerts += 1
                await self.ctx.alert(
                    AlertKind.FLY_TOKEN_REFUSED,
                    f"Fly refused the API token of tenant(s) {', '.join(sorted(tenants))} for app "
                    f"{app} ({error.status_code}): {error.message}. Their agents are not "
                    "monitored until the token is fixed.",
                    severity=AlertSeverity.CRITICAL,
                    dedupe_key=f"fly_token_refused:{app}",
                    payload={"app": app, "tenants": sorted(tenants)},
                )
                continue
            except FlyError as error:
                report.api_calls += 1
                report.failed_apps.append(app)
                log.warning("listing machines of %s failed: %s", app, error)
                continue
            report.machines_seen += len(machines)
            by_id = {machine.id: machine for machine in machines}
            for agent in agents:
                report.agents_checked += 1
                await self._check(agent, by_id.get(agent.machine_id or ""), report)
        return report

    async def _group_by_app(
        self,
    ) -> dict[tuple[str, bytes], tuple[FlyClient, set[str], list[AgentGlance]]]:
        groups: dict[tuple[str, bytes], tuple[FlyClient, set[str], list[AgentGlance]]] = {}
        configs: dict[tuple[str, str | None], tuple[str, str] | None] = {}
        for agent in await self.ctx.store.agents.live_glances():
            cache_key = (agent.tenant_id, agent.fly_app)
            if cache_key not in configs:
                try:
                    config = await self.ctx.effective_config(
                        agent.tenant_id,
                        overrides=AgentOverrides(fly_app=agent.fly_app),
                        agent_secrets={},
                    )
                    configs[cache_key] = (
                        (config.fly_app, config.fly_token.get_secret_value())
                        if config.fly_app and config.fly_token
                        else None
                    )
                except FleetError:
                    configs[cache_key] = None
            resolved = configs[cache_key]
            if resolved is None:
                continue
            app, token = resolved
            fly = self.ctx.pool.client(app, token)
            key = (app, _digest(token))
            if key not in groups:
                groups[key] = (fly, set(), [])
            groups[key][1].add(agent.tenant_id)
            groups[key][2].append(agent)
        return groups

    async def _check(
        self, agent: AgentGlance, machine: MachineStatus | None, report: SweepReport
    ) -> None:
        assert agent.machine_id is not None
        now = time.monotonic()
        if machine is None:
            if agent.status in EXPECT_RUNNING | {AgentStatus.STOPPED}:
                await self._raise(
                    agent,
                    AlertKind.MACHINE_GONE,
                    report,
                    AlertSeverity.CRITICAL,
                    f"Machine {agent.machine_id} of agent {agent.id} is gone from Fly.",
                )
                await self._set_status(agent, AgentStatus.ERROR, "machine missing on Fly", report)
            return
        state = machine.state or "unknown"
        seen = self._seen.get(machine.id)
        if seen is None or seen.state != state:
            seen = _Seen(state=state, since=now)
            self._seen[machine.id] = seen

        if state in _UNEXPECTED_ALERTS and agent.status in EXPECT_RUNNING:
            await self._raise(
                agent,
                _UNEXPECTED_ALERTS[state],
                report,
                AlertSeverity.CRITICAL,
                f"Machine {machine.id} of agent {agent.id} is {state} although nobody stopped "
                f"it. It was not restarted automatically: /wake {agent.id} or /restart {agent.id}.",
            )
            await self._set_status(
                agent, AgentStatus.ERROR, f"machine {state} unexpectedly", report
            )
        elif (
            state == "started"
            and agent.status in (AgentStatus.STOPPED, AgentStatus.ERROR)
            # A machine that runs is not an agent that runs: one whose provisioning failed
            # stays failed until it is finished or repaired.
            and agent.provisioned
        ):
            await self._set_status(agent, AgentStatus.RUNNING, "machine seen started", report)

        if state in TRANSIENT_STATES:
            limit = WEDGED_UPDATING_AFTER_S if state == "updating" else WEDGED_AFTER_S
            if now - seen.since > limit and "wedged" not in seen.alerted:
                seen.alerted.add("wedged")
                await self._raise(
                    agent,
                    _WEDGED_ALERTS[state],
                    report,
                    AlertSeverity.CRITICAL,
                    f"Machine {machine.id} of agent {agent.id} has been {state} for over "
                    f"{int(limit // 60)} minutes: it is wedged.",
                )
        if state == "started":
            critical = [c.name or "check" for c in machine.checks if c.status == "critical"]
            grace = self.ctx.defaults.startup_timeout_s
            if critical and now - seen.since > grace and "critical" not in seen.alerted:
                seen.alerted.add("critical")
                await self._raise(
                    agent,
                    AlertKind.MACHINE_CHECK_CRITICAL,
                    report,
                    AlertSeverity.WARNING,
                    f"Machine {machine.id} of agent {agent.id}: check {', '.join(critical)} is "
                    "still critical after the startup grace period; the gateway may not be "
                    "serving.",
                )
            elif not critical:
                seen.alerted.discard("critical")

    async def _raise(
        self,
        agent: AgentGlance,
        kind: AlertKind,
        report: SweepReport,
        severity: AlertSeverity,
        text: str,
    ) -> None:
        report.alerts += 1
        # The condition (`gone`, `wedged_starting`…) names the alert in its payload and dedupe key.
        condition = kind.removeprefix("machine_")
        await self.ctx.alert(
            kind,
            text,
            severity=severity,
            dedupe_key=f"monitor:{condition}:{agent.machine_id}",
            payload={"agent_id": agent.id, "machine_id": agent.machine_id, "condition": condition},
        )

    async def _set_status(
        self, agent: AgentGlance, status: AgentStatus, reason: str, report: SweepReport
    ) -> None:
        if agent.status is status:
            return
        with contextlib.suppress(StateTransitionError):
            await self.ctx.store.agents.set_status(
                agent.id,
                status,
                actor=str(Actor.system("monitor")),
                reason=reason,
                expected=[agent.status],
            )
            report.status_changes += 1

    # --- background loop ----------------------------------------------------------------------

    def start(self, interval_s: float) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(interval_s), name="fleet-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self, interval_s: float) -> None:
        while True:
            started = time.monotonic()
            try:
                report = await self.sweep()
                log.info(
                    "monitor sweep: %d apps, %d calls, %d machines, %d alerts",
                    report.apps,
                    report.api_calls,
                    report.machines_seen,
                    report.alerts,
                )
            except Exception:
                log.exception("monitor sweep failed")
            await asyncio.sleep(max(0.0, interval_s - (time.monotonic() - started)))


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
