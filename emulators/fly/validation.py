"""The request rules of the Machines API methods the emulator implements, in code.

Each `validate_*` function takes a decoded JSON body and returns a typed,
normalised request or raises `ApiError` with the status the real API uses:
400 for a body that cannot be decoded into Fly's types (wrong JSON types), 422
for a well-typed body that breaks a rule (memory not a multiple of 256, unknown
restart policy, bad volume name…). Rules that need state (a volume exists, is
free, is in the region) live in `state.py`. This module never reads the
OpenAPI file and never touches state.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from .errors import bad_request, unprocessable

SIGNALS = ("SIGHUP", "SIGINT", "SIGQUIT", "SIGKILL", "SIGUSR1", "SIGUSR2", "SIGTERM")
CPU_KINDS = ("shared", "performance")
RESTART_POLICIES = ("no", "always", "on-failure")
CHECK_TYPES = ("tcp", "http")
SERVICE_PROTOCOLS = ("tcp", "udp")
AUTOSTOP_VALUES = ("off", "stop", "suspend")
WAIT_STATES = ("started", "stopped", "suspended", "destroyed", "failed", "settled")
MAX_TIMEOUT_S = 60

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_REGION = re.compile(r"^[a-z]{3}$")
_VOLUME_NAME = re.compile(r"^[a-z0-9_]+$")
_APP_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
MAX_VOLUME_NAME = 30
MAX_VOLUME_GB = 500


def parse_duration(value: Any, field: str) -> float:
    """Seconds from a Go duration string (`"240s"`, `"1m30s"`, `"500ms"`) or integer nanoseconds."""
    if isinstance(value, bool):
        raise bad_request(f'invalid {field}: expected a duration string such as "15s"')
    if isinstance(value, int):
        return value / 1e9
    if not isinstance(value, str):
        raise bad_request(f'invalid {field}: expected a duration string such as "15s"')
    text = value.strip()
    if text == "0":
        return 0.0
    position = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if position != len(text) or not text:
        raise unprocessable(f'invalid {field}: {value!r} is not a duration such as "15s"')
    return total


def parse_timeout_seconds(value: Any, field: str) -> float:
    """A timeout given as a Go duration string or as a number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and re.fullmatch(r"\d+(?:\.\d+)?", value.strip()):
        return float(value.strip())
    return parse_duration(value, field)


def parse_wait_timeout(raw: str | None) -> int:
    """The wait endpoint's `timeout`: integer seconds, default 60, clamped to 1..60."""
    if raw is None or raw == "":
        return MAX_TIMEOUT_S
    try:
        seconds = int(raw)
    except ValueError:
        raise bad_request(
            f"invalid timeout {raw!r}: must be an integer number of seconds"
        ) from None
    return max(1, min(MAX_TIMEOUT_S, seconds))


