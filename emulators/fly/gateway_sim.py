"""What a simulated machine writes to its console: Fly's init lines and OpenClaw's gateway.

`plan_gateway_boot` decides, from the machine's env and its fault-injected
gateway mode, which lines the gateway prints when it boots, whether it ends up
listening, and whether the process exits (code 78 when it refuses to bind
without auth, code 1 when the volume's config was written by a newer OpenClaw
— `version_mismatch`). OpenClaw's lines carry a timestamp prefix and ANSI colour codes
like the real ones, so clients must strip them before matching. Pure
functions: nothing here sleeps, schedules or stores anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from .openclaw_sim import OPENCLAW_VERSION

GatewayMode = Literal["normal", "never_listen", "refuse_auth", "version_mismatch"]
GATEWAY_MODES: tuple[GatewayMode, ...] = (
    "normal",
    "never_listen",
    "refuse_auth",
    "version_mismatch",
)
DEFAULT_GATEWAY_PORT = 3000
NEWER_OPENCLAW_VERSION = "2026.10.1"
AUTH_EXIT_CODE = 78
VERSION_MISMATCH_EXIT_CODE = 1
PLUGINS = (
    "acpx, browser, canvas, cron, device-pair, diagnostics, heartbeat, memory, message, "
    "nodes, sessions, skills, telegram, tts, web"
)

_CYAN = "\x1b[36m"
_RED = "\x1b[31m"
_RESET = "\x1b[39m"

LogLine = tuple[str, str]
"""(level, message) as the logs API reports them."""


def gateway_port(env: dict[str, str]) -> int:
    raw = env.get("OPENCLAW_GATEWAY_PORT", "")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 65536 else DEFAULT_GATEWAY_PORT


def has_gateway_auth(env: dict[str, str]) -> bool:
    return bool(
        env.get("OPENCLAW_GATEWAY_TOKEN", "").strip()
        or env.get("OPENCLAW_GATEWAY_PASSWORD", "").strip()
    )


def dev_mode(env: dict[str, str]) -> bool:
    return env.get("OPENCLAW_GATEWAY_DEV_MODE", "").strip().lower() in ("1", "true", "yes")


def _tagged(stamp: str, tag: str, text: str, colour: str = _CYAN) -> str:
    return f"{stamp} {colour}[{tag}]{_RESET} {text}"


def version_mismatch_lines(
    binary: str = OPENCLAW_VERSION, config: str = NEWER_OPENCLAW_VERSION
) -> list[str]:
    """OpenClaw's refusal to start on a config that a newer release last wrote."""
    return [
        "Refusing to run automatic gateway startup migrations because this OpenClaw binary "
        f"({binary}) is older than the config last written by OpenClaw {config}.",
        "Run the newer openclaw binary on PATH, or reinstall the intended gateway service from "
        "the newer install.",
        "Set OPENCLAW_ALLOW_OLDER_BINARY_DESTRUCTIVE_ACTIONS=1 only for an intentional "
        "downgrade or recovery action.",
    ]


@dataclass(frozen=True)
class GatewayBoot:
    lines: list[LogLine]
    listens: bool
    exit_code: int | None
    """Set when the gateway process exits right after printing its lines."""


