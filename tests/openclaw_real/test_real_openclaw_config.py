"""What real-OpenClaw mode prepares before it runs anything: the config and the path mapping.

Pure functions of `emulators.fly.real_openclaw`; these tests need no installed runtime.
"""

from __future__ import annotations

from pathlib import Path

from emulators.fly.real_openclaw import MachineFilesystem, startup_config

API_ROOT = "http://127.0.0.1:8081"
BOT = "7001:" + "A" * 35


def test_a_gateway_token_gives_loopback_token_auth_and_the_pairing_telegram_channel() -> None:
    env = {"OPENCLAW_GATEWAY_TOKEN": "gw-1", "TELEGRAM_BOT_TOKEN": BOT}
    config = startup_config({}, env=env, port=41000, telegram_api_root=API_ROOT)
    assert config == {
        "gateway": {
            "mode": "local",
            "port": 41000,
            "bind": "loopback",
            "auth": {"mode": "token", "token": "gw-1"},
        },
        "channels": {
            "telegram": {
                "enabled": True,
                "botToken": BOT,
                "apiRoot": API_ROOT,
                "dmPolicy": "pairing",
                "network": {"dangerouslyAllowPrivateNetwork": True},
            }
        },
    }


def test_no_gateway_secret_asks_for_lan_without_auth_which_openclaw_refuses() -> None:
    existing = {"gateway": {"mode": "local", "port": 1, "bind": "loopback", "auth": {"x": 1}}}
    config = startup_config(
        existing, env={"OPENCLAW_GATEWAY_TOKEN": " "}, port=41001, telegram_api_root=API_ROOT
    )
    assert config["gateway"] == {"mode": "local", "port": 41001, "bind": "lan"}
    assert config["channels"]["telegram"]["enabled"] is False


def test_a_password_is_used_when_there_is_no_token() -> None:
    config = startup_config(
        {}, env={"OPENCLAW_GATEWAY_PASSWORD": "pw"}, port=41002, telegram_api_root=API_ROOT
    )
    assert config["gateway"]["auth"] == {"mode": "password", "password": "pw"}
    assert config["gateway"]["bind"] == "loopback"


def test_every_boot_keeps_what_openclaw_itself_wrote() -> None:
    existing = {
        "agents": {"defaults": {"model": {"primary": "openai/gpt-4.1-mini"}}},
        "commands": {"ownerAllowFrom": ["telegram:9001"]},
        "channels": {"telegram": {"allowFrom": ["2002"], "network": {"timeoutMs": 5}}},
        "gateway": {"controlUi": {"enabled": False}},
    }
    env = {"OPENCLAW_GATEWAY_TOKEN": "gw", "TELEGRAM_BOT_TOKEN": BOT}
    config = startup_config(existing, env=env, port=41003, telegram_api_root=API_ROOT)
    assert config["agents"] == existing["agents"]
    assert config["commands"] == existing["commands"]
    assert config["channels"]["telegram"]["allowFrom"] == ["2002"]
    assert config["channels"]["telegram"]["network"] == {
        "timeoutMs": 5,
        "dangerouslyAllowPrivateNetwork": True,
    }
    assert config["gateway"]["controlUi"] == {"enabled": False}
    assert existing["gateway"] == {"controlUi": {"enabled": False}}


def _filesystem(tmp_path: Path) -> MachineFilesystem:
    return MachineFilesystem(
        rootfs=tmp_path / "rootfs",
        app_dir="/app",
        package_dir=tmp_path / "node_modules" / "openclaw",
        mount_path="/data",
        volume_dir=tmp_path / "volumes" / "vol_1",
    )


def test_machine_paths_map_onto_the_volume_the_package_and_the_root_filesystem(
    tmp_path: Path,
) -> None:
    fs = _filesystem(tmp_path)
    assert fs.host_path("/data/openclaw/state") == tmp_path / "volumes/vol_1/openclaw/state"
    assert fs.host_path("/data") == tmp_path / "volumes/vol_1"
    assert fs.host_path("/app") == tmp_path / "node_modules/openclaw"
    assert fs.host_path("/app/openclaw.mjs") == tmp_path / "node_modules/openclaw/openclaw.mjs"
    assert fs.host_path("/root/.openclaw/openclaw.json") == (
        tmp_path / "rootfs/root/.openclaw/openclaw.json"
    )
    assert fs.host_path("/database") == tmp_path / "rootfs/database"
    assert fs.host_path("/data/../../../etc/passwd") == tmp_path / "rootfs/etc/passwd"


def test_only_env_values_that_are_single_absolute_paths_are_mapped(tmp_path: Path) -> None:
    mapped = _filesystem(tmp_path).map_env(
        {
            "OPENCLAW_STATE_DIR": "/data/openclaw/state",
            "PATH": "/usr/local/bin:/usr/bin",
            "NODE_OPTIONS": "--max-old-space-size=1536",
            "AGENT_BRIDGE_URL": "https://bridge.example/x",
            "ALLOWED_SKILLS_JSON": '["/data"]',
        }
    )
    assert mapped == {
        "OPENCLAW_STATE_DIR": str(tmp_path / "volumes/vol_1/openclaw/state"),
        "PATH": "/usr/local/bin:/usr/bin",
        "NODE_OPTIONS": "--max-old-space-size=1536",
        "AGENT_BRIDGE_URL": "https://bridge.example/x",
        "ALLOWED_SKILLS_JSON": '["/data"]',
    }
