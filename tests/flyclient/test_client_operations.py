"""Each FlyClient operation: the request it sends and how it reads the answer.

Fly is played by an `httpx.MockTransport` with per-route answers, for shapes and failures the
emulator cannot produce on demand (empty bodies, unreadable answers, lost answers mid-create).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from flyclient.client import FlyClient
from flyclient.errors import (
    ExecOutcomeUnknownError,
    FlyError,
    InsufficientCapacityError,
    LeaseHeldError,
    PreconditionFailedError,
    ServerError,
    ValidationError,
    VolumeAttachedError,
    WaitTimeoutError,
)
from flyclient.machines import OP_ID_METADATA_KEY
from flyclient.models import (
    MachineCheck,
    MachineConfig,
    MachineGuest,
    MachineMount,
    MachinePort,
    MachineRestart,
    MachineService,
    StopConfig,
)
from flyclient.ratelimit import RateLimits
from flyclient.retry import RetryPolicy

MACHINE_ID = "1781973f5e4389"
APP_PATH = "/v1/apps/agents"
MACHINE_PATH = f"{APP_PATH}/machines/{MACHINE_ID}"

Answer = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class FakeFly:
    """Routes (method, path) to answers given per test; a list of answers is used in order."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Answer]] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, *answers: Answer) -> None:
        self.routes[(method, path)] = list(answers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answers = self.routes.get((request.method, raw_path(request)))
        if not answers:
            return httpx.Response(404, json={"error": f"no route {request.url.path}"})
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return answer(request)

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and raw_path(r) == path]


def raw_path(request: httpx.Request) -> str:
    """The path as sent, percent-escapes intact (so quoting of path segments is visible)."""
    return request.url.raw_path.split(b"?", 1)[0].decode()


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


def machine_json(**fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": MACHINE_ID,
        "name": "agent-1",
        "state": "created",
        "region": "ams",
        "instance_id": "01HINSTANCE",
        "private_ip": "fdaa::3",
        "created_at": "2026-05-07T12:00:00Z",
        "updated_at": "2026-05-07T12:00:00Z",
        "config": {"image": "openclaw:1", "metadata": {}},
    }
    payload.update(fields)
    return payload


@pytest.fixture
async def fake() -> FakeFly:
    return FakeFly()


@pytest.fixture
async def fly(fake: FakeFly) -> Any:
    async with FlyClient(
        token="fo1_test",
        app="agents",
        machines_url="http://fly.test/v1/",
        logs_url="http://logs.test",
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(fake)),
        rate_limits=RateLimits.disabled(),
        retry_policy=RetryPolicy(max_attempts=3, base_delay_s=0.001, max_delay_s=0.002),
    ) as client:
        yield client


def agent_config() -> MachineConfig:
    return MachineConfig(
        image="registry.fly.io/openclaw:2026.5",
        env={"OPENCLAW_STATE_DIR": "/data"},
        metadata={"agent_id": "a1"},
        guest=MachineGuest(cpu_kind="shared", cpus=2, memory_mb=2048),
        restart=MachineRestart(policy="on-failure", max_retries=3),
        mounts=[MachineMount(volume="vol_123", path="/data")],
        services=[
            MachineService(
                protocol="tcp",
                internal_port=18789,
                ports=[MachinePort(port=443, handlers=["tls", "http"])],
                autostart=False,
            )
        ],
        checks={
            "gateway": MachineCheck(
                type="tcp", port=18789, interval="15s", timeout="2s", grace_period="240s"
            )
        },
        stop_config=StopConfig(timeout="30s", signal="SIGTERM"),
    )


# --- create -----------------------------------------------------------------------------


async def test_create_sends_the_config_without_nulls_and_tags_it_with_an_op_id(
    fake: FakeFly, fly: FlyClient
) -> None:
    fake.on("POST", f"{APP_PATH}/machines", lambda r: httpx.Response(200, json=machine_json()))
    machine = await fly.create_machine(agent_config(), name="agent-1", region="ams")
    sent = body_of(fake.requests[0])
    assert machine.id == MACHINE_ID
    assert sent["name"] == "agent-1"
    assert sent["region"] == "ams"
    assert "skip_launch" not in sent
    assert "lease_ttl" not in sent
    assert sent["config"]["metadata"]["agent_id"] == "a1"
    assert len(sent["config"]["metadata"][OP_ID_METADATA_KEY]) == 32
    assert sent["config"]["checks"]["gateway"] == {
        "type": "tcp",
        "port": 18789,
        "interval": "15s",
        "timeout": "2s",
        "grace_period": "240s",
    }
    assert "null" not in fake.requests[0].content.decode()