def plan_gateway_boot(
    *,
    env: dict[str, str],
    mode: GatewayMode,
    model: str,
    pid: int,
    stamp: Callable[[], str],
) -> GatewayBoot:
    """The gateway's output for one boot of the machine."""
    lines: list[LogLine] = []
    command = "node ./openclaw.mjs gateway run --bind lan"
    if dev_mode(env):
        lines.append(
            ("info", "[entrypoint] OPENCLAW_GATEWAY_DEV_MODE=true: gateway runs with --dev")
        )
        command += " --dev"
    lines.append(("info", "[entrypoint] cleaned /tmp/openclaw and /tmp/openclaw-*"))
    lines.append(("info", f"[entrypoint] exec {command}"))
    if mode == "version_mismatch":
        # The volume's config was last written by a newer OpenClaw: the image's older one
        # refuses it, on stderr, with no timestamp or colour, and exits 1 (exactly what the real
        # 2026.6.11 printed on a config 2026.9.6 wrote).
        lines.extend(("error", text) for text in version_mismatch_lines())
        return GatewayBoot(lines=lines, listens=False, exit_code=VERSION_MISMATCH_EXIT_CODE)
    if mode == "refuse_auth" or not has_gateway_auth(env):
        lines.append(
            ("error", f"{stamp()} {_RED}Refusing to bind gateway to lan without auth.{_RESET}")
        )
        lines.append(
            (
                "error",
                f"{stamp()} Set OPENCLAW_GATEWAY_TOKEN or OPENCLAW_GATEWAY_PASSWORD, or pass "
                "--token/--password (gateway.auth.token/password in the config also works).",
            )
        )
        return GatewayBoot(lines=lines, listens=False, exit_code=AUTH_EXIT_CODE)
    lines.append(
        ("info", _tagged(stamp(), "gateway", f"agent model: {model} (thinking=medium, fast=off)"))
    )
    if mode == "never_listen":
        return GatewayBoot(lines=lines, listens=False, exit_code=None)
    # What the real 2026.9.6 prints (seen): no `listening on ws://` line any more, and a
    # `spawn broker ready` line just before `ready`, which a careless matcher takes for it.
    lines.append(
        (
            "info",
            _tagged(stamp(), "gateway", f"http server listening (15 plugins: {PLUGINS}; 2.5s)"),
        )
    )
    lines.append(("info", _tagged(stamp(), "telegram", "[default] starting provider (@agent_bot)")))
    lines.append(("info", _tagged(stamp(), "gateway", "spawn broker ready")))
    lines.append(("info", _tagged(stamp(), "gateway", "ready")))
    return GatewayBoot(lines=lines, listens=True, exit_code=None)


def init_lines(*, image: str, mount_path: str | None) -> list[LogLine]:
    """What Fly's init prints when a machine boots."""
    lines: list[LogLine] = [("info", " INFO Starting init (commit: 6c3309ba)...")]
    if mount_path:
        lines.append(
            ("info", f" INFO Mounting /dev/vdc at {mount_path} w/ uid: 0, gid: 0 and chmod 0755")
        )
    lines.append(("info", " INFO Preparing to run: `/app/entrypoint.sh` as root"))
    lines.append(("info", " INFO [fly api proxy] listening at /.fly/api"))
    lines.append(("info", f"Machine started in 912ms (image {image})"))
    return lines


def exit_lines(*, exit_code: int, mount_path: str | None) -> list[LogLine]:
    lines: list[LogLine] = [
        ("info", f" INFO Main child exited normally with code: {exit_code}"),
        ("info", " INFO Starting clean up."),
    ]
    if mount_path:
        lines.append(("info", f" INFO Umounting /dev/vdc from {mount_path}"))
    lines.append(("info", "[    4.192381] reboot: Restarting system"))
    return lines


def signal_lines(*, signal: str, pid: int) -> list[LogLine]:
    """What Fly's init prints when it signals the main process to stop."""
    return [("info", f" INFO Sending signal {signal} to main child process w/ PID {pid}")]


def stop_lines(*, signal: str, pid: int, mount_path: str | None) -> list[LogLine]:
    return [
        *signal_lines(signal=signal, pid=pid),
        *exit_lines(exit_code=0, mount_path=mount_path),
    ]


def signal_exit_lines(*, signal: str, mount_path: str | None) -> list[LogLine]:
    """Fly's init when the main process was ended by SIGNAL (a real process in real mode)."""
    lines: list[LogLine] = [
        (
            "info",
            f" INFO Main child exited with signal (with signal '{signal}', core dumped: false)",
        ),
        ("info", " INFO Starting clean up."),
    ]
    if mount_path:
        lines.append(("info", f" INFO Umounting /dev/vdc from {mount_path}"))
    return lines


def crash_lines(*, to_failed: bool, mount_path: str | None) -> list[LogLine]:
    level = "error" if to_failed else "info"
    lines: list[LogLine] = [
        (level, " INFO Main child exited with signal (with signal 'SIGSEGV', core dumped: false)"),
        ("info", " INFO Starting clean up."),
    ]
    if mount_path:
        lines.append(("info", f" INFO Umounting /dev/vdc from {mount_path}"))
    return lines


def unstable_lines(stamp: Callable[[], str]) -> list[LogLine]:
    """Printed when concurrent pairing commands wedge the gateway's pairing store."""
    return [
        (
            "error",
            _tagged(
                stamp(),
                "gateway",
                "pairing store error: SQLITE_BUSY: database is locked (concurrent CLI writers)",
                _RED,
            ),
        )
    ]
