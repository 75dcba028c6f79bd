"""Real calls over loopback to the emulators, so the fixtures' teardown contract check has work.

Each test drives an emulator the way the bot's clients will and asserts the outcome; the
``fly_emulator`` / ``telegram_emulator`` fixtures then check every recorded exchange against the
specs and fail the test on any violation. The last tests show that the check does catch an
out-of-contract request, and that a test may provoke one on purpose.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup

from contracts.fly_spec import FlySpec
from contracts.telegram_spec import TelegramSpec
from contracts.traffic import contract_failures, fetch_request_log

if TYPE_CHECKING:
    from emulators.fly import FlyEmulator
    from emulators.telegram import TelegramEmulator

FLY_TOKEN = "fm2_contract-test-token"
APP = "agents"
BOT_TOKEN = "7000000001:AAHcontractTestTokenForTheEmulator01"
USER_ID = 1001
USER = {"id": USER_ID, "first_name": "Ann", "username": "ann"}


def fly_client(emulator: FlyEmulator) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=emulator.base_url,
        headers={"Authorization": f"Bearer {FLY_TOKEN}"},
        timeout=10.0,
    )


def agent_config(volume_id: str) -> dict[str, Any]:
    return {
        "image": "ghcr.io/openclaw/openclaw:2026.9.6",
        "env": {"OPENCLAW_GATEWAY_TOKEN": "gateway-secret", "OPENCLAW_STATE_DIR": "/data"},
        "metadata": {"agent_id": "agent-1", "operation_id": "op-contract-1"},
        "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 1024},
        "restart": {"policy": "on-failure", "max_retries": 3},
        "mounts": [{"volume": volume_id, "path": "/data"}],
        "checks": {
            "gateway": {
                "type": "tcp",
                "port": 18789,
                "interval": "15s",
                "timeout": "2s",
                "grace_period": "240s",
            }
        },
        "stop_config": {"signal": "SIGTERM", "timeout": "30s"},
    }


async def test_machine_lifecycle_traffic_honours_the_fly_contract(
    fly_emulator: FlyEmulator,
) -> None:
    async with fly_client(fly_emulator) as fly:
        volume = await fly.post(
            f"/apps/{APP}/volumes",
            json={"name": "agent_1_data", "region": "ams", "size_gb": 1, "encrypted": True},
        )
        assert volume.status_code == 200
        volume_id = volume.json()["id"]

        created = await fly.post(
            f"/apps/{APP}/machines",
            json={"config": agent_config(volume_id), "name": "agent-1", "region": "ams"},
        )
        assert created.status_code == 200
        machine_id = created.json()["id"]
        machine = f"/apps/{APP}/machines/{machine_id}"

        started = await fly.get(f"{machine}/wait", params={"state": "started", "timeout": 10})
        assert started.status_code == 200
        assert started.json()["ok"] is True

        shown = await fly.get(machine)
        assert shown.json()["state"] == "started"
        assert shown.json()["config"]["mounts"][0]["volume"] == volume_id

        listed = await fly.get(
            f"/apps/{APP}/machines", params={"metadata.operation_id": "op-contract-1"}
        )
        assert [m["id"] for m in listed.json()] == [machine_id]

        stopped = await fly.post(f"{machine}/stop", json={"signal": "SIGTERM", "timeout": "10s"})
        assert stopped.json() == {"ok": True}
        instance_id = (await fly.get(machine)).json()["instance_id"]
        waited = await fly.get(
            f"{machine}/wait",
            params={"state": "stopped", "instance_id": instance_id, "timeout": 10},
        )
        assert waited.status_code == 200

        attached = await fly.get(f"/apps/{APP}/volumes/{volume_id}")
        assert attached.json()["attached_machine_id"] == machine_id

        destroyed = await fly.delete(machine)
        assert destroyed.json() == {"ok": True}

    records = await fetch_request_log(fly_emulator.root_url)
    assert len(records) == 10


async def test_lease_and_logs_traffic_honours_the_fly_contract(
    fly_emulator: FlyEmulator,
) -> None:
    async with fly_client(fly_emulator) as fly:
        config = agent_config("unused")
        del config["mounts"]
        created = await fly.post(f"/apps/{APP}/machines", json={"config": config, "region": "ams"})
        machine = f"/apps/{APP}/machines/{created.json()['id']}"

        lease = await fly.post(f"{machine}/lease", json={"ttl": 30, "description": "contract"})
        assert lease.json()["status"] == "success"
        nonce = lease.json()["data"]["nonce"]

        held = await fly.post(f"{machine}/lease", json={"ttl": 30})
        assert held.status_code == 409

        released = await fly.delete(f"{machine}/lease", headers={"fly-machine-lease-nonce": nonce})
        assert released.status_code == 200

        await fly.get(f"{machine}/wait", params={"state": "started", "timeout": 10})
        logs = await fly.get(
            f"{fly_emulator.root_url}/api/v1/apps/{APP}/logs",
            params={"instance": created.json()["id"]},
        )
        assert logs.status_code == 200
        assert isinstance(logs.json()["data"], list)

        missing = await fly.get(f"/apps/{APP}/machines/0000000000dead")
        assert missing.status_code == 404


@pytest.mark.sends_invalid_requests
async def test_traffic_check_reports_an_out_of_contract_request(
    fly_emulator: FlyEmulator, fly_spec: FlySpec
) -> None:
    config = agent_config("unused")
    del config["mounts"]
    config["guest"]["cpus"] = "two"
    async with fly_client(fly_emulator) as fly:
        refused = await fly.post(f"/apps/{APP}/machines", json={"config": config})
    assert 400 <= refused.status_code < 500

    records = await fetch_request_log(fly_emulator.root_url)
    failures, tolerated = contract_failures(
        records, fly_spec.exchange_violations, fly_spec.describe, tolerate_rejected_requests=False
    )
    assert len(failures) == 1
    assert "request body at config/guest/cpus: 'two' is not of type 'integer'" in failures[0]
    assert tolerated == 0

    # The marker on this test makes the teardown check tolerate exactly that one.
    failures, tolerated = contract_failures(
        records, fly_spec.exchange_violations, fly_spec.describe, tolerate_rejected_requests=True
    )
    assert (failures, tolerated) == ([], 1)


async def test_bot_conversation_traffic_honours_the_telegram_contract(
    telegram_emulator: TelegramEmulator,
) -> None:
    control = f"{telegram_emulator.root_url}/_emulator"
    async with (
        Bot(BOT_TOKEN, base_url=f"{telegram_emulator.root_url}/bot") as bot,
        httpx.AsyncClient(timeout=10.0) as http,
    ):
        me = await bot.get_me()
        assert me.id == 7000000001
        assert me.is_bot

        said = await http.post(
            f"{control}/updates", json={"from": USER, "text": "/start", "bot": BOT_TOKEN}
        )
        assert said.status_code == 200
        updates = await bot.get_updates(offset=0, timeout=0)
        assert [u.message.text for u in updates if u.message] == ["/start"]

        keyboard = InlineKeyboardMarkup(
            [[InlineKeyboardButton("Restart agent-1", callback_data="agent:agent-1:restart")]]
        )
        sent = await bot.send_message(
            USER_ID, "<b>agent-1</b> is running", parse_mode="HTML", reply_markup=keyboard
        )
        assert sent.text == "agent-1 is running"

        pressed = await http.post(
            f"{control}/updates",
            json={
                "callback": {
                    "from": USER,
                    "message_id": sent.message_id,
                    "data": "agent:agent-1:restart",
                },
                "bot": BOT_TOKEN,
            },
        )
        assert pressed.status_code == 200
        updates = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)
        query = updates[-1].callback_query
        assert query is not None
        assert query.data == "agent:agent-1:restart"
        assert await bot.answer_callback_query(query.id, text="Restarting…")

        # The same call as a plain JSON client makes it.
        answer = await http.post(
            f"{telegram_emulator.root_url}/bot{BOT_TOKEN}/sendMessage",
            json={"chat_id": USER_ID, "text": "done"},
        )
        assert answer.json()["ok"] is True

    records = await fetch_request_log(telegram_emulator.root_url)
    assert {r["encoding"] for r in records} >= {"form", "json"}


@pytest.mark.sends_invalid_requests
async def test_traffic_check_reports_a_call_missing_a_required_field(
    telegram_emulator: TelegramEmulator, telegram_spec: TelegramSpec
) -> None:
    async with httpx.AsyncClient(timeout=10.0) as http:
        answer = await http.post(
            f"{telegram_emulator.root_url}/bot{BOT_TOKEN}/sendMessage", json={"chat_id": 1}
        )
    assert answer.status_code == 400

    records = await fetch_request_log(telegram_emulator.root_url)
    failures, _ = contract_failures(
        records,
        telegram_spec.call_violations,
        telegram_spec.describe,
        tolerate_rejected_requests=False,
    )
    assert failures == ["#1 sendMessage (json) -> 400: request: required field 'text' is missing"]
