"""The Fly machine and volume an agent runs on, built from its resolved configuration.

One place decides the image, guest size, restart policy, mount, service, TCP check and
environment (the seed's contract with the OpenClaw image). Pure functions: no I/O. The
environment carries the agent's secrets because the image reads them from there; the
returned config must only ever be handed to Fly, never logged or stored.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flyclient import (
    MachineCheck,
    MachineConfig,
    MachineGuest,
    MachineMount,
    MachinePort,
    MachineRestart,
    MachineService,
    StopConfig,
)

if TYPE_CHECKING:
    from bot.fleet.defaults import FleetDefaults
    from bot.fleet.resolve import EffectiveConfig
    from storage.models import Agent

GATEWAY_PORT = 3000
VOLUME_MOUNT_PATH = "/data"
CHECK_NAME = "gateway"

# Metadata keys every machine carries, so the fleet can be found from Fly alone.
META_AGENT_ID = "fly_agents_agent_id"
META_TENANT = "fly_agents_tenant"
META_USER = "fly_agents_user"
META_MANAGED = "fly_agents_managed"

# Names of the secrets an agent's environment needs (values come from the vault or call).
SECRET_ENV_NAMES = (
    "LLM_API_KEY",
    "OPENAI_API_KEY",
    "TELEGRAM_BOT_TOKEN",
    "OPENCLAW_SERVICE_KEY",
    "OPENCLAW_GATEWAY_TOKEN",
)


@dataclass(frozen=True)
class AgentRuntime:
    """Everything the machine needs: the seed's required runtime values and sizing."""

    agent_id: str
    tenant_id: str
    user_id: str
    image: str
    region: str
    cpu_kind: str
    cpus: int
    memory_mb: int
    model: str
    allowed_skills: tuple[str, ...]
    bridge_url: str
    app_key: str
    service_id: str
    startup_timeout_s: int
    gateway_dev_mode: bool
    secrets: Mapping[str, str]

    @classmethod
    def from_effective(
        cls, agent: Agent, config: EffectiveConfig, defaults: FleetDefaults
    ) -> AgentRuntime:
        """The runtime of `agent` from its effective configuration (`resolve.py`) and the
        fleet-wide values no level overrides: the one way from the configuration to a machine,
        for provision and recreate alike."""
        return cls(
            agent_id=agent.id,
            tenant_id=agent.tenant_id,
            user_id=agent.user_id,
            image=config.image,
            region=config.region,
            cpu_kind=config.cpu_kind,
            cpus=config.cpus,
            memory_mb=config.memory_mb,
            model=config.model,
            allowed_skills=config.allowed_skills,
            bridge_url=config.bridge_url or "",
            app_key=config.app_key,
            service_id=config.service_id or "",
            startup_timeout_s=defaults.startup_timeout_s,
            gateway_dev_mode=defaults.gateway_dev_mode,
            secrets=config.secret_values(),
        )

    def __repr__(self) -> str:
        return (
            f"AgentRuntime(agent_id={self.agent_id!r}, image={self.image!r}, "
            f"model={self.model!r}, secrets=[{', '.join(sorted(self.secrets))}])"
        )


def machine_config(runtime: AgentRuntime, *, volume_id: str) -> MachineConfig:
    """The whole machine config; `FlyClient.create_machine(op_id=…)` adds the operation tag."""
    llm_key = runtime.secrets.get("LLM_API_KEY") or runtime.secrets.get("OPENAI_API_KEY", "")
    openai_key = runtime.secrets.get("OPENAI_API_KEY") or llm_key
    env = {
        "USER_ID": runtime.user_id,
        "TENANT_ID": runtime.tenant_id,
        "LLM_MODEL": runtime.model,
        "LLM_API_KEY": llm_key,
        "OPENAI_API_KEY": openai_key,
        "TELEGRAM_BOT_TOKEN": runtime.secrets.get("TELEGRAM_BOT_TOKEN", ""),
        "AGENT_BRIDGE_URL": runtime.bridge_url,
        "OPENCLAW_SERVICE_ID": runtime.service_id,
        "OPENCLAW_SERVICE_KEY": runtime.secrets.get("OPENCLAW_SERVICE_KEY", ""),
        "OPENCLAW_GATEWAY_TOKEN": runtime.secrets.get("OPENCLAW_GATEWAY_TOKEN", ""),
        "OPENCLAW_APP_KEY": runtime.app_key,
        "OPENCLAW_STATE_DIR": f"{VOLUME_MOUNT_PATH}/openclaw/state",
        "OPENCLAW_CONFIG_PATH": f"{VOLUME_MOUNT_PATH}/openclaw/config.json",
        "OPENCLAW_HOME": f"{VOLUME_MOUNT_PATH}/openclaw",
        "OPENCLAW_STARTUP_TIMEOUT_SEC": str(runtime.startup_timeout_s),
        "ALLOWED_SKILLS_JSON": json.dumps(list(runtime.allowed_skills), separators=(",", ":")),
        # Keeps Node below the VM's memory limit (OpenClaw's own Fly guide).
        "NODE_OPTIONS": f"--max-old-space-size={max(256, runtime.memory_mb * 3 // 4)}",
    }
    if runtime.gateway_dev_mode:
        env["OPENCLAW_GATEWAY_DEV_MODE"] = "true"
    grace = f"{runtime.startup_timeout_s}s"
    return MachineConfig(
        image=runtime.image,
        env=env,
        metadata={
            META_AGENT_ID: runtime.agent_id,
            META_TENANT: runtime.tenant_id,
            META_USER: runtime.user_id,
            META_MANAGED: "true",
        },
        guest=MachineGuest(
            cpu_kind=runtime.cpu_kind, cpus=runtime.cpus, memory_mb=runtime.memory_mb
        ),
        restart=MachineRestart(policy="always"),
        mounts=[MachineMount(volume=volume_id, path=VOLUME_MOUNT_PATH)],
        services=[
            MachineService(
                protocol="tcp",
                internal_port=GATEWAY_PORT,
                ports=[MachinePort(port=443, handlers=["tls", "http"])],
                autostart=True,
                autostop=False,
            )
        ],
        checks={
            CHECK_NAME: MachineCheck(
                type="tcp", port=GATEWAY_PORT, interval="15s", timeout="5s", grace_period=grace
            )
        },
        auto_destroy=False,
        stop_config=StopConfig(signal="SIGTERM", timeout="30s"),
    )


_SLUG_RE = re.compile(r"[^a-z0-9]")


def volume_name(user_id: str, now: float | None = None) -> str:
    """`agent_<user slug, 10 chars>_<base36 time>`, at most 30 characters (the seed's rule)."""
    slug = _SLUG_RE.sub("", user_id.lower())[:10] or "user"
    stamp = _base36(int((now if now is not None else time.time()) * 1000))
    return f"agent_{slug}_{stamp}"[:30]


def _base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, rest = divmod(value, 36)
        out = digits[rest] + out
        if not value:
            return out
