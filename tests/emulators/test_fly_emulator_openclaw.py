"""The simulated OpenClaw inside each emulated machine, driven through Fly's exec over real HTTP.

Pins the CLI's exact outputs and exit codes, the pairing-code rules (expiry, 3 pending, same
sender same code), the exec shapes, exec timeouts, the gateway's instability under concurrent
pairing commands, the gateway's log lines in every mode and the health checks.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from test_fly_emulator_support import (
    APP,
    OPENCLAW,
    Fly,
    agent_config,
    agent_env,
    open_fly,
    strip_ansi,
)

from emulators.fly import FlyEmulator

CODE_PATTERN = re.compile(r"^[A-HJ-NP-Z2-9]{8}$")


@pytest.fixture
async def fly(fly_emulator_factory: Any) -> AsyncIterator[Fly]:
    emulator: FlyEmulator = await fly_emulator_factory()
    async with open_fly(emulator) as client:
        yield client


@pytest.fixture
async def machine(fly: Fly) -> dict[str, Any]:
    return await fly.started_machine()


def _not_found_reason(code: str) -> str:
    return (
        "[openclaw] The CLI command failed.\n"
        f'[openclaw] Reason: No pending pairing request found for code "{code}". '
        "Run openclaw pairing list --channel telegram to list pending requests.\n"
        "[openclaw] Debug: set OPENCLAW_DEBUG=1 to include the stack trace.\n"
        "[openclaw] Try: openclaw doctor\n"
        "[openclaw] Help: openclaw --help\n"
    )


# ----- pairing ----------------------------------------------------------------------------


async def test_pairing_list_json_shows_the_pending_request(
    fly: Fly, machine: dict[str, Any]
) -> None:
    empty = await fly.openclaw(machine["id"], "pairing", "list", "telegram", "--json")
    assert json.loads(empty["stdout"]) == {"channel": "telegram", "requests": []}
    code = await fly.pairing_code(machine["id"], sender_id=2002)
    assert CODE_PATTERN.match(code)
    listed = await fly.openclaw(machine["id"], "pairing", "list", "telegram", "--json")
    assert listed["exit_code"] == 0
    payload = json.loads(listed["stdout"])
    assert payload["channel"] == "telegram"
    [request] = payload["requests"]
    assert request["id"] == "2002"
    assert request["code"] == code
    assert request["meta"] == {"firstName": "u", "accountId": "default"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", request["createdAt"])
    assert set(request) == {"id", "code", "createdAt", "lastSeenAt", "meta"}


async def test_pairing_list_without_json_is_a_readable_table(
    fly: Fly, machine: dict[str, Any]
) -> None:
    empty = await fly.openclaw(machine["id"], "pairing", "list", "telegram")
    assert empty["stdout"] == "No pending telegram pairing requests.\n"
    code = await fly.pairing_code(machine["id"], sender_id=777)
    table = await fly.openclaw(machine["id"], "pairing", "list", "--channel", "telegram")
    assert code in table["stdout"]
    assert "777" in table["stdout"]


async def test_first_approval_makes_the_sender_command_owner(
    fly: Fly, machine: dict[str, Any]
) -> None:
    first = await fly.pairing_code(machine["id"], sender_id=2002)
    second = await fly.pairing_code(machine["id"], sender_id=3003)
    approved = await fly.openclaw(machine["id"], "pairing", "approve", "telegram", first)
    assert approved == {
        "stdout": "Approved telegram sender 2002.\n"
        "Command owner configured telegram:2002 (commands.ownerAllowFrom was empty).\n",
        "stderr": "",
        "exit_code": 0,
        "exit_signal": 0,
    }
    again = await fly.openclaw(machine["id"], "pairing", "approve", "telegram", second)
    assert again["stdout"] == "Approved telegram sender 3003.\n"
    owners = await fly.openclaw(machine["id"], "config", "get", "commands.ownerAllowFrom")
    assert json.loads(owners["stdout"]) == ["telegram:2002"]


async def test_owner_policy_set_first_keeps_approvals_to_chat_access(
    fly: Fly, machine: dict[str, Any]
) -> None:
    missing = await fly.openclaw(machine["id"], "config", "get", "commands.ownerAllowFrom")
    assert missing["exit_code"] == 1
    configured = await fly.openclaw(
        machine["id"], "config", "set", "commands.ownerAllowFrom", '["telegram:1"]'
    )
    assert configured["stdout"] == ("Updated commands.ownerAllowFrom. No gateway restart needed.\n")
    code = await fly.pairing_code(machine["id"], sender_id=2002)
    approved = await fly.openclaw(machine["id"], "pairing", "approve", "telegram", code)
    assert approved["stdout"] == "Approved telegram sender 2002.\n"
    owners = await fly.openclaw(machine["id"], "config", "get", "commands.ownerAllowFrom")
    assert json.loads(owners["stdout"]) == ["telegram:1"]
    invalid = await fly.openclaw(
        machine["id"], "config", "set", "commands.ownerAllowFrom", "telegram:1"
    )
    assert invalid["exit_code"] == 1


async def test_unknown_used_and_expired_codes_fail_alike(fly: Fly, machine: dict[str, Any]) -> None:
    unknown = await fly.openclaw(machine["id"], "pairing", "approve", "telegram", "F864XLAV")
    assert unknown == {
        "stdout": "",
        "stderr": _not_found_reason("F864XLAV"),
        "exit_code": 1,
        "exit_signal": 0,
    }
    code = await fly.pairing_code(machine["id"])
    assert (await fly.openclaw(machine["id"], "pairing", "approve", "telegram", code))[
        "exit_code"
    ] == 0
    reused = await fly.openclaw(machine["id"], "pairing", "approve", "telegram", code)
    assert (reused["exit_code"], reused["stderr"]) == (1, _not_found_reason(code))

    expiring = await fly.pairing_code(machine["id"], sender_id=4004)
    await fly.control_post("clock", {"advance_s": 3600})
    expired = await fly.openclaw(machine["id"], "pairing", "approve", "telegram", expiring)
    assert (expired["exit_code"], expired["stderr"]) == (1, _not_found_reason(expiring))
    listed = await fly.openclaw(machine["id"], "pairing", "list", "telegram", "--json")
    assert json.loads(listed["stdout"])["requests"] == []


async def test_at_most_three_requests_pend_and_a_sender_keeps_its_code(
    fly: Fly, machine: dict[str, Any]
) -> None:
    codes = [await fly.pairing_code(machine["id"], sender_id=sender) for sender in (1, 2, 3)]
    assert len(set(codes)) == 3
    same = await fly.control_post(f"machines/{machine['id']}/pairing-codes", {"sender_id": 2})
    assert same.json() == {"code": codes[1], "sender_id": "2", "created": False}
    fourth = await fly.control_post(f"machines/{machine['id']}/pairing-codes", {"sender_id": 4})
    assert fourth.status_code == 409
    assert "pending" in fourth.json()["error"]
    await fly.control_post("clock", {"advance_s": 3601})
    after_expiry = await fly.control_post(
        f"machines/{machine['id']}/pairing-codes", {"sender_id": 4}
    )
    assert after_expiry.status_code == 200
    assert after_expiry.json()["created"] is True


# ----- models and config ------------------------------------------------------------------


async def test_models_set_and_status_report_the_effective_model(
    fly: Fly, machine: dict[str, Any]
) -> None:
    default = await fly.openclaw(machine["id"], "models", "status", "--plain")
    assert default["stdout"] == "openai/gpt-6-astra\n"
    updated = await fly.openclaw(machine["id"], "models", "set", "openrouter/moonshotai/kimi-k2.5")
    assert updated["exit_code"] == 0
    lines = updated["stdout"].splitlines()
    assert lines[0].startswith("Updated config: ")
    assert lines[-1] == "Default model: openrouter/moonshotai/kimi-k2.5"
    status = await fly.openclaw(machine["id"], "models", "status", "--plain")
    assert status["stdout"] == "openrouter/moonshotai/kimi-k2.5\n"
    mini = await fly.openclaw(machine["id"], "models", "set", "openai/gpt-5-mini")
    assert mini["stdout"].splitlines()[-1] == "Default model: openai/gpt-5-mini"


async def test_unknown_model_provider_is_refused_and_config_kept(
    fly: Fly, machine: dict[str, Any]
) -> None:
    refused = await fly.openclaw(machine["id"], "models", "set", "moonshot/kimi-k2.5")
    assert refused == {
        "stdout": "",
        "stderr": 'Unknown model provider "moonshot". Install a plugin that declares it or '
        'configure it under models.providers before selecting "moonshot/kimi-k2.5". '
        "Config was not changed.\n",
        "exit_code": 1,
        "exit_signal": 0,
    }
    status = await fly.openclaw(machine["id"], "models", "status", "--plain")
    assert status["stdout"] == "openai/gpt-6-astra\n"


async def test_model_lives_on_the_volume_not_the_root_filesystem(fly: Fly) -> None:
    machine = await fly.started_machine()
    await fly.openclaw(machine["id"], "models", "set", "anthropic/claude-sonnet-4")
    await fly.api.post(f"/apps/{APP}/machines/{machine['id']}/restart")
    await fly.wait(machine["id"])
    status = await fly.openclaw(machine["id"], "models", "status", "--plain")
    assert status["stdout"] == "openai/gpt-6-astra\n"


# ----- exec shapes ------------------------------------------------------------------------


async def test_exec_accepts_the_shell_forms_the_seed_and_bot_send(
    fly: Fly, machine: dict[str, Any]
) -> None:
    code = await fly.pairing_code(machine["id"], sender_id=2002)
    positional = await fly.exec(
        machine["id"],
        [
            "sh",
            "-lc",
            'cd /app && exec node ./openclaw.mjs pairing approve telegram "$1"',
            "sh",
            code,
        ],
    )
    assert positional.json()["stdout"].startswith("Approved telegram sender 2002.")
    seed_form = await fly.exec(
        machine["id"], ["sh", "-lc", "cd /app && node ./openclaw.mjs models status --plain"]
    )
    assert seed_form.json()["stdout"] == "openai/gpt-6-astra\n"
    absolute = await fly.exec(machine["id"], ["node", "/app/openclaw.mjs", "--version"])
    assert absolute.json()["stdout"] == "OpenClaw 2026.9.6 (eb377ac)\n"
    deprecated = await fly.api.post(
        f"/apps/{APP}/machines/{machine['id']}/exec",
        json={"cmd": "node ./openclaw.mjs models status --plain"},
    )
    assert deprecated.json()["stdout"] == "openai/gpt-6-astra\n"


async def test_exec_of_anything_else_is_not_found(fly: Fly, machine: dict[str, Any]) -> None:
    binary = await fly.exec(machine["id"], ["openclaw", "pairing", "list", "telegram"])
    assert binary.json()["exit_code"] == 127
    assert binary.json()["stderr"] == "sh: 1: openclaw: not found\n"
    scripted = await fly.exec(machine["id"], ["sh", "-lc", "cd /app && ls -la"])
    assert (scripted.json()["exit_code"], scripted.json()["stderr"]) == (
        127,
        "sh: 1: ls: not found\n",
    )
    piped = await fly.exec(machine["id"], ["sh", "-c", "cat /etc/passwd | head"])
    assert piped.json()["exit_code"] == 2
    wrong_dir = await fly.exec(machine["id"], ["sh", "-lc", "cd /srv && node ./openclaw.mjs"])
    assert wrong_dir.json()["exit_code"] == 2
    other_script = await fly.exec(machine["id"], ["node", "./server.js"])
    assert other_script.json()["exit_code"] == 1
    assert "Cannot find module '/app/server.js'" in other_script.json()["stderr"]


async def test_exec_on_a_stopped_machine_is_412(fly: Fly, machine: dict[str, Any]) -> None:
    await fly.api.post(f"/apps/{APP}/machines/{machine['id']}/stop")
    await fly.wait(machine["id"], "stopped", instance_id=machine["instance_id"])
    answer = await fly.exec(machine["id"], [*OPENCLAW, "models", "status", "--plain"])
    assert answer.status_code == 412
    assert answer.json()["error"].startswith("failed_precondition:")


async def test_exec_timeout_is_408_while_the_command_still_completes(
    fly: Fly, machine: dict[str, Any]
) -> None:
    await fly.control_post("timings", {"cli": 0.3})
    answer = await fly.exec(machine["id"], [*OPENCLAW, "models", "set", "xai/grok-4"], timeout=1)
    assert answer.status_code == 408
    assert answer.json()["error"].startswith("deadline_exceeded: ")

    async def completed() -> bool:
        records = await fly.exec_records()
        return bool(records[-1]["status"] == "completed")

    await fly.eventually(completed)
    record = (await fly.exec_records())[-1]
    assert record["exit_code"] == 0
    assert record["answered"] == "408"
    assert record["argv"] == [*OPENCLAW, "models", "set", "xai/grok-4"]
    await fly.control_post("timings", {"cli": 0.01})
    status = await fly.openclaw(machine["id"], "models", "status", "--plain")
    assert status["stdout"] == "xai/grok-4\n"


async def test_exec_timeout_is_clamped_to_sixty_seconds(fly: Fly, machine: dict[str, Any]) -> None:
    await fly.control_post("timings", {"request_timeout_scale": 0.002})
    await fly.control_post("faults", {"exec_hang": {"machine_id": machine["id"], "match": "list"}})
    answer = await fly.exec(machine["id"], [*OPENCLAW, "pairing", "list", "telegram"], timeout=600)
    assert answer.status_code == 408
    assert "60s" in answer.json()["error"]


# ----- concurrency and instability --------------------------------------------------------


async def test_concurrent_pairing_commands_wedge_the_gateway_until_a_restart(
    fly: Fly, machine: dict[str, Any]
) -> None:
    await fly.control_post("timings", {"cli": 0.1})
    code = await fly.pairing_code(machine["id"])
    both = await asyncio.gather(
        fly.exec(machine["id"], [*OPENCLAW, "pairing", "approve", "telegram", code]),
        fly.exec(machine["id"], [*OPENCLAW, "pairing", "list", "telegram", "--json"]),
    )
    assert [answer.status_code for answer in both] == [200, 200]
    assert (await fly.emulated_machine(machine["id"]))["emulator"]["gateway_unstable"] is True

    stuck = await fly.exec(machine["id"], [*OPENCLAW, "models", "status", "--plain"], timeout=2)
    assert stuck.status_code == 408
    assert (await fly.exec_records())[-1]["status"] == "hung"
    messages = [strip_ansi(m) for m in await fly.log_messages(machine["id"])]
    assert any("database is locked" in m for m in messages)

    await fly.api.post(f"/apps/{APP}/machines/{machine['id']}/restart")
    await fly.eventually(lambda: fly.gateway_listening(machine["id"]))
    records = await fly.exec_records()
    assert records[-1]["status"] == "killed"
    healthy = await fly.openclaw(machine["id"], "pairing", "list", "telegram", "--json")
    assert healthy["exit_code"] == 0


# ----- gateway modes and logs -------------------------------------------------------------


async def _messages(fly: Fly, machine_id: str) -> list[str]:
    return [strip_ansi(m) for m in await fly.log_messages(machine_id)]


async def test_normal_boot_logs_the_gateway_lines_of_the_real_2026_9_6(
    fly: Fly, machine: dict[str, Any]
) -> None:
    messages = await _messages(fly, machine["id"])
    text = "\n".join(messages)
    assert "[gateway] agent model: openai/gpt-6-astra (thinking=medium, fast=off)" in text
    assert "[gateway] http server listening (15 plugins: " in text
    assert "listening on ws://" not in text
    assert messages[-2].endswith("[gateway] spawn broker ready")
    assert "[telegram] [default] starting provider (@agent_bot)" in text
    assert messages[-1].endswith("[gateway] ready")
    raw = await fly.log_messages(machine["id"])
    assert any("\x1b[" in line for line in raw)


async def test_missing_gateway_token_refuses_to_bind_and_restarts_in_a_loop(fly: Fly) -> None:
    config = agent_config(env=agent_env(OPENCLAW_GATEWAY_TOKEN=""))
    machine = await fly.create_machine(config=config)

    async def refused_twice() -> bool:
        messages = await _messages(fly, machine["id"])
        return sum("Refusing to bind gateway to lan without auth." in m for m in messages) >= 2

    await fly.eventually(refused_twice)
    messages = await _messages(fly, machine["id"])
    assert any(
        m.split(" ", 1)[-1].startswith(
            "Set OPENCLAW_GATEWAY_TOKEN or OPENCLAW_GATEWAY_PASSWORD, or pass --token/--password"
        )
        for m in messages
    )
    assert any("exited normally with code: 78" in m for m in messages)
    assert not any("[gateway] ready" in m for m in messages)
    current = await fly.get_machine(machine["id"])
    assert all(check["status"] == "critical" for check in current["checks"])


async def test_gateway_token_fix_by_update_brings_the_gateway_up(fly: Fly) -> None:
    config = agent_config(env=agent_env(OPENCLAW_GATEWAY_TOKEN=None), restart={"policy": "no"})
    machine = await fly.create_machine(config=config)
    stopped = await fly.wait(machine["id"], "stopped", instance_id=machine["instance_id"])
    assert stopped.status_code == 200
    fixed = dict(config, env=agent_env())
    answer = await fly.api.post(f"/apps/{APP}/machines/{machine['id']}", json={"config": fixed})
    assert answer.status_code == 200
    await fly.eventually(lambda: fly.gateway_listening(machine["id"]))


@pytest.mark.parametrize(
    ("mode", "expected", "absent"),
    [
        ("never_listen", "[gateway] agent model:", "[gateway] ready"),
        (
            "version_mismatch",
            "Refusing to run automatic gateway startup migrations because this OpenClaw binary "
            "(2026.9.6) is older than the config last written by OpenClaw 2026.10.1.",
            "[gateway] ready",
        ),
        ("refuse_auth", "Refusing to bind gateway to lan without auth.", "[gateway] ready"),
    ],
)
async def test_gateway_modes_log_their_lines_and_never_listen(
    fly: Fly, mode: str, expected: str, absent: str
) -> None:
    machine = await fly.create_machine(
        config=agent_config(restart={"policy": "no"}), skip_launch=True
    )
    await fly.control_post("faults", {"gateway_mode": {"machine_id": machine["id"], "mode": mode}})
    await fly.api.post(f"/apps/{APP}/machines/{machine['id']}/start")

    async def logged() -> bool:
        return any(expected in m for m in await _messages(fly, machine["id"]))

    await fly.eventually(logged)
    messages = await _messages(fly, machine["id"])
    assert not any(absent in m for m in messages)
    assert not await fly.gateway_listening(machine["id"])


async def test_dev_mode_is_logged(fly: Fly) -> None:
    config = agent_config(env=agent_env(OPENCLAW_GATEWAY_DEV_MODE="true"))
    machine = await fly.started_machine(config=config)
    messages = await _messages(fly, machine["id"])
    assert any("--dev" in m for m in messages)


# ----- health checks ----------------------------------------------------------------------


async def test_checks_pass_only_after_grace_and_gateway_listening(fly: Fly) -> None:
    await fly.control_post("timings", {"gateway_boot": 0.3})
    machine = await fly.create_machine()
    await fly.wait(machine["id"])
    booting = await fly.get_machine(machine["id"])
    assert {c["name"] for c in booting["checks"]} == {"gateway", "servicecheck-00-tcp-3000"}
    assert all(c["status"] == "critical" for c in booting["checks"])

    async def passing() -> bool:
        current = await fly.get_machine(machine["id"])
        return all(c["status"] == "passing" for c in current["checks"])

    await fly.eventually(passing)
    await fly.api.post(f"/apps/{APP}/machines/{machine['id']}/stop")
    await fly.wait(machine["id"], "stopped", instance_id=machine["instance_id"])
    stopped = await fly.get_machine(machine["id"])
    assert all(c["status"] == "critical" for c in stopped["checks"])


async def test_long_grace_period_keeps_checks_critical_though_listening(fly: Fly) -> None:
    await fly.control_post("timings", {"time_scale": 1.0})
    machine = await fly.started_machine()
    assert all(c["status"] == "critical" for c in machine["checks"])
    wrong_port = agent_config(checks={"other": {"type": "tcp", "port": 8080}})
    other = await fly.started_machine(config=wrong_port)
    assert other["checks"][0]["name"] == "other"
    assert other["checks"][0]["status"] == "critical"


# ----- the allow list, expiry, an approve that hangs -----------------------------------------

ALLOW_LIST_ARGV = [
    "sh",
    "-lc",
    'cd /app && exec node -e "$1"',
    "openclaw",
    "const db=require('node:sqlite');/* SELECT entry FROM channel_pairing_allow_entries "
    "WHERE channel_key='telegram' */",
]


async def _allow_list(fly: Fly, machine_id: str) -> list[str]:
    answer = await fly.exec(machine_id, ALLOW_LIST_ARGV)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["exit_code"] == 0, result
    payload = json.loads(result["stdout"])
    assert result["stdout"] == json.dumps(payload, separators=(",", ":")) + "\n"
    assert payload["channel"] == "telegram"
    senders: list[str] = payload["allowFrom"]
    return senders


async def test_the_allow_list_read_shows_approved_senders_only(
    fly: Fly, machine: dict[str, Any]
) -> None:
    assert await _allow_list(fly, machine["id"]) == []
    code = await fly.pairing_code(machine["id"], sender_id=2002)
    await fly.pairing_code(machine["id"], sender_id=3003)
    assert await _allow_list(fly, machine["id"]) == []
    await fly.openclaw(machine["id"], "pairing", "approve", "telegram", code)
    assert await _allow_list(fly, machine["id"]) == ["2002"]


async def test_other_node_scripts_are_not_evaluated(fly: Fly, machine: dict[str, Any]) -> None:
    answer = await fly.exec(machine["id"], ["node", "-e", "console.log(1)"])
    assert answer.json()["exit_code"] == 1


async def test_expiring_a_code_leaves_nothing_to_approve_and_nobody_allowed(
    fly: Fly, machine: dict[str, Any]
) -> None:
    code = await fly.pairing_code(machine["id"], sender_id=2002)
    expired = await fly.control_post(f"machines/{machine['id']}/pairing-codes/expire", {})
    assert expired.json() == {"expired": [code]}
    approve = await fly.openclaw(machine["id"], "pairing", "approve", "telegram", code)
    assert approve["exit_code"] == 1
    assert approve["stderr"] == _not_found_reason(code)
    assert await _allow_list(fly, machine["id"]) == []


async def test_an_approve_killed_while_hanging_allows_nobody(
    fly: Fly, machine: dict[str, Any]
) -> None:
    code = await fly.pairing_code(machine["id"], sender_id=2002)
    await fly.control_post(
        "faults", {"exec_hang": {"machine_id": machine["id"], "match": "pairing approve"}}
    )
    hung = await fly.exec(
        machine["id"], [*OPENCLAW, "pairing", "approve", "telegram", code], timeout=1
    )
    assert hung.status_code == 408
    await fly.control_post("faults", {"clear": True})
    assert await _allow_list(fly, machine["id"]) == []


async def test_an_approve_that_hangs_after_applying_allows_the_sender(
    fly: Fly, machine: dict[str, Any]
) -> None:
    code = await fly.pairing_code(machine["id"], sender_id=2002)
    await fly.control_post(
        "faults",
        {"exec_hang": {"machine_id": machine["id"], "match": "pairing approve", "mode": "after"}},
    )
    hung = await fly.exec(
        machine["id"], [*OPENCLAW, "pairing", "approve", "telegram", code], timeout=1
    )
    assert hung.status_code == 408
    [record] = [r for r in await fly.exec_records() if "approve" in " ".join(r["argv"])]
    assert record["status"] == "hung"
    await fly.control_post("faults", {"clear": True})
    assert await _allow_list(fly, machine["id"]) == ["2002"]
    listed = await fly.openclaw(machine["id"], "pairing", "list", "telegram", "--json")
    assert json.loads(listed["stdout"])["requests"] == []
