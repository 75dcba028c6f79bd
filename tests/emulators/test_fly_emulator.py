"""The Fly emulator's Machines API over real HTTP: auth, apps, lifecycle, volumes, leases, limits.

Every exchange is also checked against the Fly OpenAPI spec (with its documented real-world
deviations) by the `fly_emulator_factory` fixture at teardown.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from test_fly_emulator_support import (
    APP,
    TOKEN,
    Fly,
    agent_config,
    http_client,
    open_fly,
)

from emulators.fly import FlyEmulator


@pytest.fixture
async def fly(fly_emulator_factory: Any) -> AsyncIterator[Fly]:
    emulator: FlyEmulator = await fly_emulator_factory(apps=(APP, "other"))
    async with open_fly(emulator) as client:
        yield client


# ----- auth -------------------------------------------------------------------------------


@pytest.mark.sends_invalid_requests
async def test_missing_or_empty_token_is_401_with_fly_error_body(fly: Fly) -> None:
    async with http_client(fly.emulator.base_url) as anonymous:
        missing = await anonymous.get(f"/apps/{APP}/machines")
        empty = await anonymous.get(f"/apps/{APP}/machines", headers={"Authorization": "Bearer"})
    for answer in (missing, empty):
        assert answer.status_code == 401
        assert isinstance(answer.json()["error"], str)
        assert answer.headers["fly-request-id"]


async def test_any_non_empty_token_works_without_configured_tokens(fly: Fly) -> None:
    for header in ("Bearer whatever", "FlyV1 fm2_something"):
        answer = await fly.api.get(f"/apps/{APP}", headers={"Authorization": header})
        assert answer.status_code == 200
        assert answer.json()["name"] == APP


async def test_configured_token_is_the_only_one_accepted(fly_emulator_factory: Any) -> None:
    emulator = await fly_emulator_factory(token="right-token", apps=("a", "b"))
    async with http_client(emulator.base_url) as client:
        good_a = await client.get("/apps/a", headers={"Authorization": "Bearer right-token"})
        good_b = await client.get("/apps/b", headers={"Authorization": "FlyV1 right-token"})
        wrong = await client.get("/apps/a", headers={"Authorization": "Bearer wrong-token"})
    assert (good_a.status_code, good_b.status_code, wrong.status_code) == (200, 200, 401)
    assert "error" in wrong.json()


async def test_app_token_is_valid_only_for_its_app(fly_emulator_factory: Any) -> None:
    emulator = await fly_emulator_factory(apps=("a", "b"), app_tokens={"a": "token-a"})
    async with http_client(
        emulator.base_url, headers={"Authorization": "Bearer token-a"}
    ) as client:
        own = await client.get("/apps/a/machines")
        other = await client.get("/apps/b/machines")
    assert own.status_code == 200
    assert other.status_code == 401
    assert "error" in other.json()


# ----- apps -------------------------------------------------------------------------------


async def test_create_app_answers_201_with_an_app_body(fly: Fly) -> None:
    answer = await fly.api.post("/apps", json={"app_name": "fresh-app", "org_slug": "acme"})
    assert answer.status_code == 201
    app = answer.json()
    assert app["name"] == "fresh-app"
    assert app["organization"]["slug"] == "acme"
    assert app["id"]
    again = await fly.api.post("/apps", json={"app_name": "fresh-app", "org_slug": "acme"})
    assert again.status_code == 422
    assert again.json()["status"] == "name_taken"
    assert (await fly.api.get("/apps/fresh-app")).status_code == 200


async def test_unknown_app_is_404_for_app_machine_and_volume_routes(fly: Fly) -> None:
    for path in ("/apps/nope", "/apps/nope/machines", "/apps/nope/volumes"):
        answer = await fly.api.get(path)
        assert answer.status_code == 404, path
        assert "error" in answer.json()


# ----- machine lifecycle ------------------------------------------------------------------


async def test_created_machine_moves_through_starting_to_started(fly: Fly) -> None:
    machine = await fly.create_machine()
    assert re.fullmatch(r"[0-9a-f]{14}", machine["id"])
    assert machine["state"] == "created"
    assert len(machine["instance_id"]) == 26
    assert machine["config"]["guest"]["memory_mb"] == 2048
    waited = await fly.wait(machine["id"])
    assert waited.status_code == 200
    assert waited.json()["ok"] is True
    assert waited.json()["state"] == "started"
    current = await fly.get_machine(machine["id"])
    assert current["state"] == "started"
    statuses = [event["status"] for event in reversed(current["events"])]
    assert statuses[:3] == ["created", "starting", "started"]


async def test_skip_launch_leaves_the_machine_created_until_started(fly: Fly) -> None:
    machine = await fly.create_machine(skip_launch=True)
    timed_out = await fly.wait(machine["id"], timeout=1)
    assert timed_out.status_code == 408
    assert timed_out.json()["error"].startswith("deadline_exceeded: ")
    assert (await fly.get_machine(machine["id"]))["state"] == "created"
    started = await fly.api.post(f"/apps/{APP}/machines/{machine['id']}/start")
    assert started.status_code == 200
    assert started.json()["previous_state"] == "created"
    assert (await fly.wait(machine["id"])).status_code == 200


async def test_start_of_a_started_machine_is_refused_412(fly: Fly) -> None:
    machine = await fly.started_machine()
    answer = await fly.api.post(f"/apps/{APP}/machines/{machine['id']}/start")
    assert answer.status_code == 412
    assert answer.json()["error"].startswith("failed_precondition:")


async def test_stop_start_and_restart_mint_instance_ids_as_fly_does(fly: Fly) -> None:
    machine = await fly.started_machine()
    first = machine["instance_id"]
    stopped = await fly.api.post(
        f"/apps/{APP}/machines/{machine['id']}/stop", json={"signal": "SIGTERM", "timeout": "5s"}
    )
    assert stopped.status_code == 200
    assert stopped.json() == {"ok": True}
    after_stop = await fly.get_machine(machine["id"])
    assert after_stop["instance_id"] == first
    waited = await fly.wait(machine["id"], "stopped", instance_id=first)
    assert waited.status_code == 200
    assert waited.json()["state"] == "stopped"
    started = await fly.api.post(f"/apps/{APP}/machines/{machine['id']}/start")
    assert started.json()["previous_state"] == "stopped"
    assert (await fly.wait(machine["id"])).status_code == 200
    second = (await fly.get_machine(machine["id"]))["instance_id"]
    assert second != first
    restarted = await fly.api.post(
        f"/apps/{APP}/machines/{machine['id']}/restart", params={"signal": "SIGTERM"}
    )
    assert restarted.status_code == 200
    assert (await fly.wait(machine["id"])).status_code == 200
    assert (await fly.get_machine(machine["id"]))["instance_id"] not in (first, second)


@pytest.mark.sends_invalid_requests
async def test_wait_for_stopped_without_instance_id_is_400(fly: Fly) -> None:
    machine = await fly.started_machine()
    await fly.api.post(f"/apps/{APP}/machines/{machine['id']}/stop")
    answer = await fly.wait(machine["id"], "stopped")
    assert answer.status_code == 400
    assert "instance_id" in answer.json()["error"]


@pytest.mark.sends_invalid_requests
async def test_wait_rejects_non_integer_timeout_and_unknown_state(fly: Fly) -> None:
    machine = await fly.create_machine()
    path = f"/apps/{APP}/machines/{machine['id']}/wait"
    assert (await fly.api.get(path, params={"timeout": "1.5"})).status_code == 400
    assert (await fly.api.get(path, params={"state": "sleeping"})).status_code == 400


async def test_wait_times_out_with_408_deadline_exceeded(fly: Fly) -> None:
    machine = await fly.started_machine()
    answer = await fly.wait(machine["id"], "destroyed", timeout=1)
    assert answer.status_code == 408
    assert re.fullmatch(
        r"deadline_exceeded: machine failed to reach desired state, destroyed, currently started",
        answer.json()["error"],
    )


async def test_destroy_of_a_started_machine_without_force_is_412(fly: Fly) -> None:
    machine = await fly.started_machine()
    refused = await fly.api.delete(f"/apps/{APP}/machines/{machine['id']}")
    assert refused.status_code == 412
    assert refused.json()["error"].startswith("failed_precondition:")
    forced = await fly.api.delete(f"/apps/{APP}/machines/{machine['id']}", params={"kill": "true"})
    assert forced.status_code == 200
    assert forced.json() == {"ok": True}
    assert (await fly.wait(machine["id"], "destroyed")).status_code == 200
    assert (await fly.get_machine(machine["id"]))["state"] == "destroyed"


async def test_destroyed_machine_answers_destroyed_then_404(fly: Fly) -> None:
    machine = await fly.create_machine(skip_launch=True)
    answer = await fly.api.delete(f"/apps/{APP}/machines/{machine['id']}")
    assert answer.status_code == 200
    assert (await fly.wait(machine["id"], "destroyed")).status_code == 200
    listed = (await fly.api.get(f"/apps/{APP}/machines")).json()
    assert machine["id"] not in [m["id"] for m in listed]
    with_deleted = await fly.api.get(f"/apps/{APP}/machines", params={"include_deleted": "true"})
    assert machine["id"] in [m["id"] for m in with_deleted.json()]

    async def gone() -> bool:
        answer = await fly.api.get(f"/apps/{APP}/machines/{machine['id']}")
        return answer.status_code == 404

    await fly.eventually(gone)


async def test_list_filters_by_state_metadata_region_and_summary(fly: Fly) -> None:
    config_b = agent_config(metadata={"agent_id": "tenant-a:user-2", "tenant": "tenant-a"})
    a = await fly.create_machine(skip_launch=True)
    b = await fly.create_machine(config=config_b, region="ams")
    await fly.wait(b["id"])

    async def ids(**params: str) -> set[str]:
        answer = await fly.api.get(f"/apps/{APP}/machines", params=params)
        assert answer.status_code == 200
        return {m["id"] for m in answer.json()}

    assert await ids() == {a["id"], b["id"]}
    assert await ids(state="created") == {a["id"]}
    assert await ids(state="created,started") == {a["id"], b["id"]}
    assert await ids(**{"metadata.tenant": "tenant-a"}) == {a["id"], b["id"]}
    both = {"metadata.tenant": "tenant-a", "metadata.agent_id": "tenant-a:user-2"}
    assert await ids(**both) == {b["id"]}
    assert await ids(**{"metadata.tenant": "tenant-b"}) == set()
    assert await ids(region="ams") == {b["id"]}
    summary = (await fly.api.get(f"/apps/{APP}/machines", params={"summary": "true"})).json()
    assert all("config" not in m and "events" not in m for m in summary)


# ----- validation -------------------------------------------------------------------------


@pytest.mark.sends_invalid_requests
@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"image": ""}, 422),
        ({"guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 1000}}, 422),
        ({"guest": {"cpu_kind": "gpu-ish", "cpus": 1, "memory_mb": 1024}}, 422),
        ({"restart": {"policy": "sometimes"}}, 422),
        ({"checks": [{"type": "tcp", "port": 3000}]}, 400),
        ({"checks": {"gw": {"type": "udp", "port": 3000}}}, 422),
        ({"checks": {"gw": {"type": "tcp", "port": 3000, "grace_period": "soon"}}}, 422),
        ({"env": {"PORT": 3000}}, 400),
        ({"metadata": {"n": 1}}, 400),
    ],
)
async def test_invalid_machine_config_is_refused(
    fly: Fly, change: dict[str, Any], status: int
) -> None:
    answer = await fly.api.post(f"/apps/{APP}/machines", json={"config": agent_config(**change)})
    assert answer.status_code == status
    assert answer.json()["error"]
    assert (await fly.api.get(f"/apps/{APP}/machines")).json() == []


# ----- update -----------------------------------------------------------------------------


async def test_update_restarts_a_running_machine_with_a_new_instance_id(fly: Fly) -> None:
    machine = await fly.started_machine()
    config = machine["config"]
    config["env"]["ALLOWED_SKILLS_JSON"] = '["linkhub-bridge"]'
    answer = await fly.api.post(
        f"/apps/{APP}/machines/{machine['id']}",
        json={"config": config, "current_version": machine["instance_id"]},
    )
    assert answer.status_code == 200
    updated = answer.json()
    assert updated["state"] == "updating"
    assert updated["instance_id"] != machine["instance_id"]
    assert updated["config"]["env"]["ALLOWED_SKILLS_JSON"] == '["linkhub-bridge"]'
    assert (await fly.wait(machine["id"])).status_code == 200


@pytest.mark.sends_invalid_requests
async def test_update_refuses_stale_version_renames_and_volume_swaps(fly: Fly) -> None:
    volume = (await fly.api.post(f"/apps/{APP}/volumes", json=_volume("first"))).json()
    other = (await fly.api.post(f"/apps/{APP}/volumes", json=_volume("second"))).json()
    machine = await fly.create_machine(
        config=agent_config(mounts=[{"volume": volume["id"], "path": "/data"}]), region="iad"
    )
    path = f"/apps/{APP}/machines/{machine['id']}"
    stale = await fly.api.post(path, json={"config": machine["config"], "current_version": "X"})
    assert stale.status_code == 409
    renamed = await fly.api.post(path, json={"config": machine["config"], "name": "new-name"})
    assert renamed.status_code == 400
    swapped_config = dict(machine["config"], mounts=[{"volume": other["id"], "path": "/data"}])
    swapped = await fly.api.post(path, json={"config": swapped_config})
    assert swapped.status_code == 400
    assert "volume" in swapped.json()["error"]


# ----- volumes ----------------------------------------------------------------------------


def _volume(name: str, region: str = "iad", size_gb: int = 1) -> dict[str, Any]:
    return {"name": name, "region": region, "size_gb": size_gb, "encrypted": True}


@pytest.mark.sends_invalid_requests
async def test_volume_rules_name_size_and_mount_preconditions(fly: Fly) -> None:
    bad_name = await fly.api.post(f"/apps/{APP}/volumes", json=_volume("Agent-Vol"))
    too_long = await fly.api.post(f"/apps/{APP}/volumes", json=_volume("a" * 31))
    bad_size = await fly.api.post(f"/apps/{APP}/volumes", json=_volume("ok_name", size_gb=0))
    assert (bad_name.status_code, too_long.status_code, bad_size.status_code) == (400, 400, 400)

    created = await fly.api.post(f"/apps/{APP}/volumes", json=_volume("agent_data"))
    assert created.status_code == 200
    volume = created.json()
    assert re.fullmatch(r"vol_[a-z0-9]{16}", volume["id"])
    assert volume["state"] == "created"
    assert volume["attached_machine_id"] is None

    mount = [{"volume": volume["id"], "path": "/data"}]
    machine = await fly.create_machine(config=agent_config(mounts=mount), region="iad")
    attached = (await fly.api.get(f"/apps/{APP}/volumes/{volume['id']}")).json()
    assert attached["attached_machine_id"] == machine["id"]

    twice = await fly.api.post(
        f"/apps/{APP}/machines", json={"config": agent_config(mounts=mount), "region": "iad"}
    )
    assert twice.status_code == 412
    assert twice.json()["error"].startswith("failed_precondition:")
    elsewhere = await fly.api.post(
        f"/apps/{APP}/machines", json={"config": agent_config(mounts=mount), "region": "ams"}
    )
    assert elsewhere.status_code == 412
    missing = [{"volume": "vol_0000000000000000", "path": "/data"}]
    unknown = await fly.api.post(
        f"/apps/{APP}/machines", json={"config": agent_config(mounts=missing)}
    )
    assert unknown.status_code == 412

    in_use = await fly.api.delete(f"/apps/{APP}/volumes/{volume['id']}")
    assert in_use.status_code == 412
    await fly.api.delete(f"/apps/{APP}/machines/{machine['id']}", params={"force": "true"})
    await fly.wait(machine["id"], "destroyed")
    deleted = await fly.api.delete(f"/apps/{APP}/volumes/{volume['id']}")
    assert deleted.status_code == 200
    assert (await fly.api.get(f"/apps/{APP}/volumes/{volume['id']}")).status_code == 404


async def test_snapshot_create_answers_empty_and_restores_into_a_new_volume(fly: Fly) -> None:
    volume = (await fly.api.post(f"/apps/{APP}/volumes", json=_volume("agent_data"))).json()
    mount = [{"volume": volume["id"], "path": "/data"}]
    machine = await fly.started_machine(config=agent_config(mounts=mount), region="iad")
    assert (await fly.openclaw(machine["id"], "models", "set", "openrouter/moonshotai/kimi-k2.5"))[
        "exit_code"
    ] == 0

    created = await fly.api.post(f"/apps/{APP}/volumes/{volume['id']}/snapshots")
    assert created.status_code == 200
    assert created.content == b""
    listing = (await fly.api.get(f"/apps/{APP}/volumes/{volume['id']}/snapshots")).json()
    assert len(listing) == 1
    snapshot = listing[0]
    assert snapshot["id"].startswith("vs_")
    assert snapshot["status"] in ("waiting", "running", "created")
    assert set(snapshot) >= {"id", "size", "digest", "created_at", "status", "retention_days"}

    async def snapshot_created() -> bool:
        answer = await fly.api.get(f"/apps/{APP}/volumes/{volume['id']}/snapshots")
        return bool(answer.json()[0]["status"] == "created")

    await fly.eventually(snapshot_created)

    await fly.api.delete(f"/apps/{APP}/machines/{machine['id']}", params={"force": "true"})
    await fly.wait(machine["id"], "destroyed")
    assert (await fly.api.delete(f"/apps/{APP}/volumes/{volume['id']}")).status_code == 200
    still_listed = await fly.api.get(f"/apps/{APP}/volumes/{volume['id']}/snapshots")
    assert [s["id"] for s in still_listed.json()] == [snapshot["id"]]

    restored = await fly.api.post(
        f"/apps/{APP}/volumes",
        json={"name": "agent_data", "region": "iad", "snapshot_id": snapshot["id"]},
    )
    assert restored.status_code == 200
    assert restored.json()["state"] == "restoring"
    new_volume = restored.json()["id"]

    async def volume_created() -> bool:
        answer = await fly.api.get(f"/apps/{APP}/volumes/{new_volume}")
        return bool(answer.json()["state"] == "created")

    await fly.eventually(volume_created)
    new_mount = [{"volume": new_volume, "path": "/data"}]
    again = await fly.started_machine(config=agent_config(mounts=new_mount), region="iad")
    status = await fly.openclaw(again["id"], "models", "status", "--plain")
    assert status["stdout"] == "openrouter/moonshotai/kimi-k2.5\n"


# ----- leases -----------------------------------------------------------------------------


async def test_lease_flow_wraps_answers_and_guards_mutations(fly: Fly) -> None:
    machine = await fly.started_machine()
    lease_path = f"/apps/{APP}/machines/{machine['id']}/lease"
    acquired = await fly.api.post(lease_path, json={"ttl": 60, "description": "pairing"})
    assert acquired.status_code == 201
    body = acquired.json()
    assert body["status"] == "success"
    lease = body["data"]
    assert isinstance(lease["expires_at"], int)
    assert lease["description"] == "pairing"
    assert lease["version"] == machine["instance_id"]

    held = await fly.api.post(lease_path, json={"ttl": 60})
    assert held.status_code == 409
    assert held.json()["status"] == "error"
    assert held.json()["message"]

    stop_path = f"/apps/{APP}/machines/{machine['id']}/stop"
    assert (await fly.api.post(stop_path)).status_code == 409
    wrong = {"fly-machine-lease-nonce": "not-the-nonce"}
    assert (await fly.api.post(stop_path, headers=wrong)).status_code == 409
    shown = await fly.api.get(lease_path)
    assert shown.json()["data"]["nonce"] == lease["nonce"]
    right = {"fly-machine-lease-nonce": lease["nonce"]}
    assert (await fly.api.post(stop_path, headers=right)).status_code == 200

    released = await fly.api.delete(lease_path, headers=right)
    assert released.status_code == 200
    assert released.json()["status"] == "success"
    assert (await fly.api.get(lease_path)).status_code == 404


@pytest.mark.sends_invalid_requests
async def test_lease_release_needs_the_nonce(fly: Fly) -> None:
    machine = await fly.create_machine(skip_launch=True)
    lease_path = f"/apps/{APP}/machines/{machine['id']}/lease"
    await fly.api.post(lease_path, params={"ttl": 30})
    assert (await fly.api.delete(lease_path)).status_code == 400


async def test_lease_expiry_follows_the_emulator_clock(fly: Fly) -> None:
    machine = await fly.create_machine(skip_launch=True, lease_ttl=30)
    assert machine["nonce"]
    start_path = f"/apps/{APP}/machines/{machine['id']}/start"
    assert (await fly.api.post(start_path)).status_code == 409
    await fly.control_post("clock", {"advance_s": 31})
    assert (await fly.api.post(start_path)).status_code == 200
    assert (await fly.api.get(f"/apps/{APP}/machines/{machine['id']}/lease")).status_code == 404


# ----- rate limits ------------------------------------------------------------------------


async def test_default_rate_limits_are_flys_published_ones(fly: Fly) -> None:
    await fly.set_rate_limits(True)
    limits = (await fly.control.get("/_emulator/rate-limits")).json()
    assert limits["enabled"] is True
    assert limits["default"] == {"rate": 1.0, "burst": 3.0}
    assert limits["actions"]["machine_get"] == {"rate": 5.0, "burst": 10.0}
    machine = await fly.create_machine(skip_launch=True)
    path = f"/apps/{APP}/machines/{machine['id']}/lease"
    first_three = [(await fly.api.get(path)).status_code for _ in range(3)]
    assert first_three == [404, 404, 404]


async def test_rate_limit_answers_429_with_retry_after_per_machine(fly: Fly) -> None:
    configured = await fly.control_post(
        "rate-limits",
        {"enabled": True, "actions": {"machine_find_lease": {"rate": 0.001, "burst": 2}}},
    )
    assert configured.status_code == 200
    first = await fly.create_machine(skip_launch=True)
    second = await fly.create_machine(skip_launch=True)
    first_path = f"/apps/{APP}/machines/{first['id']}/lease"
    answers = [await fly.api.get(first_path) for _ in range(3)]
    assert [a.status_code for a in answers] == [404, 404, 429]
    limited = answers[-1]
    assert limited.json() == {"error": "rate limit exceeded"}
    assert int(limited.headers["Retry-After"]) == 1000
    assert limited.headers["fly-request-id"]
    other_machine = await fly.api.get(f"/apps/{APP}/machines/{second['id']}/lease")
    assert other_machine.status_code == 404


async def test_get_machine_has_its_own_larger_bucket(fly: Fly) -> None:
    await fly.control_post(
        "rate-limits",
        {
            "enabled": True,
            "default": {"rate": 0.001, "burst": 3},
            "actions": {"machine_get": {"rate": 0.001, "burst": 10}},
        },
    )
    machine = await fly.create_machine(skip_launch=True)
    path = f"/apps/{APP}/machines/{machine['id']}"
    statuses = [(await fly.api.get(path)).status_code for _ in range(11)]
    assert statuses == [200] * 10 + [429]
    assert (await fly.api.get(f"{path}/lease")).status_code == 404


# ----- logs -------------------------------------------------------------------------------


async def test_logs_page_by_cursor_and_keep_the_cursor_when_nothing_is_new(fly: Fly) -> None:
    machine = await fly.started_machine()
    first = await fly.logs(machine["id"])
    assert first["data"]
    assert all(entry["type"] == "logs" for entry in first["data"])
    assert all(entry["attributes"]["instance"] == machine["id"] for entry in first["data"])
    cursor = first["meta"]["next_token"]
    nothing_new = await fly.logs(machine["id"], next_token=cursor)
    assert nothing_new["data"] == []
    assert nothing_new["meta"]["next_token"] == cursor

    await fly.api.post(f"/apps/{APP}/machines/{machine['id']}/restart")
    await fly.eventually(lambda: fly.gateway_listening(machine["id"]))
    after_restart = await fly.logs(machine["id"], next_token=cursor)
    messages = [entry["attributes"]["message"] for entry in after_restart["data"]]
    assert any("[gateway]" in m and "ready" in m for m in messages)
    assert after_restart["meta"]["next_token"] != cursor


async def test_logs_without_cursor_answer_the_latest_hundred(fly: Fly) -> None:
    # Without a gateway token the gateway refuses to bind and, with restart policy
    # "always", the machine restarts in a loop: plenty of log lines quickly.
    config = agent_config(env={"OPENCLAW_STATE_DIR": "/data/openclaw/state"})
    machine = await fly.create_machine(config=config)

    async def all_entries() -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        cursor = "0"
        while True:
            page = await fly.logs(machine["id"], next_token=cursor)
            if not page["data"]:
                return entries
            entries.extend(page["data"])
            cursor = page["meta"]["next_token"]

    async def plenty() -> bool:
        return len(await all_entries()) > 150

    await fly.eventually(plenty)
    await fly.api.post(f"/apps/{APP}/machines/{machine['id']}/stop")
    await fly.wait(machine["id"], "stopped", instance_id=machine["instance_id"])
    everything = await all_entries()
    latest = await fly.logs(machine["id"])
    assert [e["id"] for e in latest["data"]] == [e["id"] for e in everything[-100:]]
    first_page = await fly.logs(machine["id"], next_token="0")
    assert [e["id"] for e in first_page["data"]] == [e["id"] for e in everything[:100]]
    after_latest = await fly.logs(machine["id"], next_token=latest["meta"]["next_token"])
    assert after_latest["data"] == []


# ----- recording, reset and the control API -----------------------------------------------


async def test_requests_are_recorded_without_the_token(fly: Fly) -> None:
    machine = await fly.create_machine(skip_launch=True)
    await fly.api.post(
        f"/apps/{APP}/machines/{machine['id']}/metadata/owner", json={"value": "ops"}
    )
    records = (await fly.control.get("/_emulator/requests")).json()
    create = next(r for r in records if r["method"] == "POST" and r["path"].endswith("/machines"))
    assert create["token"] == TOKEN[:4] + "…"
    assert "authorization" not in create["headers"]
    assert create["request_body"]["config"]["image"]
    assert create["response_body"]["id"] == machine["id"]
    assert create["response_headers"]["fly-request-id"]
    metadata = records[-1]
    assert metadata["status"] == 204
    assert metadata["response_body"] is None
    assert TOKEN not in str(records)
    later = (await fly.control.get("/_emulator/requests", params={"since": create["seq"]})).json()
    assert [r["seq"] for r in later] == [r["seq"] for r in records if r["seq"] > create["seq"]]


async def test_metadata_routes_edit_the_config_metadata(fly: Fly) -> None:
    machine = await fly.create_machine(skip_launch=True)
    base = f"/apps/{APP}/machines/{machine['id']}/metadata"
    assert (await fly.api.post(f"{base}/op", json={"value": "op-1"})).status_code == 204
    assert (await fly.api.get(base)).json()["op"] == "op-1"
    assert (await fly.api.get(f"{base}/op")).json() == {"value": "op-1"}
    assert (await fly.api.delete(f"{base}/op")).status_code == 204
    assert "op" not in (await fly.api.get(base)).json()
    listed = await fly.api.get(f"/apps/{APP}/machines", params={"metadata.op": "op-1"})
    assert listed.json() == []


async def test_reset_forgets_machines_records_and_faults(fly: Fly) -> None:
    await fly.create_machine(skip_launch=True)
    await fly.control_post("faults", {"route": {"path_regex": "volumes$"}, "status": 503})
    assert (await fly.control_post("reset")).json() == {"ok": True}
    await fly.set_rate_limits(False)
    assert (await fly.api.get(f"/apps/{APP}/machines")).json() == []
    assert (await fly.api.get(f"/apps/{APP}/volumes")).status_code == 200
    assert [r["path"] for r in (await fly.control.get("/_emulator/requests")).json()] == [
        f"/v1/apps/{APP}/machines",
        f"/v1/apps/{APP}/volumes",
    ]


async def test_events_route_answers_newest_first_with_limit(fly: Fly) -> None:
    machine = await fly.started_machine()
    events = (
        await fly.api.get(f"/apps/{APP}/machines/{machine['id']}/events", params={"limit": 2})
    ).json()
    assert len(events) == 2
    assert events[0]["timestamp"] >= events[1]["timestamp"]
    assert events[0]["status"] == "started"


async def test_app_secrets_reach_a_machine_at_its_next_boot(fly: Fly) -> None:
    env = {k: v for k, v in agent_config()["env"].items() if k != "OPENCLAW_GATEWAY_TOKEN"}
    machine = await fly.create_machine(config=agent_config(env=env, restart={"policy": "no"}))
    stopped = await fly.wait(machine["id"], "stopped", instance_id=machine["instance_id"])
    assert stopped.status_code == 200
    updated = await fly.api.post(
        f"/apps/{APP}/secrets", json={"values": {"OPENCLAW_GATEWAY_TOKEN": "from-a-secret"}}
    )
    assert updated.status_code == 200
    assert updated.json()["version"] == 1
    listed = (await fly.api.get(f"/apps/{APP}/secrets")).json()["secrets"]
    assert [s["name"] for s in listed] == ["OPENCLAW_GATEWAY_TOKEN"]
    assert "value" not in listed[0]
    shown = await fly.api.get(
        f"/apps/{APP}/secrets/OPENCLAW_GATEWAY_TOKEN", params={"show_secrets": "true"}
    )
    assert shown.json()["value"] == "from-a-secret"
    await fly.api.post(f"/apps/{APP}/machines/{machine['id']}/start")
    await fly.eventually(lambda: fly.gateway_listening(machine["id"]))
    deleted = await fly.api.delete(f"/apps/{APP}/secrets/OPENCLAW_GATEWAY_TOKEN")
    assert deleted.json() == {"version": 2}
    assert (await fly.api.get(f"/apps/{APP}/secrets/OPENCLAW_GATEWAY_TOKEN")).status_code == 404


async def test_suspend_then_start_resumes_and_cordon_answers_empty(fly: Fly) -> None:
    machine = await fly.started_machine()
    base = f"/apps/{APP}/machines/{machine['id']}"
    for action in ("cordon", "uncordon"):
        answer = await fly.api.post(f"{base}/{action}")
        assert (answer.status_code, answer.content) == (200, b"")
    suspended = await fly.api.post(f"{base}/suspend")
    assert (suspended.status_code, suspended.content) == (200, b"")
    assert (await fly.wait(machine["id"], "suspended")).status_code == 200
    started = await fly.api.post(f"{base}/start")
    assert started.json()["previous_state"] == "suspended"
    assert (await fly.wait(machine["id"])).status_code == 200


async def test_apps_are_listed_by_organization(fly: Fly) -> None:
    await fly.api.post("/apps", json={"app_name": "acme-agents", "org_slug": "acme"})
    personal = (await fly.api.get("/apps", params={"org_slug": "personal"})).json()
    assert {a["name"] for a in personal["apps"]} == {APP, "other"}
    assert personal["total_apps"] == 2
    acme = (await fly.api.get("/apps", params={"org_slug": "acme"})).json()
    assert [a["name"] for a in acme["apps"]] == ["acme-agents"]


async def test_forked_volume_hydrates_with_the_source_contents(fly: Fly) -> None:
    source = (await fly.api.post(f"/apps/{APP}/volumes", json=_volume("source"))).json()
    forked = await fly.api.post(
        f"/apps/{APP}/volumes",
        json={"name": "fork", "region": "iad", "source_volume_id": source["id"]},
    )
    assert forked.status_code == 200
    assert forked.json()["state"] == "hydrating"
    assert forked.json()["size_gb"] == source["size_gb"]
    listed = (await fly.api.get(f"/apps/{APP}/volumes")).json()
    assert {v["id"] for v in listed} == {source["id"], forked.json()["id"]}