async def test_create_uses_the_callers_op_id_and_leaves_the_callers_config_alone(
    fake: FakeFly, fly: FlyClient
) -> None:
    fake.on("POST", f"{APP_PATH}/machines", httpx.Response(200, json=machine_json()))
    config = agent_config()
    await fly.create_machine(config, op_id="journal-op-42", skip_launch=True, lease_ttl_s=30)
    sent = body_of(fake.requests[0])
    assert sent["config"]["metadata"][OP_ID_METADATA_KEY] == "journal-op-42"
    assert sent["skip_launch"] is True
    assert sent["lease_ttl"] == 30
    assert OP_ID_METADATA_KEY not in config.metadata


async def test_create_that_failed_after_taking_effect_returns_the_machine_without_resending(
    fake: FakeFly, fly: FlyClient
) -> None:
    created: list[dict[str, Any]] = []

    def create_then_fail(request: httpx.Request) -> httpx.Response:
        created.append(machine_json(config=body_of(request)["config"]))
        return httpx.Response(502, text="bad gateway")

    def list_by_metadata(request: httpx.Request) -> httpx.Response:
        wanted = request.url.params.get(f"metadata.{OP_ID_METADATA_KEY}")
        return httpx.Response(
            200,
            json=[m for m in created if m["config"]["metadata"][OP_ID_METADATA_KEY] == wanted],
        )

    fake.on("POST", f"{APP_PATH}/machines", create_then_fail)
    fake.on("GET", f"{APP_PATH}/machines", list_by_metadata)
    machine = await fly.create_machine(agent_config(), op_id="op-1")
    assert machine.id == MACHINE_ID
    assert len(fake.sent("POST", f"{APP_PATH}/machines")) == 1


async def test_create_that_failed_without_effect_is_sent_again(
    fake: FakeFly, fly: FlyClient
) -> None:
    fake.on(
        "POST",
        f"{APP_PATH}/machines",
        httpx.Response(500, json={"error": "internal"}),
        httpx.Response(200, json=machine_json()),
    )
    fake.on("GET", f"{APP_PATH}/machines", httpx.Response(200, json=[]))
    machine = await fly.create_machine(agent_config())
    assert machine.id == MACHINE_ID
    posts = fake.sent("POST", f"{APP_PATH}/machines")
    assert len(posts) == 2
    op_ids = {body_of(p)["config"]["metadata"][OP_ID_METADATA_KEY] for p in posts}
    assert len(op_ids) == 1, "the resent create carries the same op id"


async def test_create_whose_answer_timed_out_and_whose_resend_hits_the_name_is_found(
    fake: FakeFly, fly: FlyClient
) -> None:
    lists = [httpx.Response(200, json=[])]

    def listing(request: httpx.Request) -> httpx.Response:
        if lists:
            return lists.pop()
        config = {"metadata": {OP_ID_METADATA_KEY: "op-7"}}
        return httpx.Response(200, json=[machine_json(config=config)])

    fake.on(
        "POST",
        f"{APP_PATH}/machines",
        httpx.ReadTimeout("no answer"),
        httpx.Response(422, json={"error": "name taken", "status": "name_taken"}),
    )
    fake.on("GET", f"{APP_PATH}/machines", listing)
    machine = await fly.create_machine(agent_config(), name="agent-1", op_id="op-7")
    assert machine.id == MACHINE_ID


async def test_create_resend_refused_for_a_name_that_is_not_ours_is_final(
    fake: FakeFly, fly: FlyClient
) -> None:
    fake.on(
        "POST",
        f"{APP_PATH}/machines",
        httpx.Response(503, json={"error": "unavailable"}),
        httpx.Response(422, json={"error": "name taken", "status": "name_taken"}),
    )
    fake.on("GET", f"{APP_PATH}/machines", httpx.Response(200, json=[]))
    with pytest.raises(ValidationError) as caught:
        await fly.create_machine(agent_config(), name="agent-1")
    assert caught.value.api_status == "name_taken"
    assert len(fake.sent("POST", f"{APP_PATH}/machines")) == 2


