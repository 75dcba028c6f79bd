"""A fleet service wired to the real Fly emulator over HTTP and a real SQLite file."""

from __future__ import annotations

import base64
import dataclasses
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.fleet.defaults import FleetDefaults, FleetTimings
from bot.fleet.fly_pool import FlyPool
from bot.fleet.service import FleetService, ProvisionRequest
from emulators.fly import FlyEmulator
from flyclient import RetryPolicy
from storage import Store
from storage.models import Actor

AGENT_BOT_TOKEN = "7000000001:AAAgentBotTokenForTestsOnly_abcdefgh"
FLY_TOKEN = "fo1_test_token_for_the_emulator"
ADMIN = Actor.admin(1)


def make_defaults(**changes: Any) -> FleetDefaults:
    defaults = FleetDefaults(
        fly_app="agents",
        fly_token=None,
        image="registry.fly.io/linkhub-agents:openclaw-okr-v1",
        region="iad",
        cpu_kind="shared",
        cpus=1,
        memory_mb=2048,
        volume_size_gb=1,
        bridge_url="https://bridge.example.com",
        app_key="linkhub-w4",
        service_id="svc-1",
        service_key=None,
        model="openai/gpt-4.1-mini",
        llm_api_key=None,
        openai_api_key=None,
        allowed_skills=("linkhub-bridge",),
        startup_timeout_s=3,
        openclaw_dir="/app",
        owner_entries=("telegram:1",),
        exec_timeout_s=60,
        gateway_dev_mode=False,
        timings=FleetTimings(
            gateway_poll_s=0.02,
            wait_slice_s=5,
            snapshot_poll_s=0.02,
            stop_deadline_s=10,
            start_deadline_s=10,
        ),
    )
    from pydantic import SecretStr

    secret_fields = {"fly_token", "service_key", "llm_api_key", "openai_api_key"}
    prepared: dict[str, Any] = {
        k: (SecretStr(v) if k in secret_fields and isinstance(v, str) else v)
        for k, v in changes.items()
    }
    base = dataclasses.replace(
        defaults,
        fly_token=SecretStr(FLY_TOKEN),
        service_key=SecretStr("service-key-secret"),
        llm_api_key=SecretStr("sk-llm-key-for-tests-0000000000"),
    )
    return dataclasses.replace(base, **prepared)


@dataclass
class Fleet:
    service: FleetService
    emulator: FlyEmulator
    store: Store
    control: httpx.AsyncClient

    async def provision(self, user: str = "alice", tenant: str = "acme", **kwargs: Any) -> Any:
        request = ProvisionRequest(
            tenant_id=tenant,
            user_id=user,
            secrets={"TELEGRAM_BOT_TOKEN": AGENT_BOT_TOKEN},
            **kwargs,
        )
        return await self.service.provision_agent_machine(request, actor=ADMIN)

    async def state(self) -> dict[str, Any]:
        answer = await self.control.get("/_emulator/state")
        return dict(answer.json())

    async def machines(self, app: str = "agents") -> list[dict[str, Any]]:
        for entry in (await self.state())["apps"]:
            if entry["name"] == app:
                return [m for m in entry["machines"] if m["state"] != "destroyed"]
        return []

    async def volumes(self, app: str = "agents") -> list[dict[str, Any]]:
        for entry in (await self.state())["apps"]:
            if entry["name"] == app:
                return [v for v in entry["volumes"] if v.get("state") != "destroyed"]
        return []

    async def execs(self, match: str = "") -> list[dict[str, Any]]:
        answer = await self.control.get("/_emulator/exec")
        return [e for e in answer.json() if match in " ".join(e["argv"])]

    async def fault(self, rule: dict[str, Any]) -> None:
        answer = await self.control.post("/_emulator/faults", json=rule)
        answer.raise_for_status()

    async def pairing_code(self, machine_id: str, sender_id: int) -> str:
        answer = await self.control.post(
            f"/_emulator/machines/{machine_id}/pairing-codes", json={"sender_id": sender_id}
        )
        answer.raise_for_status()
        return str(answer.json()["code"])


def new_vault_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "fleet.db", vault_keys=new_vault_key())
    yield opened
    await opened.close()


async def build_fleet(emulator: FlyEmulator, store: Store, **changes: Any) -> Fleet:
    pool = FlyPool(
        machines_url=emulator.base_url,
        logs_url=emulator.root_url,
        retry_policy=RetryPolicy(base_delay_s=0.01, max_delay_s=0.05, max_elapsed_s=5),
    )
    service = FleetService(store, pool, make_defaults(**changes))
    await service.start()
    control = httpx.AsyncClient(base_url=emulator.root_url, timeout=10)
    return Fleet(service=service, emulator=emulator, store=store, control=control)


@pytest.fixture
async def fleet(fly_emulator: FlyEmulator, store: Store) -> AsyncIterator[Fleet]:
    built = await build_fleet(fly_emulator, store)
    yield built
    await built.control.aclose()
    await built.service.aclose()
