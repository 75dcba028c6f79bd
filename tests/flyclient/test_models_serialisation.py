"""Models read Fly's answers tolerantly and write request bodies without nulls."""

from __future__ import annotations

from flyclient.models import (
    ExecResult,
    Machine,
    MachineConfig,
    MachineGuest,
    MachineService,
    Volume,
    drop_nones,
)


def test_config_written_for_the_api_has_no_nulls_at_any_depth() -> None:
    config = MachineConfig(
        image="openclaw:1",
        guest=MachineGuest(cpu_kind="shared", cpus=1),
        services=[MachineService(protocol="tcp", internal_port=18789)],
        stop_config=None,
    )
    written = config.to_api()
    assert written["guest"] == {"cpu_kind": "shared", "cpus": 1}
    assert written["services"] == [
        {"protocol": "tcp", "internal_port": 18789, "ports": [], "checks": []}
    ]
    assert "stop_config" not in written
    assert "auto_destroy" not in written


def test_config_read_from_fly_goes_back_with_the_fields_we_do_not_model() -> None:
    from_fly = {
        "image": "openclaw:1",
        "init": {"cmd": ["/start.sh"], "tty": False},
        "files": [{"guest_path": "/etc/x", "raw_value": "eA=="}],
        "dns": None,
        "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 1024, "kernel_args": None},
    }
    written = MachineConfig.model_validate(from_fly).to_api()
    assert written["init"] == {"cmd": ["/start.sh"], "tty": False}
    assert written["files"] == [{"guest_path": "/etc/x", "raw_value": "eA=="}]
    assert "dns" not in written
    assert written["guest"] == {"cpu_kind": "shared", "cpus": 1, "memory_mb": 1024}


def test_autostop_accepts_the_old_boolean_and_the_new_string() -> None:
    assert MachineService.model_validate({"autostop": True}).autostop is True
    assert MachineService.model_validate({"autostop": "suspend"}).autostop == "suspend"


def test_machine_with_nulls_everywhere_reads_as_absent_fields() -> None:
    machine = Machine.model_validate(
        {"id": "1781973f5e4389", "state": "started", "checks": None, "config": None, "nonce": None}
    )
    assert machine.checks == []
    assert machine.config is None
    assert machine.nonce is None


def test_check_statuses_are_typed() -> None:
    machine = Machine.model_validate(
        {
            "id": "1781973f5e4389",
            "checks": [
                {
                    "name": "gateway",
                    "status": "passing",
                    "output": "ok",
                    "updated_at": "2026-05-07T12:00:00Z",
                }
            ],
        }
    )
    [check] = machine.checks
    assert (check.name, check.status, check.output) == ("gateway", "passing", "ok")
    assert check.updated_at is not None
    assert check.updated_at.year == 2026


def test_free_volume_has_no_attached_machine() -> None:
    volume = Volume.model_validate({"id": "vol_1", "attached_machine_id": None, "state": "created"})
    assert volume.attached_machine_id is None


def test_exec_result_defaults_to_a_clean_exit() -> None:
    result = ExecResult.model_validate({"stdout": "hi\n", "exit_code": None})
    assert (result.stdout, result.stderr, result.exit_code, result.exit_signal) == (
        "hi\n",
        "",
        0,
        None,
    )


def test_drop_nones_keeps_list_positions() -> None:
    assert drop_nones({"a": None, "b": [1, None, {"c": None}]}) == {"b": [1, None, {}]}