async def test_create_refused_as_invalid_is_raised_without_looking_for_it(
    fake: FakeFly, fly: FlyClient
) -> None:
    fake.on("POST", f"{APP_PATH}/machines", httpx.Response(422, json={"error": "bad image"}))
    with pytest.raises(ValidationError):
        await fly.create_machine(agent_config())
    assert fake.sent("GET", f"{APP_PATH}/machines") == []


async def test_create_gives_up_after_the_create_attempts(fake: FakeFly, fly: FlyClient) -> None:
    fake.on("POST", f"{APP_PATH}/machines", httpx.Response(503, json={"error": "down"}))
    fake.on("GET", f"{APP_PATH}/machines", httpx.Response(200, json=[]))
    with pytest.raises(ServerError):
        await fly.create_machine(agent_config())
    assert len(fake.sent("POST", f"{APP_PATH}/machines")) == fly.retry_policy.create_attempts


async def test_machine_found_by_op_id_must_really_carry_it(fake: FakeFly, fly: FlyClient) -> None:
    # An API that ignored the metadata filter would list every machine.
    fake.on("GET", f"{APP_PATH}/machines", httpx.Response(200, json=[machine_json()]))
    assert await fly.find_machine_by_op_id("op-unknown") is None


# --- list, get, update, lifecycle --------------------------------------------------------


async def test_list_sends_filters_as_fly_expects(fake: FakeFly, fly: FlyClient) -> None:
    fake.on("GET", f"{APP_PATH}/machines", httpx.Response(200, json=[machine_json()]))
    machines = await fly.list_machines(
        state=["started", "stopped"],
        metadata={"agent_id": "a1", "tenant": "t1"},
        include_deleted=True,
        region="ams",
        summary=True,
    )
    params = dict(fake.requests[0].url.params)
    assert params == {
        "state": "started,stopped",
        "metadata.agent_id": "a1",
        "metadata.tenant": "t1",
        "include_deleted": "true",
        "region": "ams",
        "summary": "true",
    }
    assert [m.id for m in machines] == [MACHINE_ID]


async def test_nulls_in_answers_read_as_absent_and_unknown_fields_survive(
    fake: FakeFly, fly: FlyClient
) -> None:
    answer = machine_json(
        checks=None,
        events=None,
        nonce=None,
        config={"image": "x", "env": None, "init": {"cmd": ["sleep"]}, "mounts": None},
        incomplete_config=None,
        something_new={"a": 1},
    )
    fake.on("GET", MACHINE_PATH, httpx.Response(200, json=answer))
    machine = await fly.get_machine(MACHINE_ID)
    assert machine.checks == []
    assert machine.config is not None
    assert machine.config.env == {}
    assert machine.config.to_api() == {
        "image": "x",
        "env": {},
        "metadata": {},
        "mounts": [],
        "services": [],
        "checks": {},
        "init": {"cmd": ["sleep"]},
    }


async def test_update_sends_the_whole_config_version_and_lease_nonce(
    fake: FakeFly, fly: FlyClient
) -> None:
    fake.on("POST", MACHINE_PATH, httpx.Response(200, json=machine_json(instance_id="01HNEW")))
    config = agent_config()
    updated = await fly.update_machine(
        MACHINE_ID, config, current_version="01HINSTANCE", lease_nonce="n-1"
    )
    sent = fake.requests[0]
    assert body_of(sent) == {"config": config.to_api(), "current_version": "01HINSTANCE"}
    assert sent.headers["fly-machine-lease-nonce"] == "n-1"
    assert updated.instance_id == "01HNEW"


async def test_stop_sends_signal_and_timeout_only_when_given(fake: FakeFly, fly: FlyClient) -> None:
    fake.on("POST", f"{MACHINE_PATH}/stop", httpx.Response(200, json={"ok": True}))
    await fly.stop(MACHINE_ID, signal="SIGTERM", timeout_s=10)
    await fly.stop(MACHINE_ID)
    assert body_of(fake.requests[0]) == {"signal": "SIGTERM", "timeout": "10s"}
    assert fake.requests[1].content == b""


