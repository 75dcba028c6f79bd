"""One Fly machine: its state machine, driven by asyncio timers, and its JSON.

Every lifecycle operation (launch, start, stop, restart, update, suspend,
destroy, crash) cancels the transition in flight and starts a new script that
walks the states with the configured delays, writes the console lines the real
image writes (Fly init, the OpenClaw gateway) and applies the restart policy
when the main process exits. Waiters block on an asyncio.Event that is
replaced at every state change (no polling). A new `instance_id` is minted on
every start, restart and update requested through the API.

In real-OpenClaw mode (`runtime.real` set) the main process is the real
gateway (`real_openclaw`): a boot lasts until that process exits, and stop,
restart, update and suspend signal it and wait for its exit (SIGKILL after
the stop timeout) while destroy and crash kill it at once.

The rules about which operation is allowed in which state live here and raise
`ApiError` with the status and message the real API uses. The machine never
touches HTTP; it runs nothing on the host itself (real processes belong to
`real_openclaw`).
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from . import ids
from .checks import MachineHealth, check_specs, check_statuses
from .errors import ApiError, bad_request, precondition
from .gateway_sim import (
    GatewayMode,
    LogLine,
    crash_lines,
    exit_lines,
    gateway_port,
    init_lines,
    plan_gateway_boot,
    signal_exit_lines,
    signal_lines,
    stop_lines,
    unstable_lines,
)
from .leases import Lease
from .openclaw_sim import OpenClawState
from .real_openclaw import MachineDisk, RealGateway, RealOpenClaw, exit_description
from .runtime import Runtime
from .validation import parse_duration
from .volumes import Volume

RUNNING_STATES = frozenset({"starting", "started", "restarting", "updating"})
SETTLED_STATES = frozenset({"started", "stopped", "suspended", "failed", "destroyed"})
DEFAULT_MAX_RETRIES = 10
EVENT_HISTORY = 50
DEFAULT_STOP_SIGNAL = "SIGINT"
DEFAULT_STOP_TIMEOUT_S = 10.0
EXEC_FAILED_EXIT_CODE = 127


class Machine:
    def __init__(
        self,
        *,
        runtime: Runtime,
        app: str,
        machine_id: str,
        name: str,
        region: str,
        config: dict[str, Any],
        volume: Volume | None,
        secrets: Callable[[], dict[str, str]] = dict,
    ) -> None:
        self.runtime = runtime
        self._secrets = secrets
        self._boot_secrets: dict[str, str] = {}
        self.app = app
        self.id = machine_id
        self.name = name
        self.region = region
        self.config = config
        self.volume = volume
        self.private_ip = ids.private_ip()
        now = runtime.clock.now()
        self.created_at = now
        self.updated_at = now
        self.state = "created"
        self.instance_id = ids.ulid(now)
        self.versions: list[str] = [self.instance_id]
        self.events: deque[dict[str, Any]] = deque(maxlen=EVENT_HISTORY)
        self.lease: Lease | None = None
        self.launching = False
        self.started_mono: float | None = None
        self.changed_mono = runtime.monotonic()
        self.listening_since_mono: float | None = None
        self.gateway_unstable = False
        self.gateway_pid = ids.pid()
        self.pairing_running = 0
        self.destroyed_mono: float | None = None
        self.auto_restarts = 0
        self.ephemeral_openclaw = OpenClawState()
        self.gateway: RealGateway | None = None
        """The running real gateway process (real-OpenClaw mode only)."""
        self.exec_tasks: set[asyncio.Task[Any]] = set()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._event("launch", "created", "user")

    # ----- small helpers -------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        """The main process's environment: config env, then the app secrets read at boot."""
        env = dict(self.config.get("env") or {})
        env.update(self._boot_secrets)
        return env

    @property
    def openclaw(self) -> OpenClawState:
        """OpenClaw's state: on the mounted volume, else on the (ephemeral) root fs."""
        return self.volume.openclaw if self.volume is not None else self.ephemeral_openclaw

    @property
    def mount_path(self) -> str | None:
        mounts = self.config.get("mounts") or []
        return str(mounts[0].get("path")) if mounts else None

    @property
    def mounted_volume_id(self) -> str | None:
        mounts = self.config.get("mounts") or []
        return str(mounts[0].get("volume")) if mounts else None

    @property
    def gateway_listening(self) -> bool:
        return self.listening_since_mono is not None

    @property
    def disk(self) -> MachineDisk:
        """What the machine has mounted, for real-OpenClaw mode's path mapping."""
        folder = self.volume.folder if self.volume is not None else None
        return MachineDisk(machine_id=self.id, mount_path=self.mount_path, volume_dir=folder)

    def _stop_config(self) -> tuple[str, float]:
        """The signal and timeout of the config's `stop_config` (Fly's defaults without one)."""
        stop_config = self.config.get("stop_config") or {}
        signal = str(stop_config.get("signal") or DEFAULT_STOP_SIGNAL)
        timeout = stop_config.get("timeout")
        try:
            timeout_s = (
                DEFAULT_STOP_TIMEOUT_S
                if timeout in (None, "")
                else parse_duration(timeout, "timeout")
            )
        except ApiError:
            timeout_s = DEFAULT_STOP_TIMEOUT_S
        return signal, timeout_s

    def _event(self, kind: str, status: str, source: str) -> None:
        now = self.runtime.clock.now()
        self.events.append(
            {
                "id": ids.ulid(now),
                "type": kind,
                "status": status,
                "source": source,
                "timestamp": int(now * 1000),
            }
        )

    def _set_state(self, state: str, kind: str, source: str = "flyd") -> None:
        self.state = state
        self.updated_at = self.runtime.clock.now()
        self.changed_mono = self.runtime.monotonic()
        self._event(kind, state, source)
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _log(self, lines: list[LogLine]) -> None:
        for level, message in lines:
            self.runtime.logs.append(
                app=self.app, instance=self.id, region=self.region, level=level, message=message
            )

    def _stamp(self) -> str:
        return self.runtime.clock.iso_millis()

    def _run(self, script: Coroutine[Any, Any, None]) -> None:
        """Replace the transition in flight with SCRIPT."""
        self._cancel_transition()
        self._task = self.runtime.spawn(script)

    def _cancel_transition(self) -> None:
        current = asyncio.current_task()
        if self._task is not None and self._task is not current and not self._task.done():
            self._task.cancel()
        self._task = None

    def _halt_processes(self) -> None:
        """The VM goes down: the gateway stops listening and every exec dies."""
        self.listening_since_mono = None
        for task in list(self.exec_tasks):
            task.cancel()
        self.exec_tasks.clear()

    def _new_version(self) -> None:
        self.instance_id = ids.ulid(self.runtime.clock.now())
        self.versions.append(self.instance_id)

    def _restart_policy(self) -> tuple[str, int]:
        restart = self.config.get("restart") or {}
        policy = restart.get("policy") or "on-failure"
        retries = restart.get("max_retries")
        return str(policy), int(retries) if isinstance(retries, int) else DEFAULT_MAX_RETRIES

    def _restarts_after_exit(self, exit_code: int) -> bool:
        policy, max_retries = self._restart_policy()
        if policy == "always":
            return True
        if policy == "on-failure" and exit_code != 0 and self.auto_restarts < max_retries:
            self.auto_restarts += 1
            return True
        return False

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)

    # ----- scripts (run as the machine's single transition task) ----------

    async def _boot(self, *, delay: float, starting_delay: float) -> None:
        await self._sleep(delay)
        if self.state != "starting":
            self.launching = False
            self._set_state("starting", "start")
        await self._sleep(starting_delay)
        await self._run_main_process()

    async def _run_main_process(self) -> None:
        """Boot the guest, then keep applying the restart policy while the gateway exits."""
        timings = self.runtime.timings
        while True:
            self.launching = False
            self._boot_secrets = self._secrets()
            self.started_mono = self.runtime.monotonic()
            self.listening_since_mono = None
            self.gateway_unstable = False
            self.gateway_pid = ids.pid()
            if self.volume is None:
                self.ephemeral_openclaw = OpenClawState()
            else:
                self.volume.attached_alloc_id = self.instance_id
            self._set_state("started", "start")
            self._log(init_lines(image=str(self.config.get("image")), mount_path=self.mount_path))
            if self.runtime.real is not None:
                exit_code = await self._run_real_gateway(self.runtime.real)
            else:
                await self._sleep(timings.gateway_boot)
                mode: GatewayMode = self.runtime.faults.gateway_mode(self.id)
                boot = plan_gateway_boot(
                    env=self.env,
                    mode=mode,
                    model=self.openclaw.model,
                    pid=self.gateway_pid,
                    stamp=self._stamp,
                )
                self._log(boot.lines)
                if boot.listens:
                    self.listening_since_mono = self.runtime.monotonic()
                    self._notify()
                    return
                if boot.exit_code is None:
                    return
                exit_code = boot.exit_code
                self._log(exit_lines(exit_code=exit_code, mount_path=self.mount_path))
            self._halt_processes()
            self._set_state("stopped", "exit")
            if not self._restarts_after_exit(exit_code):
                await self._after_stopped()
                return
            await self._sleep(timings.restart_backoff)
            self._set_state("starting", "restart")
            await self._sleep(timings.start)

    async def _run_real_gateway(self, real: RealOpenClaw) -> int:
        """Start the real gateway and supervise it until it exits; answers the exit code."""
        starting = self.runtime.spawn(
            real.start_gateway(
                self.disk,
                self.env,
                log=self._log,
                listening=self._real_gateway_listening,
                spawn=self.runtime.spawn,
            )
        )
        try:
            gateway = await asyncio.shield(starting)
        except asyncio.CancelledError:
            # The boot was called off while the process was being spawned: it must not live on.
            starting.add_done_callback(_kill_started_gateway)
            raise
        except OSError as error:
            self._log([("error", f"Error: failed to spawn command: node: {error}")])
            self._log(exit_lines(exit_code=EXEC_FAILED_EXIT_CODE, mount_path=self.mount_path))
            return EXEC_FAILED_EXIT_CODE
        self.gateway = gateway
        self.gateway_pid = gateway.pid
        returncode = await gateway.exited()
        if self.gateway is gateway:
            self.gateway = None
        return self._log_real_exit(returncode)

    def _real_gateway_listening(self, listening: bool) -> None:
        if listening and self.state == "started":
            self.listening_since_mono = self.runtime.monotonic()
        else:
            self.listening_since_mono = None
        self._notify()

    def _log_real_exit(self, returncode: int) -> int:
        exit_code, signal = exit_description(returncode)
        if signal is None:
            self._log(exit_lines(exit_code=exit_code, mount_path=self.mount_path))
        else:
            self._log(signal_exit_lines(signal=signal, mount_path=self.mount_path))
        return exit_code

    async def _stop_real_gateway(self, signal: str, timeout_s: float) -> None:
        """Real mode: SIGNAL the gateway, SIGKILL it after TIMEOUT_S, log how it ended."""
        gateway = self.gateway
        if gateway is None:
            return
        returncode = await gateway.terminate(signal, timeout_s)
        if self.gateway is gateway:
            self.gateway = None
            self._log_real_exit(returncode)

    def _kill_real_gateway(self) -> None:
        gateway, self.gateway = self.gateway, None
        if gateway is not None:
            gateway.kill()

    def _announce_stop(self, signal: str) -> None:
        """What Fly's init logs when it stops the main process (the exit follows in real mode)."""
        if self.runtime.real is None:
            self._log(stop_lines(signal=signal, pid=self.gateway_pid, mount_path=self.mount_path))
        elif self.gateway is not None:
            self._log(signal_lines(signal=signal, pid=self.gateway_pid))

    async def _after_stopped(self) -> None:
        if self.config.get("auto_destroy") is True:
            self._set_state("destroying", "destroy")
            await self._sleep(self.runtime.timings.destroy)
            self._finish_destroy()

    async def _settle(
        self,
        transient_delay: float,
        final_state: str,
        kind: str,
        stop: tuple[str, float] | None = None,
    ) -> None:
        if stop is not None:
            await self._stop_real_gateway(*stop)
        await self._sleep(transient_delay)
        self._set_state(final_state, kind)
        if final_state == "stopped":
            await self._after_stopped()

    async def _resume_after(self, delay: float, stop: tuple[str, float] | None = None) -> None:
        if stop is not None:
            await self._stop_real_gateway(*stop)
        await self._sleep(delay)
        await self._run_main_process()

    async def _restart_later(self, backoff: float) -> None:
        await self._sleep(backoff)
        self._set_state("starting", "restart")
        await self._sleep(self.runtime.timings.start)
        await self._run_main_process()

    async def _destroy_later(self) -> None:
        await self._sleep(self.runtime.timings.destroy)
        self._finish_destroy()

    def _finish_destroy(self) -> None:
        self.destroyed_mono = self.runtime.monotonic()
        if self.runtime.real is not None:
            self.runtime.real.forget_machine(self.id)
        if self.volume is not None and self.volume.attached_machine_id == self.id:
            self.volume.attached_machine_id = None
            self.volume.attached_alloc_id = None
        self.lease = None
        self._set_state("destroyed", "destroy")

    # ----- operations requested through the API ---------------------------

    def launch(self, *, skip_launch: bool) -> None:
        if skip_launch:
            return
        self.launching = True
        timings = self.runtime.timings
        self._run(self._boot(delay=timings.launch, starting_delay=timings.start))

    def start(self) -> str:
        previous = self.state
        if previous == "created" and self.launching:
            raise precondition("unable to start machine from current state: 'created'")
        if previous in RUNNING_STATES:
            raise precondition("machine still active, refusing to start")
        if previous not in ("created", "stopped", "failed", "suspended"):
            raise precondition(f"unable to start machine from current state: '{previous}'")
        self._new_version()
        self.auto_restarts = 0
        self._set_state("starting", "start", source="user")
        self._run(self._boot(delay=0, starting_delay=self.runtime.timings.start))
        return previous

    def stop(self, *, signal: str, timeout_s: float | None = None) -> None:
        state = self.state
        if state in ("destroying", "destroyed"):
            raise precondition(f"unable to stop machine from current state: '{state}'")
        if state in ("stopped", "failed"):
            # Also calls off a restart flyd scheduled after the main process exited.
            self._cancel_transition()
            return
        if state == "stopping" or (state == "created" and not self.launching):
            return
        self._cancel_transition()
        self._halt_processes()
        if state in ("suspended", "created", "suspending"):
            self._kill_real_gateway()
            self.launching = False
            self._set_state("stopped", "stop", source="user")
            return
        self._announce_stop(signal)
        self._set_state("stopping", "stop", source="user")
        timeout = self._stop_config()[1] if timeout_s is None else timeout_s
        self._run(self._settle(self.runtime.timings.stop, "stopped", "exit", (signal, timeout)))

    def restart(self, *, signal: str, timeout_s: float | None = None) -> None:
        if self.state != "started":
            raise precondition(f"unable to restart machine from current state: '{self.state}'")
        self._cancel_transition()
        self._halt_processes()
        self._announce_stop(signal)
        self._new_version()
        self.auto_restarts = 0
        self._set_state("restarting", "restart", source="user")
        timeout = self._stop_config()[1] if timeout_s is None else timeout_s
        self._run(self._resume_after(self.runtime.timings.restart, (signal, timeout)))

    def suspend(self) -> None:
        if self.state != "started":
            raise precondition(f"unable to suspend machine from current state: '{self.state}'")
        self._cancel_transition()
        self._halt_processes()
        self._set_state("suspending", "suspend", source="user")
        self._run(
            self._settle(self.runtime.timings.suspend, "suspended", "suspend", self._stop_config())
        )

    def update(self, config: dict[str, Any], *, skip_launch: bool) -> None:
        if self.state in ("destroying", "destroyed"):
            raise precondition(f"unable to update machine from current state: '{self.state}'")
        was_running = self.state in RUNNING_STATES or self.launching
        self._cancel_transition()
        stop = self._stop_config()
        if was_running:
            self._announce_stop(stop[0])
        self._halt_processes()
        self.config = config
        self._new_version()
        self.auto_restarts = 0
        self.launching = False
        if was_running or not skip_launch:
            self._set_state("updating", "update", source="user")
            self._run(self._resume_after(self.runtime.timings.update, stop))
            return
        self.updated_at = self.runtime.clock.now()
        self._event("update", self.state, "user")
        self._notify()

    def destroy(self, *, force: bool) -> None:
        if self.state in ("destroying", "destroyed"):
            return
        if not force and self.state not in ("stopped", "suspended", "failed", "created"):
            raise precondition(
                "unable to destroy machine, not currently stopped, suspended, failed or created "
                f"(current state: '{self.state}'); stop it first or pass force=true"
            )
        self._cancel_transition()
        self._halt_processes()
        self._kill_real_gateway()
        self.launching = False
        self._set_state("destroying", "destroy", source="user")
        self._run(self._destroy_later())

    def crash(self, *, to: str, auto_restart: bool | None) -> None:
        if self.state not in RUNNING_STATES:
            raise ApiError(409, f"machine {self.id} is not running (state '{self.state}')")
        self._cancel_transition()
        self._halt_processes()
        self._kill_real_gateway()
        self._log(crash_lines(to_failed=to == "failed", mount_path=self.mount_path))
        self._set_state(to, "exit")
        restart = (
            auto_restart
            if auto_restart is not None
            else self._restarts_after_exit(0 if to == "stopped" else 139)
        )
        if restart:
            self._run(self._restart_later(self.runtime.timings.restart_backoff))

    def mark_gateway_unstable(self) -> None:
        if not self.gateway_unstable:
            self.gateway_unstable = True
            self._log(unstable_lines(self._stamp))

    # ----- leases ---------------------------------------------------------

    def active_lease(self) -> Lease | None:
        if self.lease is not None and not self.lease.active(self.runtime.clock.now()):
            self.lease = None
        return self.lease

    def require_lease_holder(self, nonce: str | None) -> None:
        """A mutating call on a leased machine needs the lease's nonce, else 409."""
        lease = self.active_lease()
        if lease is None or nonce == lease.nonce:
            return
        raise ApiError(
            409,
            f"machine {self.id} is leased by {lease.owner} until "
            f"{self.runtime.clock.iso(lease.expires_at)}; send its nonce in the "
            "fly-machine-lease-nonce header",
        )

    # ----- waiting --------------------------------------------------------

    def _wait_satisfied(self, states: list[str], version: str | None) -> bool:
        current = self.state
        superseded = version is not None and version != self.instance_id
        for wanted in states:
            if superseded:
                # The awaited version no longer runs: it is as stopped as it gets.
                if wanted in ("stopped", "settled") or (wanted == current == "destroyed"):
                    return True
                continue
            if wanted == "settled":
                if current in SETTLED_STATES or (current == "created" and not self.launching):
                    return True
            elif wanted == current:
                return True
        return False

    async def wait(
        self, states: list[str], version: str | None, timeout_s: float
    ) -> dict[str, Any]:
        if version is not None and version not in self.versions:
            raise bad_request(f"invalid version {version!r}: not a version of machine {self.id}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not self._wait_satisfied(states, version):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise ApiError(
                    408,
                    f"deadline_exceeded: machine failed to reach desired state, {states[0]}, "
                    f"currently {self.state}",
                )
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                continue
        event_id = self.events[-1]["id"] if self.events else None
        return {"ok": True, "state": self.state, "version": self.instance_id, "event_id": event_id}

    # ----- JSON -----------------------------------------------------------

    def _mono_to_iso(self, mono: float) -> str:
        now_mono = self.runtime.monotonic()
        return self.runtime.clock.iso_millis(self.runtime.clock.now() - (now_mono - mono))

    def checks(self) -> list[dict[str, Any]]:
        health = MachineHealth(
            running=self.state == "started",
            started_mono=self.started_mono,
            listening_since_mono=self.listening_since_mono,
            gateway_port=gateway_port(self.env),
            private_ip=self.private_ip,
            changed_iso=self._mono_to_iso(self.changed_mono),
        )
        return check_statuses(
            self.config,
            health,
            time_scale=self.runtime.timings.time_scale,
            now_mono=self.runtime.monotonic(),
            mono_to_iso=self._mono_to_iso,
        )

    def image_ref(self) -> dict[str, Any]:
        image = str(self.config.get("image", ""))
        digest_part = ""
        if "@" in image:
            image, digest_part = image.split("@", 1)
        first, _, rest = image.partition("/")
        if rest and ("." in first or ":" in first or first == "localhost"):
            registry, path = first, rest
        else:
            registry, path = "docker-hub-mirror.fly.io", image
            if "/" not in path:
                path = f"library/{path}"
        repository, _, tag = path.partition(":")
        digest = digest_part or "sha256:" + hashlib.sha256(image.encode()).hexdigest()
        return {
            "registry": registry,
            "repository": repository,
            "tag": tag or "latest",
            "digest": digest,
            "labels": {},
        }

    def as_json(self, *, summary: bool = False, nonce: str | None = None) -> dict[str, Any]:
        clock = self.runtime.clock
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "region": self.region,
            "instance_id": self.instance_id,
            "private_ip": self.private_ip,
            "created_at": clock.iso(self.created_at),
            "updated_at": clock.iso(self.updated_at),
            "image_ref": self.image_ref(),
        }
        if summary:
            return body
        body["config"] = copy.deepcopy(self.config)
        body["events"] = list(reversed(self.events))
        body["host_status"] = "ok"
        if check_specs(self.config):
            body["checks"] = self.checks()
        if nonce is not None:
            body["nonce"] = nonce
        return body

    def emulator_json(self) -> dict[str, Any]:
        lease = self.active_lease()
        return {
            "gateway_listening": self.gateway_listening,
            "gateway_mode": self.runtime.faults.gateway_mode(self.id),
            "gateway_unstable": self.gateway_unstable,
            "launching": self.launching,
            "lease": lease.data() if lease else None,
            "openclaw": self.openclaw.as_json(self.runtime.clock.iso_millis),
            "real_gateway": (
                {"pid": self.gateway.pid, "port": self.gateway.port}
                if self.gateway is not None
                else None
            ),
        }

    def gone(self, retention_s: float) -> bool:
        """True once a destroyed machine no longer answers GET (404 instead)."""
        return (
            self.destroyed_mono is not None
            and self.runtime.monotonic() - self.destroyed_mono >= retention_s
        )


def _kill_started_gateway(starting: asyncio.Task[RealGateway]) -> None:
    if not starting.cancelled() and starting.exception() is None:
        starting.result().kill()