def parse_bool_query(raw: str | None) -> bool:
    return raw is not None and raw.strip().lower() in ("1", "true", "t", "yes")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _string_map(value: Any, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_request(f"invalid {field}: expected an object of strings")
    for key, item in value.items():
        if not isinstance(item, str):
            raise bad_request(
                f"json: cannot unmarshal {type(item).__name__} into Go struct field "
                f"{field}[{key!r}] of type string"
            )
    return dict(value)


def _check_guest(guest: Any) -> dict[str, Any]:
    if guest is None:
        return {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256}
    if not isinstance(guest, dict):
        raise bad_request("invalid config.guest: expected an object")
    # A null member means "unset" to the Go API: it gets the default like a missing one.
    result = {key: value for key, value in guest.items() if value is not None}
    cpu_kind = result.setdefault("cpu_kind", "shared")
    if cpu_kind not in CPU_KINDS:
        raise unprocessable(
            f"invalid config.guest.cpu_kind {cpu_kind!r}: must be one of {', '.join(CPU_KINDS)}"
        )
    cpus = result.setdefault("cpus", 1)
    if not _is_int(cpus):
        raise bad_request("invalid config.guest.cpus: expected an integer")
    if cpus < 1:
        raise unprocessable("invalid config.guest.cpus: must be at least 1")
    memory = result.setdefault("memory_mb", 256)
    if not _is_int(memory):
        raise bad_request("invalid config.guest.memory_mb: expected an integer")
    if memory <= 0 or memory % 256 != 0:
        raise unprocessable(
            f"invalid config.guest.memory_mb {memory}: memory must be a multiple of 256 MB"
        )
    return result


def _check_restart(restart: Any) -> None:
    if restart is None:
        return
    if not isinstance(restart, dict):
        raise bad_request("invalid config.restart: expected an object")
    policy = restart.get("policy")
    if policy not in (None, "", *RESTART_POLICIES):
        raise unprocessable(
            f"invalid config.restart.policy {policy!r}: must be one of "
            f"{', '.join(RESTART_POLICIES)}"
        )
    retries = restart.get("max_retries")
    if retries is not None and (not _is_int(retries) or retries < 0):
        raise unprocessable("invalid config.restart.max_retries: must be an integer >= 0")


def _check_mounts(mounts: Any) -> None:
    if mounts is None:
        return
    if not isinstance(mounts, list):
        raise bad_request("invalid config.mounts: expected an array")
    if len(mounts) > 1:
        raise unprocessable("invalid config.mounts: a machine can mount only one volume")
    for mount in mounts:
        if not isinstance(mount, dict):
            raise bad_request("invalid config.mounts[0]: expected an object")
        volume = mount.get("volume")
        if not isinstance(volume, str) or not volume:
            raise unprocessable("invalid config.mounts[0].volume: a volume id is required")
        path = mount.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise unprocessable("invalid config.mounts[0].path: must be an absolute path")


def _check_port(value: Any, field: str, *, required: bool) -> None:
    if value is None:
        if required:
            raise unprocessable(f"invalid {field}: a port is required")
        return
    if not _is_int(value):
        raise bad_request(f"invalid {field}: expected an integer")
    if not 1 <= value <= 65535:
        raise unprocessable(f"invalid {field}: {value} is not a port number")


def _check_one_check(check: Any, field: str, *, port_required: bool) -> None:
    if not isinstance(check, dict):
        raise bad_request(f"invalid {field}: expected an object")
    kind = check.get("type")
    if kind not in CHECK_TYPES:
        raise unprocessable(f"invalid {field}.type {kind!r}: must be tcp or http")
    _check_port(check.get("port"), f"{field}.port", required=port_required)
    for name in ("interval", "timeout", "grace_period"):
        if check.get(name) is not None:
            parse_duration(check[name], f"{field}.{name}")
    path = check.get("path")
    if path is not None and (not isinstance(path, str) or not path.startswith("/")):
        raise unprocessable(f"invalid {field}.path: must start with /")
    method = check.get("method")
    if method is not None and not isinstance(method, str):
        raise bad_request(f"invalid {field}.method: expected a string")


def _check_checks(checks: Any) -> None:
    if checks is None:
        return
    if not isinstance(checks, dict):
        # Fly's top-level checks are a map from name to check, not a list.
        raise bad_request(
            "json: cannot unmarshal array into Go struct field MachineConfig.checks of type "
            "map[string]api.MachineCheck"
        )
    for name, check in checks.items():
        _check_one_check(check, f"config.checks[{name!r}]", port_required=True)


def _check_services(services: Any) -> None:
    if services is None:
        return
    if not isinstance(services, list):
        raise bad_request("invalid config.services: expected an array")
    for index, service in enumerate(services):
        _check_service(service, f"config.services[{index}]")


def _check_service(service: Any, field: str) -> None:
    if not isinstance(service, dict):
        raise bad_request(f"invalid {field}: expected an object")
    protocol = service.get("protocol", "tcp")
    if protocol not in SERVICE_PROTOCOLS:
        raise unprocessable(f"invalid {field}.protocol {protocol!r}: must be tcp or udp")
    _check_port(service.get("internal_port"), f"{field}.internal_port", required=True)
    _check_service_ports(service.get("ports", []), field)
    autostop = service.get("autostop")
    if (
        autostop is not None
        and not isinstance(autostop, bool)
        and (autostop not in AUTOSTOP_VALUES)
    ):
        raise unprocessable(f"invalid {field}.autostop {autostop!r}")
    autostart = service.get("autostart")
    if autostart is not None and not isinstance(autostart, bool):
        raise bad_request(f"invalid {field}.autostart: expected a boolean")
    checks = service.get("checks", [])
    if not isinstance(checks, list):
        raise bad_request(f"invalid {field}.checks: expected an array")
    for check_index, check in enumerate(checks):
        _check_one_check(check, f"{field}.checks[{check_index}]", port_required=False)


def _check_service_ports(ports: Any, field: str) -> None:
    if not isinstance(ports, list):
        raise bad_request(f"invalid {field}.ports: expected an array")
    for port_index, port in enumerate(ports):
        if not isinstance(port, dict):
            raise bad_request(f"invalid {field}.ports[{port_index}]: expected an object")
        _check_port(port.get("port"), f"{field}.ports[{port_index}].port", required=False)
        handlers = port.get("handlers", [])
        if not isinstance(handlers, list) or not all(isinstance(h, str) for h in handlers):
            raise bad_request(f"invalid {field}.ports[{port_index}].handlers")


def _check_stop_config(stop_config: Any) -> None:
    if stop_config is None:
        return
    if not isinstance(stop_config, dict):
        raise bad_request("invalid config.stop_config: expected an object")
    signal = stop_config.get("signal")
    if signal is not None and signal not in SIGNALS:
        raise unprocessable(f"invalid config.stop_config.signal {signal!r}")
    if stop_config.get("timeout") is not None:
        parse_timeout_seconds(stop_config["timeout"], "config.stop_config.timeout")


def validate_machine_config(config: Any) -> dict[str, Any]:
    """The config as Fly would store it (guest defaults filled in), or ApiError."""
    if not isinstance(config, dict):
        raise bad_request("invalid config: expected an object")
    result = copy.deepcopy(config)
    image = result.get("image")
    if not isinstance(image, str) or not image.strip():
        raise unprocessable("invalid_argument: config.image is required")
    for field in ("env", "metadata"):
        if field in result and result[field] is not None:
            result[field] = _string_map(result[field], f"config.{field}")
    result["guest"] = _check_guest(result.get("guest"))
    _check_restart(result.get("restart"))
    _check_mounts(result.get("mounts"))
    _check_checks(result.get("checks"))
    _check_services(result.get("services"))
    _check_stop_config(result.get("stop_config"))
    auto_destroy = result.get("auto_destroy")
    if auto_destroy is not None and not isinstance(auto_destroy, bool):
        raise bad_request("invalid config.auto_destroy: expected a boolean")
    return result


def _optional_str(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise bad_request(f"invalid {field}: expected a string")
    return value


def _optional_bool(body: dict[str, Any], field: str) -> bool:
    value = body.get(field)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad_request(f"invalid {field}: expected a boolean")
    return value


def _optional_positive_int(body: dict[str, Any], field: str) -> int | None:
    value = body.get(field)
    if value is None or value == 0:
        return None
    if not _is_int(value) or value < 0:
        raise bad_request(f"invalid {field}: expected a positive integer")
    return int(value)


def validate_region(region: str) -> str:
    if not _REGION.fullmatch(region):
        raise unprocessable(f"invalid region {region!r}: regions are three lower-case letters")
    return region


@dataclass(frozen=True)
class CreateMachineRequest:
    config: dict[str, Any]
    name: str | None
    region: str | None
    skip_launch: bool
    lease_ttl: int | None


@dataclass(frozen=True)
class UpdateMachineRequest:
    config: dict[str, Any]
    current_version: str | None
    name: str | None
    region: str | None
    skip_launch: bool


def _require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("invalid request body: expected a JSON object")
    return body


def validate_create_machine(body: Any) -> CreateMachineRequest:
    request = _require_object(body)
    if request.get("config") is None:
        raise bad_request("invalid request: config is required")
    config = validate_machine_config(request["config"])
    region = _optional_str(request, "region")
    return CreateMachineRequest(
        config=config,
        name=_optional_str(request, "name"),
        region=validate_region(region) if region else None,
        skip_launch=_optional_bool(request, "skip_launch"),
        lease_ttl=_optional_positive_int(request, "lease_ttl"),
    )


def validate_update_machine(body: Any) -> UpdateMachineRequest:
    request = _require_object(body)
    if request.get("config") is None:
        raise bad_request("invalid request: config is required (send the whole config)")
    return UpdateMachineRequest(
        config=validate_machine_config(request["config"]),
        current_version=_optional_str(request, "current_version"),
        name=_optional_str(request, "name"),
        region=_optional_str(request, "region"),
        skip_launch=_optional_bool(request, "skip_launch"),
    )


@dataclass(frozen=True)
class StopRequest:
    signal: str
    timeout_s: float


def validate_stop(body: Any) -> StopRequest:
    if body is None:
        return StopRequest(signal="SIGINT", timeout_s=10.0)
    request = _require_object(body)
    signal = request.get("signal") or "SIGINT"
    if signal not in SIGNALS:
        raise bad_request(f"invalid signal {signal!r}: must be one of {', '.join(SIGNALS)}")
    timeout = request.get("timeout")
    timeout_s = 10.0 if timeout in (None, "") else parse_timeout_seconds(timeout, "timeout")
    return StopRequest(signal=str(signal), timeout_s=timeout_s)


def validate_signal_query(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    if raw not in SIGNALS:
        raise bad_request(f"invalid signal {raw!r}: must be one of {', '.join(SIGNALS)}")
    return raw


@dataclass(frozen=True)
class CreateVolumeRequest:
    name: str
    region: str
    size_gb: int | None
    encrypted: bool
    snapshot_id: str | None
    source_volume_id: str | None
    snapshot_retention: int
    auto_backup_enabled: bool
    require_unique_zone: bool


def _volume_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise bad_request("invalid name: a volume name is required")
    if len(name) > MAX_VOLUME_NAME or not _VOLUME_NAME.fullmatch(name):
        raise bad_request(
            f"invalid volume name {name!r}: at most {MAX_VOLUME_NAME} characters, "
            "only lower-case letters, digits and underscores"
        )
    return name


def _volume_region(region: Any) -> str:
    if not isinstance(region, str) or not region:
        raise bad_request("invalid region: a region is required")
    if not _REGION.fullmatch(region):
        raise bad_request(f"invalid region {region!r}")
    return region


def _check_volume_size(size: Any, *, copied: bool) -> None:
    """A size is required unless the volume is a copy (of a snapshot or another volume)."""
    if size is None:
        if not copied:
            raise bad_request("invalid size_gb: a size is required")
    elif not _is_int(size):
        raise bad_request("invalid size_gb: expected an integer")
    elif not 1 <= size <= MAX_VOLUME_GB:
        raise bad_request(f"invalid size_gb {size}: must be between 1 and {MAX_VOLUME_GB}")


def validate_create_volume(body: Any) -> CreateVolumeRequest:
    request = _require_object(body)
    name = _volume_name(request.get("name"))
    region = _volume_region(request.get("region"))
    snapshot = _optional_str(request, "snapshot_id")
    source = _optional_str(request, "source_volume_id")
    size = request.get("size_gb")
    _check_volume_size(size, copied=snapshot is not None or source is not None)
    encrypted = request.get("encrypted", True)
    if not isinstance(encrypted, bool):
        raise bad_request("invalid encrypted: expected a boolean")
    retention = request.get("snapshot_retention", 5)
    if retention is None:
        retention = 5
    if not _is_int(retention) or not 1 <= retention <= 60:
        raise bad_request("invalid snapshot_retention: must be an integer between 1 and 60")
    auto_backup = request.get("auto_backup_enabled", True)
    if not isinstance(auto_backup, bool):
        raise bad_request("invalid auto_backup_enabled: expected a boolean")
    unique_zone = request.get("require_unique_zone", True)
    if not isinstance(unique_zone, bool):
        raise bad_request("invalid require_unique_zone: expected a boolean")
    return CreateVolumeRequest(
        name=name,
        region=region,
        size_gb=int(size) if size is not None else None,
        encrypted=encrypted,
        snapshot_id=snapshot,
        source_volume_id=source,
        snapshot_retention=int(retention),
        auto_backup_enabled=auto_backup,
        require_unique_zone=unique_zone,
    )


@dataclass(frozen=True)
class CreateAppRequest:
    name: str
    org_slug: str
    network: str | None


def validate_create_app(body: Any) -> CreateAppRequest:
    request = _require_object(body)
    name = request.get("app_name") or request.get("name")
    if not isinstance(name, str) or not name:
        raise bad_request("invalid app_name: an app name is required")
    if not _APP_NAME.fullmatch(name):
        raise unprocessable(
            f"invalid app name {name!r}: use 3-63 lower-case letters, digits and dashes"
        )
    org = request.get("org_slug") or "personal"
    if not isinstance(org, str):
        raise bad_request("invalid org_slug: expected a string")
    network = _optional_str(request, "network")
    return CreateAppRequest(name=name, org_slug=org, network=network)


@dataclass(frozen=True)
class ExecRequest:
    argv: list[str]
    timeout_s: int


def validate_exec(body: Any, split_cmd: Any) -> ExecRequest:
    """`command` (argv) or the deprecated `cmd` string; `timeout` clamped to 1..60 s.

    `split_cmd` is the shlex-style splitter for `cmd` (injected so this module
    stays free of shell knowledge).
    """
    request = _require_object(body)
    command = request.get("command")
    argv: list[str]
    if command is not None and command != []:
        if not isinstance(command, list) or not all(isinstance(a, str) for a in command):
            raise bad_request("invalid command: expected an array of strings")
        argv = list(command)
    else:
        cmd = request.get("cmd")
        if not isinstance(cmd, str) or not cmd.strip():
            raise bad_request("invalid request: command is required")
        try:
            argv = list(split_cmd(cmd))
        except ValueError as error:
            raise bad_request(f"invalid cmd: {error}") from None
    timeout = request.get("timeout")
    if timeout is None or timeout == 0:
        timeout_s = MAX_TIMEOUT_S
    elif not _is_int(timeout) or timeout < 0:
        raise bad_request("invalid timeout: expected a positive integer number of seconds")
    else:
        timeout_s = max(1, min(MAX_TIMEOUT_S, int(timeout)))
    return ExecRequest(argv=argv, timeout_s=timeout_s)