async def test_start_returns_fly_answer(fake: FakeFly, fly: FlyClient) -> None:
    fake.on(
        "POST", f"{MACHINE_PATH}/start", httpx.Response(200, json={"previous_state": "stopped"})
    )
    assert await fly.start(MACHINE_ID, lease_nonce="n") == {"previous_state": "stopped"}
    assert fake.requests[0].headers["fly-machine-lease-nonce"] == "n"


async def test_start_resent_after_a_lost_answer_and_refused_as_active_is_a_success(
    fake: FakeFly, fly: FlyClient
) -> None:
    still_active = {"error": "failed_precondition: machine still active, refusing to start"}
    fake.on(
        "POST",
        f"{MACHINE_PATH}/start",
        httpx.Response(502, text="bad gateway"),
        httpx.Response(412, json=still_active),
    )
    fake.on("GET", MACHINE_PATH, httpx.Response(200, json=machine_json(state="started")))
    assert await fly.start(MACHINE_ID) == {}
    assert len(fake.sent("POST", f"{MACHINE_PATH}/start")) == 2


async def test_start_refused_at_the_first_send_is_raised(fake: FakeFly, fly: FlyClient) -> None:
    no_room = {"error": "failed_precondition: insufficient resources to start machine"}
    fake.on("POST", f"{MACHINE_PATH}/start", httpx.Response(412, json=no_room))
    with pytest.raises(PreconditionFailedError) as caught:
        await fly.start(MACHINE_ID)
    assert isinstance(caught.value, InsufficientCapacityError)
    assert fake.sent("GET", MACHINE_PATH) == []


async def test_restart_and_destroy_send_their_options_in_the_query(
    fake: FakeFly, fly: FlyClient
) -> None:
    fake.on("POST", f"{MACHINE_PATH}/restart", httpx.Response(200))
    fake.on("DELETE", MACHINE_PATH, httpx.Response(200, json={"ok": True}))
    await fly.restart(MACHINE_ID, timeout_s=1.5, signal="SIGINT")
    await fly.destroy(MACHINE_ID, force=True)
    await fly.destroy(MACHINE_ID)
    assert dict(fake.requests[0].url.params) == {"timeout": "1.5s", "signal": "SIGINT"}
    assert dict(fake.requests[1].url.params) == {"force": "true"}
    assert dict(fake.requests[2].url.params) == {}


async def test_unreadable_answer_is_a_fly_error(fake: FakeFly, fly: FlyClient) -> None:
    fake.on("GET", MACHINE_PATH, httpx.Response(200, text="<html>oops</html>"))
    with pytest.raises(FlyError, match="not JSON"):
        await fly.get_machine(MACHINE_ID)
    fake.on("GET", MACHINE_PATH, httpx.Response(200, json={"state": "started"}))
    with pytest.raises(FlyError, match="unexpected Machine"):
        await fly.get_machine(MACHINE_ID)


# --- wait --------------------------------------------------------------------------------


async def test_wait_is_true_on_200_and_false_on_408(fake: FakeFly, fly: FlyClient) -> None:
    fake.on(
        "GET",
        f"{MACHINE_PATH}/wait",
        httpx.Response(200, json={"ok": True}),
        httpx.Response(408, json={"error": "deadline exceeded"}),
    )
    assert await fly.wait(MACHINE_ID, "started", timeout_s=5) is True
    assert await fly.wait(MACHINE_ID, "started", timeout_s=5) is False
    assert dict(fake.requests[0].url.params) == {"state": "started", "timeout": "5"}


@pytest.mark.parametrize(("asked", "sent"), [(0.2, "1"), (30.7, "30"), (600, "60")])
async def test_wait_timeout_is_clamped_to_what_fly_accepts(
    fake: FakeFly, fly: FlyClient, asked: float, sent: str
) -> None:
    fake.on("GET", f"{MACHINE_PATH}/wait", httpx.Response(200, json={"ok": True}))
    await fly.wait(MACHINE_ID, timeout_s=asked)
    assert fake.requests[0].url.params["timeout"] == sent


async def test_waiting_for_stopped_reads_the_instance_id_first(
    fake: FakeFly, fly: FlyClient
) -> None:
    fake.on("GET", MACHINE_PATH, httpx.Response(200, json=machine_json(state="stopping")))
    fake.on(
        "GET",
        f"{MACHINE_PATH}/wait",
        httpx.Response(408, json={"error": "timeout"}),
        httpx.Response(200, json={"ok": True}),
    )
    await fly.wait_for_state(MACHINE_ID, "stopped", deadline_s=30)
    waits = fake.sent("GET", f"{MACHINE_PATH}/wait")
    assert len(waits) == 2
    assert all(w.url.params["instance_id"] == "01HINSTANCE" for w in waits)


