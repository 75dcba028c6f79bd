"""Helpers shared by the Fly emulator tests (no tests here): HTTP clients and a bot-like config.

Everything goes over real HTTP with plain httpx: the Machines API at `base_url`, the logs
API and the control API at `root_url`. `eventually` polls a condition with short sleeps and
fails loudly when it never holds; it bounds a wait, it does not assert how long anything took.
"""

from __future__ import annotations

import asyncio
import copy
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from emulators.fly import FlyEmulator

TOKEN = "test-token-1234"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
APP = "agents"
OPENCLAW = ["node", "./openclaw.mjs"]

# Every httpx client would otherwise load the system CA bundle (tens of ms each) although the
# emulator speaks plain HTTP; one context built once serves them all.
_TLS = ssl.create_default_context()


def http_client(base_url: str, **kwargs: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, verify=_TLS, timeout=10.0, **kwargs)


AGENT_CONFIG: dict[str, Any] = {
    "image": "registry.fly.io/linkhub-agents:openclaw-okr-v1",
    "env": {
        "OPENCLAW_GATEWAY_TOKEN": "gateway-secret",
        "OPENCLAW_STATE_DIR": "/data/openclaw/state",
        "OPENCLAW_CONFIG_PATH": "/data/openclaw/config.json",
        "LLM_MODEL": "openai/gpt-4.1-mini",
    },
    "metadata": {"agent_id": "tenant-a:user-1", "tenant": "tenant-a"},
    "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 2048},
    "restart": {"policy": "always"},
    "services": [
        {
            "protocol": "tcp",
            "internal_port": 3000,
            "autostart": True,
            "autostop": "off",
            "ports": [{"port": 443, "handlers": ["tls", "http"]}],
            "checks": [{"type": "tcp", "interval": "15s", "timeout": "5s", "grace_period": "240s"}],
        }
    ],
    "checks": {
        "gateway": {
            "type": "tcp",
            "port": 3000,
            "interval": "15s",
            "timeout": "5s",
            "grace_period": "240s",
        }
    },
}


def agent_config(**overrides: Any) -> dict[str, Any]:
    config = copy.deepcopy(AGENT_CONFIG)
    config.update(overrides)
    return config


def agent_env(**changes: str | None) -> dict[str, str]:
    env = dict(AGENT_CONFIG["env"])
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


@dataclass
class Fly:
    emulator: FlyEmulator
    api: httpx.AsyncClient
    root: httpx.AsyncClient
    control: httpx.AsyncClient

    async def create_machine(
        self, app: str = APP, config: dict[str, Any] | None = None, **body: Any
    ) -> dict[str, Any]:
        answer = await self.api.post(
            f"/apps/{app}/machines", json={"config": config or agent_config(), **body}
        )
        assert answer.status_code == 200, answer.text
        machine: dict[str, Any] = answer.json()
        return machine

    async def get_machine(self, machine_id: str, app: str = APP) -> dict[str, Any]:
        answer = await self.api.get(f"/apps/{app}/machines/{machine_id}")
        assert answer.status_code == 200, answer.text
        machine: dict[str, Any] = answer.json()
        return machine

    async def wait(
        self,
        machine_id: str,
        state: str = "started",
        *,
        app: str = APP,
        timeout: int = 60,
        instance_id: str | None = None,
    ) -> httpx.Response:
        params: dict[str, Any] = {"state": state, "timeout": timeout}
        if instance_id:
            params["instance_id"] = instance_id
        return await self.api.get(f"/apps/{app}/machines/{machine_id}/wait", params=params)

    async def started_machine(self, app: str = APP, **body: Any) -> dict[str, Any]:
        """A machine created and awaited until `started` with its gateway listening."""
        machine = await self.create_machine(app, **body)
        waited = await self.wait(machine["id"], app=app)
        assert waited.status_code == 200, waited.text
        await self.eventually(lambda: self.gateway_listening(machine["id"]))
        return await self.get_machine(machine["id"], app)

    async def exec(
        self, machine_id: str, command: list[str], *, app: str = APP, timeout: int | None = None
    ) -> httpx.Response:
        body: dict[str, Any] = {"command": command}
        if timeout is not None:
            body["timeout"] = timeout
        return await self.api.post(f"/apps/{app}/machines/{machine_id}/exec", json=body)

    async def openclaw(self, machine_id: str, *args: str) -> dict[str, Any]:
        answer = await self.exec(machine_id, [*OPENCLAW, *args])
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    async def control_post(self, path: str, body: Any = None) -> httpx.Response:
        return await self.control.post(f"/_emulator/{path}", json=body)

    async def pairing_code(self, machine_id: str, sender_id: int = 2002) -> str:
        answer = await self.control_post(
            f"machines/{machine_id}/pairing-codes", {"sender_id": sender_id}
        )
        assert answer.status_code == 200, answer.text
        code: str = answer.json()["code"]
        return code

    async def state(self) -> dict[str, Any]:
        answer = await self.control.get("/_emulator/state")
        state: dict[str, Any] = answer.json()
        return state

    async def emulated_machine(self, machine_id: str) -> dict[str, Any]:
        for app in (await self.state())["apps"]:
            for machine in app["machines"]:
                if machine["id"] == machine_id:
                    found: dict[str, Any] = machine
                    return found
        raise AssertionError(f"machine {machine_id} not in the emulator state")

    async def gateway_listening(self, machine_id: str) -> bool:
        return bool((await self.emulated_machine(machine_id))["emulator"]["gateway_listening"])

    async def exec_records(self) -> list[dict[str, Any]]:
        answer = await self.control.get("/_emulator/exec")
        records: list[dict[str, Any]] = answer.json()
        return records

    async def logs(
        self, machine_id: str | None = None, next_token: str | None = None, app: str = APP
    ) -> dict[str, Any]:
        params = {}
        if machine_id:
            params["instance"] = machine_id
        if next_token is not None:
            params["next_token"] = next_token
        answer = await self.root.get(f"/api/v1/apps/{app}/logs", params=params)
        assert answer.status_code == 200, answer.text
        page: dict[str, Any] = answer.json()
        return page

    async def log_messages(self, machine_id: str) -> list[str]:
        page = await self.logs(machine_id)
        return [entry["attributes"]["message"] for entry in page["data"]]

    async def set_rate_limits(self, enabled: bool) -> None:
        answer = await self.control_post("rate-limits", {"enabled": enabled})
        assert answer.status_code == 200, answer.text

    async def eventually(
        self, condition: Callable[[], Awaitable[bool]], *, within_s: float = 5.0
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while not await condition():
            if loop.time() > deadline:
                raise AssertionError("condition never held")
            await asyncio.sleep(0.01)


@asynccontextmanager
async def open_fly(
    emulator: FlyEmulator, *, rate_limits: bool = False, token: str = TOKEN
) -> AsyncIterator[Fly]:
    auth = {"Authorization": f"Bearer {token}"}
    async with (
        http_client(emulator.base_url, headers=auth) as api,
        http_client(emulator.root_url, headers=auth) as root,
        http_client(emulator.root_url) as control,
    ):
        fly = Fly(emulator=emulator, api=api, root=root, control=control)
        await fly.set_rate_limits(rate_limits)
        yield fly


def strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)
