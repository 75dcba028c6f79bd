"""Pins what the Fly contract validator accepts and rejects, on hand-written exchanges.

Each accepted record is shaped like real Fly traffic (including the documented deviations from the
spec); each rejected one breaks the contract in exactly one way, so the test shows that this one
way is caught.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from contracts.fly_spec import KNOWN_SPEC_DEVIATIONS, FlySpec

Record = dict[str, Any]

MACHINE_ID = "148e123a5d0e89"
MACHINES = "/v1/apps/agents/machines"
MACHINE = f"{MACHINES}/{MACHINE_ID}"


def machine_config() -> dict[str, Any]:
    return {
        "image": "ghcr.io/openclaw/openclaw:2026.5",
        "env": {"OPENCLAW_STATE_DIR": "/data"},
        "metadata": {"agent_id": "a-1", "operation_id": "op-7"},
        "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 2048},
        "restart": {"policy": "on-failure", "max_retries": 3},
        "mounts": [{"volume": "vol_4y5z", "path": "/data"}],
        "services": [
            {
                "protocol": "tcp",
                "internal_port": 18789,
                "autostart": False,
                "autostop": False,
                "ports": [{"port": 443, "handlers": ["tls", "http"]}],
            }
        ],
        "checks": {
            "gateway": {
                "type": "tcp",
                "port": 18789,
                "interval": "30s",
                "timeout": "5s",
                "grace_period": "240s",
            }
        },
        "auto_destroy": False,
        "stop_config": {"signal": "SIGTERM", "timeout": "30s"},
    }


def machine_body(state: str = "created") -> dict[str, Any]:
    return {
        "id": MACHINE_ID,
        "name": "agent-a-1",
        "state": state,
        "region": "ams",
        "instance_id": "01J0000000000000000000000A",
        "private_ip": "fdaa:0:1:a7b:1::2",
        "created_at": "2026-05-07T10:00:00Z",
        "updated_at": "2026-05-07T10:00:00Z",
        "config": machine_config(),
        "image_ref": {
            "registry": "ghcr.io",
            "repository": "openclaw/openclaw",
            "tag": "2026.5",
            "digest": "sha256:00",
            "labels": {},
        },
        "events": [
            {"id": "01J1", "type": "launch", "status": "created", "source": "user", "timestamp": 1}
        ],
        "checks": [{"name": "gateway", "status": "passing", "output": "", "updated_at": "x"}],
        "host_status": "ok",
    }


def exchange(
    method: str,
    path: str,
    *,
    status: int = 200,
    query: dict[str, list[str]] | None = None,
    request_body: Any = None,
    response_body: Any = None,
    headers: dict[str, str] | None = None,
    response_headers: dict[str, str] | None = None,
) -> Record:
    return {
        "seq": 1,
        "method": method,
        "path": path,
        "query": query or {},
        "headers": headers or {"content-type": "application/json"},
        "token": "fm2_…",
        "request_body": request_body,
        "status": status,
        "response_body": response_body,
        "response_headers": (
            {"fly-request-id": "01J-req"} if response_headers is None else response_headers
        ),
    }


def create_machine(config: dict[str, Any] | None = None) -> Record:
    return exchange(
        "POST",
        MACHINES,
        request_body={
            "config": config or machine_config(),
            "name": "agent-a-1",
            "region": "ams",
        },
        response_body=machine_body(),
    )


def lease_data() -> dict[str, Any]:
    return {
        "nonce": "8f2c1d",
        "expires_at": 1_780_000_000,
        "owner": "ops@example.com",
        "description": "update",
        "version": "01J0000000000000000000000A",
    }


# -- exchanges that honour the contract ----------------------------------------------------------


def accepted_exchanges() -> list[tuple[str, Record]]:
    volume = {
        "id": "vol_4y5z",
        "name": "agent_data",
        "state": "created",
        "region": "ams",
        "zone": "a1b2",
        "size_gb": 3,
        "encrypted": True,
        "created_at": "2026-05-07T10:00:00Z",
        "attached_machine_id": None,
        "attached_alloc_id": None,
        "snapshot_retention": 5,
    }
    return [
        ("create machine", create_machine()),
        ("get machine", exchange("GET", MACHINE, response_body=machine_body("started"))),
        (
            "list machines by metadata filter",
            exchange(
                "GET",
                MACHINES,
                query={"metadata.operation_id": ["op-7"], "include_deleted": ["false"]},
                response_body=[machine_body("started")],
            ),
        ),
        (
            "acquire lease answers the wrapped form",
            exchange(
                "POST",
                f"{MACHINE}/lease",
                request_body={"ttl": 60, "description": "update"},
                response_body={"status": "success", "data": lease_data()},
            ),
        ),
        (
            "acquire lease with ?ttl= and no body, answered 201",
            exchange(
                "POST",
                f"{MACHINE}/lease",
                status=201,
                query={"ttl": ["60"]},
                response_body={"status": "success", "data": lease_data()},
            ),
        ),
        (
            "lease held elsewhere answers the lease error shape",
            exchange(
                "POST",
                f"{MACHINE}/lease",
                status=409,
                request_body={"ttl": 60},
                response_body={"status": "error", "message": "lease held", "code": "conflict"},
            ),
        ),
        (
            "release lease with the nonce header",
            exchange(
                "DELETE",
                f"{MACHINE}/lease",
                headers={"fly-machine-lease-nonce": "8f2c1d"},
                response_body={"status": "success"},
            ),
        ),
        (
            "stop answers ok",
            exchange(
                "POST",
                f"{MACHINE}/stop",
                request_body={"signal": "SIGTERM", "timeout": "10s"},
                response_body={"ok": True},
            ),
        ),
        (
            "start answers the previous state",
            exchange(
                "POST",
                f"{MACHINE}/start",
                response_body={"previous_state": "stopped", "migrated": False, "new_host": ""},
            ),
        ),
        (
            "restart with force_stop",
            exchange("POST", f"{MACHINE}/restart", query={"force_stop": ["true"]}),
        ),
        (
            "destroy with kill answers ok",
            exchange("DELETE", MACHINE, query={"kill": ["true"]}, response_body={"ok": True}),
        ),
        (
            "destroy a started machine without force is refused",
            exchange(
                "DELETE",
                MACHINE,
                status=412,
                response_body={"error": "failed_precondition: machine is started"},
            ),
        ),
        (
            "wait answers ok",
            exchange(
                "GET",
                f"{MACHINE}/wait",
                query={"state": ["started"], "timeout": ["60"]},
                response_body={"ok": True, "state": "started"},
            ),
        ),
        (
            "wait times out with 408",
            exchange(
                "GET",
                f"{MACHINE}/wait",
                status=408,
                query={"state": ["stopped"], "instance_id": ["01J0"], "timeout": ["1"]},
                response_body={"error": "deadline_exceeded: waiting for machine to be stopped"},
            ),
        ),
        (
            "exec with the deprecated cmd string",
            exchange(
                "POST",
                f"{MACHINE}/exec",
                request_body={"cmd": "node ./openclaw.mjs status", "timeout": 30},
                response_body={"stdout": "ok\n", "stderr": "", "exit_code": 0},
            ),
        ),
        (
            "a free volume answers null attachment fields",
            exchange("GET", "/v1/apps/agents/volumes/vol_4y5z", response_body=volume),
        ),
        (
            "create snapshot answers an empty body",
            exchange("POST", "/v1/apps/agents/volumes/vol_4y5z/snapshots"),
        ),
        (
            "create app answers 201 with the app",
            exchange(
                "POST",
                "/v1/apps",
                status=201,
                request_body={"app_name": "agents-2", "org_slug": "personal"},
                response_body={"id": "agents-2", "name": "agents-2", "status": "pending"},
            ),
        ),
        (
            "name taken is an error status the docs list",
            exchange(
                "POST",
                "/v1/apps",
                status=422,
                request_body={"name": "agents", "org_slug": "personal"},
                response_body={"error": "app name taken", "status": "name_taken"},
            ),
        ),
        (
            "rate limited",
            exchange("GET", MACHINE, status=429, response_body={"error": "rate limit exceeded"}),
        ),
        ("a bodyless proxy error", exchange("GET", MACHINE, status=503)),
        (
            "logs API in the JSON:API shape",
            exchange(
                "GET",
                "/api/v1/apps/agents/logs",
                query={"instance": [MACHINE_ID], "next_token": ["0"]},
                response_headers={},
                response_body={
                    "data": [
                        {
                            "id": "1",
                            "type": "logs",
                            "attributes": {
                                "timestamp": "2026-05-07T10:00:01Z",
                                "message": "[gateway] listening on ws://0.0.0.0:18789",
                                "level": "info",
                                "instance": MACHINE_ID,
                                "region": "ams",
                                "meta": {"event": {"provider": "app"}},
                            },
                        }
                    ],
                    "meta": {"next_token": "1715076001000000000"},
                },
            ),
        ),
    ]


@pytest.mark.parametrize(
    "record", [r for _, r in accepted_exchanges()], ids=[n for n, _ in accepted_exchanges()]
)
def test_exchange_shaped_like_real_fly_traffic_passes(fly_spec: FlySpec, record: Record) -> None:
    assert fly_spec.check_exchange(record) == []


# -- exchanges that break it ---------------------------------------------------------------------


def test_wrong_type_inside_machine_config_is_caught(fly_spec: FlySpec) -> None:
    config = machine_config()
    config["guest"]["cpus"] = "two"
    problems = fly_spec.check_exchange(create_machine(config))
    assert len(problems) == 1
    assert "request body at config/guest/cpus" in problems[0]
    assert "'two' is not of type 'integer'" in problems[0]


def test_unknown_member_of_machine_config_is_caught(fly_spec: FlySpec) -> None:
    config = machine_config()
    config["health_checks"] = {}
    problems = fly_spec.check_exchange(create_machine(config))
    assert len(problems) == 1
    assert "'health_checks' was unexpected" in problems[0]


def test_check_map_entries_are_validated_as_checks(fly_spec: FlySpec) -> None:
    config = machine_config()
    config["checks"]["gateway"]["port"] = "18789"
    problems = fly_spec.check_exchange(create_machine(config))
    assert len(problems) == 1
    assert "config/checks/gateway/port" in problems[0]


def test_unknown_query_parameter_is_caught(fly_spec: FlySpec) -> None:
    record = exchange("GET", MACHINES, query={"label": ["x"]}, response_body=[])
    problems = fly_spec.check_exchange(record)
    assert len(problems) == 1
    assert "request: unknown query parameter 'label'" in problems[0]


def test_documented_extra_query_parameter_is_only_allowed_where_documented(
    fly_spec: FlySpec,
) -> None:
    record = exchange("GET", MACHINE, query={"kill": ["true"]}, response_body=machine_body())
    problems = fly_spec.check_exchange(record)
    assert len(problems) == 1
    assert "unknown query parameter 'kill'" in problems[0]


def test_query_parameter_of_the_wrong_type_is_caught(fly_spec: FlySpec) -> None:
    record = exchange(
        "GET", f"{MACHINE}/wait", query={"timeout": ["60s"]}, response_body={"ok": True}
    )
    problems = fly_spec.check_exchange(record)
    assert len(problems) == 1
    assert "query parameter 'timeout'='60s': not an integer" in problems[0]


def test_query_parameter_outside_its_enum_is_caught(fly_spec: FlySpec) -> None:
    record = exchange(
        "GET", f"{MACHINE}/wait", query={"state": ["running"]}, response_body={"ok": True}
    )
    problems = fly_spec.check_exchange(record)
    assert len(problems) == 1
    assert "'running' is not one of" in problems[0]


def test_repeated_query_parameter_is_caught(fly_spec: FlySpec) -> None:
    record = exchange("GET", MACHINES, query={"region": ["ams", "fra"]}, response_body=[])
    assert "given 2 times" in fly_spec.check_exchange(record)[0]


def test_unknown_path_is_caught(fly_spec: FlySpec) -> None:
    record = exchange("POST", f"{MACHINE}/reboot", response_body={"ok": True})
    problems = fly_spec.check_exchange(record)
    assert len(problems) == 1
    assert "request: unknown operation: POST /v1/apps/agents/machines/" in problems[0]


def test_method_the_path_does_not_define_is_caught(fly_spec: FlySpec) -> None:
    problems = fly_spec.check_exchange(exchange("PUT", f"{MACHINE}/stop"))
    assert len(problems) == 1
    assert "PUT is not defined for /apps/{app_name}/machines/{machine_id}/stop" in problems[0]


def test_literal_path_segment_wins_over_a_parameter(fly_spec: FlySpec) -> None:
    body = {"hostname": "a.example.com"}
    record = exchange(
        "POST",
        "/v1/apps/agents/certificates/acme",
        status=422,
        request_body=body,
        response_body={"error": "invalid hostname"},
    )
    assert fly_spec.check_exchange(record) == []


def test_missing_required_request_body_is_caught(fly_spec: FlySpec) -> None:
    record = exchange("POST", MACHINES, response_body=machine_body())
    assert "request body is required" in fly_spec.check_exchange(record)[0]


def test_body_sent_to_an_operation_without_one_is_caught(fly_spec: FlySpec) -> None:
    record = exchange("GET", MACHINE, request_body={"force": True}, response_body=machine_body())
    assert "which takes none" in fly_spec.check_exchange(record)[0]


def test_missing_required_lease_nonce_header_is_caught(fly_spec: FlySpec) -> None:
    record = exchange("DELETE", f"{MACHINE}/lease", response_body={"status": "success"})
    assert (
        "required header 'fly-machine-lease-nonce' is missing" in fly_spec.check_exchange(record)[0]
    )


def test_flat_lease_answer_from_the_spec_is_not_what_fly_sends(fly_spec: FlySpec) -> None:
    record = exchange(
        "POST", f"{MACHINE}/lease", request_body={"ttl": 60}, response_body=lease_data()
    )
    problems = fly_spec.check_exchange(record)
    assert problems
    assert all(": response: " in p for p in problems)


def test_stop_without_the_ok_body_is_caught(fly_spec: FlySpec) -> None:
    problems = fly_spec.check_exchange(exchange("POST", f"{MACHINE}/stop"))
    assert len(problems) == 1
    assert "answer has no body where one is due" in problems[0]


def test_member_the_spec_does_not_define_in_an_answer_is_caught(fly_spec: FlySpec) -> None:
    body = machine_body()
    body["gateway_token"] = "secret"
    problems = fly_spec.check_exchange(exchange("GET", MACHINE, response_body=body))
    assert len(problems) == 1
    assert "response: response body at (root)" in problems[0]
    assert "'gateway_token' was unexpected" in problems[0]


def test_wrong_type_in_an_answer_is_caught(fly_spec: FlySpec) -> None:
    body = machine_body()
    body["config"]["guest"]["memory_mb"] = "2048"
    problems = fly_spec.check_exchange(exchange("GET", MACHINE, response_body=body))
    assert len(problems) == 1
    assert "config/guest/memory_mb" in problems[0]


def test_body_where_the_spec_and_docs_promise_none_is_caught(fly_spec: FlySpec) -> None:
    record = exchange(
        "POST", "/v1/apps/agents/volumes/vol_4y5z/snapshots", response_body={"id": "vs_1"}
    )
    assert "answer has a body where none is due" in fly_spec.check_exchange(record)[0]


def test_undocumented_success_status_is_caught(fly_spec: FlySpec) -> None:
    record = exchange("GET", MACHINE, status=202, response_body=machine_body())
    assert "status 202 is not a documented answer" in fly_spec.check_exchange(record)[0]


def test_error_body_without_an_error_message_is_caught(fly_spec: FlySpec) -> None:
    record = exchange("GET", MACHINE, status=404, response_body={"message": "not found"})
    problems = fly_spec.check_exchange(record)
    assert problems
    assert any("'error' is a required property" in p for p in problems)


def test_answer_without_a_request_id_header_is_caught(fly_spec: FlySpec) -> None:
    record = exchange("GET", MACHINE, response_body=machine_body(), response_headers={})
    assert fly_spec.check_exchange(record) == [
        f"#1 GET {MACHINE} -> 200: response: answer lacks the fly-request-id header"
    ]


def test_logs_answer_outside_the_json_api_shape_is_caught(fly_spec: FlySpec) -> None:
    record = exchange(
        "GET",
        "/api/v1/apps/agents/logs",
        response_headers={},
        response_body={"logs": [{"message": "hi"}]},
    )
    problems = fly_spec.check_exchange(record)
    assert problems
    assert all(": response: " in p for p in problems)


def test_violations_say_which_side_broke_the_contract(fly_spec: FlySpec) -> None:
    config = machine_config()
    config["guest"]["cpus"] = "two"
    record = create_machine(config)
    record["response_body"] = copy.deepcopy(record["response_body"])
    record["response_body"]["state"] = 3
    sides = sorted(v.side for v in fly_spec.exchange_violations(record))
    assert sides == ["request", "response"]


# -- the deviation list itself -------------------------------------------------------------------


def test_every_deviation_says_what_where_and_why() -> None:
    assert KNOWN_SPEC_DEVIATIONS
    for deviation in KNOWN_SPEC_DEVIATIONS:
        assert deviation.what.strip()
        assert deviation.where.strip()
        assert len(deviation.reason.strip()) > 20


def test_every_deviation_points_at_the_spec_and_none_is_moot(fly_spec: FlySpec) -> None:
    assert fly_spec.deviation_problems() == []


def test_spec_loads_once_per_folder(fly_spec: FlySpec) -> None:
    from contracts.specs_dir import locate_fly_spec

    folder = locate_fly_spec().path.parent
    assert FlySpec.load(folder) is FlySpec.load(str(folder))