async def test_wait_for_state_raises_at_the_deadline(fake: FakeFly, fly: FlyClient) -> None:
    fake.on("GET", f"{MACHINE_PATH}/wait", httpx.Response(408, json={"error": "timeout"}))
    with pytest.raises(WaitTimeoutError, match="did not reach 'started'"):
        await fly.wait_for_state(MACHINE_ID, "started", deadline_s=0.05)


async def test_waiting_for_destroyed_accepts_a_machine_that_is_gone(
    fake: FakeFly, fly: FlyClient
) -> None:
    fake.on("GET", f"{MACHINE_PATH}/wait", httpx.Response(404, json={"error": "not found"}))
    await fly.wait_for_state(MACHINE_ID, "destroyed", deadline_s=5)


# --- exec --------------------------------------------------------------------------------


async def test_exec_sends_argv_and_clamped_timeout_and_reads_a_failed_command(
    fake: FakeFly, fly: FlyClient
) -> None:
    fake.on(
        "POST",
        f"{MACHINE_PATH}/exec",
        httpx.Response(200, json={"stdout": "", "stderr": "unknown code\n", "exit_code": 3}),
    )
    result = await fly.exec(
        MACHINE_ID, ["node", "openclaw.mjs", "pairing", "approve"], timeout_s=300
    )
    assert body_of(fake.requests[0]) == {
        "command": ["node", "openclaw.mjs", "pairing", "approve"],
        "timeout": 60,
    }
    assert result.exit_code == 3
    assert result.stderr == "unknown code\n"
    assert not result.succeeded


async def test_exec_answer_without_exit_code_means_success(fake: FakeFly, fly: FlyClient) -> None:
    fake.on("POST", f"{MACHINE_PATH}/exec", httpx.Response(200, json={"stdout": "ok\n"}))
    result = await fly.exec(MACHINE_ID, ["true"], timeout_s=0.1)
    assert body_of(fake.requests[0])["timeout"] == 1
    assert result.exit_code == 0
    assert result.succeeded


@pytest.mark.parametrize(
    "lost",
    [
        httpx.Response(500, json={"error": "internal"}),
        httpx.Response(408, json={"error": "deadline exceeded"}),
        httpx.ReadTimeout("no answer"),
        httpx.RemoteProtocolError("server disconnected"),
    ],
    ids=["500", "408", "read-timeout", "dropped"],
)
async def test_exec_with_a_lost_answer_is_unknown_and_never_resent(
    fake: FakeFly, fly: FlyClient, lost: Answer
) -> None:
    fake.on("POST", f"{MACHINE_PATH}/exec", lost, httpx.Response(200, json={"exit_code": 0}))
    with pytest.raises(ExecOutcomeUnknownError) as caught:
        await fly.exec(MACHINE_ID, ["openclaw", "pairing", "approve", "ABCD"])
    assert len(fake.requests) == 1
    assert caught.value.maybe_applied


async def test_exec_refused_before_running_is_an_ordinary_error(
    fake: FakeFly, fly: FlyClient
) -> None:
    fake.on(
        "POST", f"{MACHINE_PATH}/exec", httpx.Response(412, json={"error": "machine not started"})
    )
    with pytest.raises(FlyError) as caught:
        await fly.exec(MACHINE_ID, ["true"])
    assert not isinstance(caught.value, ExecOutcomeUnknownError)


async def test_exec_refuses_a_shell_string(fly: FlyClient) -> None:
    with pytest.raises(TypeError, match="argument vector"):
        await fly.exec(MACHINE_ID, "rm -rf /")


# --- leases and metadata -----------------------------------------------------------------


LEASE = {
    "nonce": "a1b2c3",
    "expires_at": 1778155200,
    "owner": "ops@example.com",
    "description": "pairing",
    "version": "01HVERSION",
}


async def test_lease_is_read_from_the_wrapped_answer(fake: FakeFly, fly: FlyClient) -> None:
    fake.on(
        "POST",
        f"{MACHINE_PATH}/lease",
        httpx.Response(200, json={"status": "success", "data": LEASE}),
    )
    lease = await fly.acquire_lease(MACHINE_ID, 30, description="pairing")
    assert body_of(fake.requests[0]) == {"ttl": 30, "description": "pairing"}
    assert (lease.nonce, lease.expires_at, lease.owner) == ("a1b2c3", 1778155200, "ops@example.com")


async def test_lease_refresh_and_release_present_the_nonce(fake: FakeFly, fly: FlyClient) -> None:
    fake.on(
        "POST",
        f"{MACHINE_PATH}/lease",
        httpx.Response(200, json={"status": "success", "data": LEASE}),
    )
    fake.on("DELETE", f"{MACHINE_PATH}/lease", httpx.Response(200, json={"status": "success"}))
    fake.on("GET", f"{MACHINE_PATH}/lease", httpx.Response(200, json=LEASE))
    await fly.refresh_lease(MACHINE_ID, "a1b2c3", 60)
    await fly.release_lease(MACHINE_ID, "a1b2c3")
    current = await fly.get_lease(MACHINE_ID)
    assert fake.requests[0].headers["fly-machine-lease-nonce"] == "a1b2c3"
    assert body_of(fake.requests[0]) == {"ttl": 60}
    assert fake.requests[1].headers["fly-machine-lease-nonce"] == "a1b2c3"
    assert current.nonce == "a1b2c3"


async def test_lease_held_by_someone_else_raises_lease_held(fake: FakeFly, fly: FlyClient) -> None:
    held = {"status": "error", "message": "lease currently held", "code": "conflict"}
    fake.on("POST", f"{MACHINE_PATH}/lease", httpx.Response(409, json=held))
    with pytest.raises(LeaseHeldError):
        await fly.acquire_lease(MACHINE_ID, 30)


async def test_metadata_get_set_delete(fake: FakeFly, fly: FlyClient) -> None:
    fake.on("GET", f"{MACHINE_PATH}/metadata", httpx.Response(200, json={"agent_id": "a1"}))
    fake.on("POST", f"{MACHINE_PATH}/metadata/tenant%2Fid", httpx.Response(204))
    fake.on("DELETE", f"{MACHINE_PATH}/metadata/tenant%2Fid", httpx.Response(204))
    assert await fly.get_metadata(MACHINE_ID) == {"agent_id": "a1"}
    await fly.set_metadata(MACHINE_ID, "tenant/id", "t1")
    await fly.delete_metadata(MACHINE_ID, "tenant/id")
    assert body_of(fake.requests[1]) == {"value": "t1"}
    assert [r.method for r in fake.requests] == ["GET", "POST", "DELETE"]


# --- apps --------------------------------------------------------------------------------


async def test_create_app_with_an_empty_answer_reads_the_app(fake: FakeFly, fly: FlyClient) -> None:
    fake.on("POST", "/v1/apps", httpx.Response(201))
    fake.on("GET", "/v1/apps/tenant-b", httpx.Response(200, json={"name": "tenant-b"}))
    app = await fly.create_app("tenant-b", "personal")
    assert body_of(fake.requests[0]) == {"app_name": "tenant-b", "org_slug": "personal"}
    assert app.name == "tenant-b"


async def test_create_app_whose_answer_was_lost_finds_the_app(
    fake: FakeFly, fly: FlyClient
) -> None:
    fake.on("POST", "/v1/apps", httpx.Response(504, text="gateway timeout"))
    fake.on("GET", "/v1/apps/tenant-b", httpx.Response(200, json={"name": "tenant-b"}))
    app = await fly.create_app("tenant-b", "personal")
    assert app.name == "tenant-b"
    assert len(fake.sent("POST", "/v1/apps")) == 1


# --- volumes and snapshots ---------------------------------------------------------------


def volume_json(volume_id: str, name: str = "agent_a1", **fields: Any) -> dict[str, Any]:
    payload = {
        "id": volume_id,
        "name": name,
        "state": "created",
        "region": "ams",
        "size_gb": 1,
        "encrypted": True,
        "attached_machine_id": None,
        "created_at": "2026-05-07T12:00:00Z",
    }
    payload.update(fields)
    return payload


async def test_volume_create_sends_the_fields_given(fake: FakeFly, fly: FlyClient) -> None:
    fake.on("GET", f"{APP_PATH}/volumes", httpx.Response(200, json=[]))
    fake.on("POST", f"{APP_PATH}/volumes", httpx.Response(200, json=volume_json("vol_1")))
    volume = await fly.create_volume("agent_a1", "ams", 1, snapshot_id="vs_9")
    assert body_of(fake.sent("POST", f"{APP_PATH}/volumes")[0]) == {
        "name": "agent_a1",
        "region": "ams",
        "size_gb": 1,
        "encrypted": True,
        "snapshot_id": "vs_9",
    }
    assert volume.attached_machine_id is None


async def test_volume_create_whose_answer_was_lost_returns_the_new_volume_by_name(
    fake: FakeFly, fly: FlyClient
) -> None:
    older = volume_json("vol_old", created_at="2026-01-01T00:00:00Z")
    fake.on(
        "GET",
        f"{APP_PATH}/volumes",
        httpx.Response(200, json=[older]),
        httpx.Response(200, json=[older, volume_json("vol_new")]),
    )
    fake.on("POST", f"{APP_PATH}/volumes", httpx.Response(500, json={"error": "internal"}))
    volume = await fly.create_volume("agent_a1", "ams", 1)
    assert volume.id == "vol_new"
    assert len(fake.sent("POST", f"{APP_PATH}/volumes")) == 1


async def test_volume_create_lost_without_effect_is_sent_again_and_old_namesakes_ignored(
    fake: FakeFly, fly: FlyClient
) -> None:
    older = volume_json("vol_old")
    fake.on("GET", f"{APP_PATH}/volumes", httpx.Response(200, json=[older]))
    fake.on(
        "POST",
        f"{APP_PATH}/volumes",
        httpx.ReadTimeout("lost"),
        httpx.Response(200, json=volume_json("vol_2")),
    )
    volume = await fly.create_volume("agent_a1", "ams", 1)
    assert volume.id == "vol_2"
    assert len(fake.sent("POST", f"{APP_PATH}/volumes")) == 2


async def test_snapshot_create_with_an_empty_answer_returns_the_new_snapshot(
    fake: FakeFly, fly: FlyClient
) -> None:
    old = {"id": "vs_old", "status": "created", "created_at": "2026-05-01T00:00:00Z"}
    new = {"id": "vs_new", "status": "waiting", "created_at": "2026-05-07T12:00:00Z"}
    path = f"{APP_PATH}/volumes/vol_1/snapshots"
    fake.on(
        "GET",
        path,
        httpx.Response(200, json=[old]),
        httpx.Response(200, json=[old]),
        httpx.Response(200, json=[new, old]),
    )
    fake.on("POST", path, httpx.Response(200))
    snapshot = await fly.create_snapshot("vol_1")
    assert snapshot.id == "vs_new"
    assert snapshot.status == "waiting"


async def test_latest_usable_snapshot_is_the_newest_created_one(
    fake: FakeFly, fly: FlyClient
) -> None:
    path = f"{APP_PATH}/volumes/vol_1/snapshots"
    fake.on(
        "GET",
        path,
        httpx.Response(
            200,
            json=[
                {"id": "vs_a", "status": "created", "created_at": "2026-05-01T00:00:00Z"},
                {"id": "vs_c", "status": "running", "created_at": "2026-05-07T00:00:00Z"},
                {"id": "vs_b", "status": "created", "created_at": "2026-05-03T00:00:00Z"},
            ],
        ),
    )
    usable = await fly.latest_usable_snapshot("vol_1")
    assert usable is not None
    assert usable.id == "vs_b"


async def test_no_usable_snapshot_is_none(fake: FakeFly, fly: FlyClient) -> None:
    path = f"{APP_PATH}/volumes/vol_1/snapshots"
    fake.on("GET", path, httpx.Response(200, json=[{"id": "vs_a", "status": "waiting"}]))
    assert await fly.latest_usable_snapshot("vol_1") is None


# --- logs --------------------------------------------------------------------------------


async def test_logs_page_is_read_from_the_json_api_shape(fake: FakeFly, fly: FlyClient) -> None:
    page = {
        "data": [
            {
                "id": "log-1",
                "type": "logs",
                "attributes": {
                    "timestamp": "2026-05-07T12:00:00.123456789Z",
                    "message": "gateway listening on 18789",
                    "level": "info",
                    "instance": MACHINE_ID,
                    "region": "ams",
                    "meta": {"event": {"provider": "app"}},
                },
            }
        ],
        "meta": {"next_token": "tok-2"},
    }
    fake.on("GET", "/api/v1/apps/agents/logs", httpx.Response(200, json=page))
    result = await fly.get_logs(MACHINE_ID, next_token="tok-1", region="ams")
    sent = fake.requests[0]
    assert sent.url.host == "logs.test"
    assert dict(sent.url.params) == {"instance": MACHINE_ID, "next_token": "tok-1", "region": "ams"}
    assert result.next_token == "tok-2"
    [entry] = result.entries
    assert (entry.id, entry.message, entry.level) == ("log-1", "gateway listening on 18789", "info")
    assert entry.timestamp == "2026-05-07T12:00:00.123456789Z"


async def test_logs_without_a_next_token_end_the_paging(fake: FakeFly, fly: FlyClient) -> None:
    fake.on("GET", "/api/v1/apps/agents/logs", httpx.Response(200, json={"data": [], "meta": {}}))
    assert (await fly.get_logs(MACHINE_ID)).next_token is None


# --- sharing a pool ----------------------------------------------------------------------


async def test_clients_for_several_apps_and_tokens_share_one_pool_and_limiter() -> None:
    seen: list[tuple[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers["authorization"]))
        return httpx.Response(200, json={"name": request.url.path.rsplit("/", 1)[-1]})

    pool = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    first = FlyClient(
        token="fo1_one", app="app-a", machines_url="http://fly.test/v1", http_client=pool
    )
    derived = first.with_app("app-b", token="fm2_two")
    separate = FlyClient(
        token="fo1_three",
        app="app-c",
        machines_url="http://fly.test/v1",
        http_client=pool,
        limiter=first.limiter,
    )
    async with first, derived, separate:
        for client in (first, derived, separate):
            await client.get_app()
    assert seen == [
        ("/v1/apps/app-a", "Bearer fo1_one"),
        ("/v1/apps/app-b", "FlyV1 fm2_two"),
        ("/v1/apps/app-c", "Bearer fo1_three"),
    ]
    assert derived.limiter is first.limiter is separate.limiter
    assert not pool.is_closed, "a client never closes a pool it was given"
    await pool.aclose()


# --- volume waits ------------------------------------------------------------------------

STILL_ATTACHED = httpx.Response(412, json={"error": "failed_precondition: volume is attached"})


async def test_volume_delete_is_tried_again_while_a_machine_still_holds_it(
    fake: FakeFly, fly: FlyClient
) -> None:
    path = f"{APP_PATH}/volumes/vol_1"
    fake.on("DELETE", path, STILL_ATTACHED, STILL_ATTACHED, httpx.Response(200, json={}))
    await fly.delete_volume_when_detached("vol_1", poll_s=0)
    assert len(fake.sent("DELETE", path)) == 3


async def test_volume_delete_gives_up_attached_after_its_attempts(
    fake: FakeFly, fly: FlyClient
) -> None:
    path = f"{APP_PATH}/volumes/vol_1"
    fake.on("DELETE", path, STILL_ATTACHED)
    with pytest.raises(VolumeAttachedError):
        await fly.delete_volume_when_detached("vol_1", poll_s=0, attempts=2)
    assert len(fake.sent("DELETE", path)) == 2


async def test_volume_already_gone_counts_as_deleted(fake: FakeFly, fly: FlyClient) -> None:
    fake.on("DELETE", f"{APP_PATH}/volumes/vol_1", httpx.Response(404, json={"error": "gone"}))
    await fly.delete_volume_when_detached("vol_1", poll_s=0)


async def test_volume_ready_once_restored_and_a_timeout_past_the_deadline(
    fake: FakeFly, fly: FlyClient
) -> None:
    path = f"{APP_PATH}/volumes/vol_1"
    restoring = httpx.Response(200, json=volume_json("vol_1", state="restoring"))
    fake.on("GET", path, restoring, httpx.Response(200, json=volume_json("vol_1")))
    assert (await fly.wait_for_volume_ready("vol_1", 5, poll_s=0)).state == "created"
    fake.on("GET", path, restoring)
    with pytest.raises(WaitTimeoutError, match="still restoring"):
        await fly.wait_for_volume_ready("vol_1", 0, poll_s=0)
