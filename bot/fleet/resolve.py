"""The one rule for every effective value: the agent's own → its tenant's → the fleet's.

`resolve_agent_config` returns a typed object that the whole service uses (provision,
recreate, lifecycle, pairing, model, monitor), and remembers which level supplied each
value so `/status` and `/tenant show` can say so without showing a secret.
"""

from __future__ import annotations

import secrets as random_secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import JsonValue, SecretStr

from bot.fleet import validation
from bot.fleet.defaults import FleetDefaults
from storage.models import Agent

Level = Literal["agent", "tenant", "fleet", "generated", "unset"]

# Fleet setting names a tenant profile may override (plain ones) …
TENANT_PLAIN_KEYS = (
    "FLY_APP_NAME",
    "FLYAGENTS_AGENT_IMAGE",
    "FLY_REGION",
    "FLYAGENTS_AGENT_VM",
    "LLM_MODEL",
    "OPENCLAW_APP_KEY",
    "ALLOWED_SKILLS_JSON",
    "AGENT_BRIDGE_URL",
    "OPENCLAW_SERVICE_ID",
)
# … and secret ones, which live in the vault under the tenant's scope.
TENANT_SECRET_KEYS = ("FLY_API_TOKEN", "LLM_API_KEY", "OPENAI_API_KEY", "OPENCLAW_SERVICE_KEY")
# Secrets an agent may carry itself.
AGENT_SECRET_KEYS = (
    "TELEGRAM_BOT_TOKEN",
    "LLM_API_KEY",
    "OPENAI_API_KEY",
    "OPENCLAW_GATEWAY_TOKEN",
    "OPENCLAW_SERVICE_KEY",
    "FLY_API_TOKEN",
)


@dataclass(frozen=True)
class AgentOverrides:
    """Values given for one agent (from the call or its record)."""

    model: str | None = None
    allowed_skills: tuple[str, ...] | None = None
    region: str | None = None
    fly_app: str | None = None
    image: str | None = None

    @classmethod
    def of_agent(cls, agent: Agent) -> AgentOverrides:
        """What an agent's record fixes for itself (provisioning wrote what it resolved)."""
        return cls(
            model=agent.model,
            allowed_skills=agent.allowed_skills,
            region=agent.region,
            fly_app=agent.fly_app,
            image=agent.image,
        )


@dataclass(frozen=True)
class EffectiveConfig:
    fly_app: str | None
    fly_token: SecretStr | None
    image: str
    region: str
    cpu_kind: str
    cpus: int
    memory_mb: int
    model: str
    allowed_skills: tuple[str, ...]
    bridge_url: str | None
    app_key: str
    service_id: str | None
    secrets: Mapping[str, SecretStr]
    generated: tuple[str, ...]
    sources: Mapping[str, Level] = field(default_factory=dict)

    def secret_values(self) -> dict[str, str]:
        return {name: value.get_secret_value() for name, value in self.secrets.items()}

    def missing_runtime_values(self) -> list[str]:
        """The seed's required runtime values that have no effective value."""
        missing = []
        if not (self.secrets.get("LLM_API_KEY") or self.secrets.get("OPENAI_API_KEY")):
            missing.append("LLM_API_KEY")
        for name in ("TELEGRAM_BOT_TOKEN", "OPENCLAW_SERVICE_KEY", "OPENCLAW_GATEWAY_TOKEN"):
            if not self.secrets.get(name):
                missing.append(name)
        if not self.bridge_url:
            missing.append("AGENT_BRIDGE_URL")
        if not self.service_id:
            missing.append("OPENCLAW_SERVICE_ID")
        if not self.app_key:
            missing.append("OPENCLAW_APP_KEY")
        if not self.fly_app:
            missing.append("FLY_APP_NAME")
        if not self.fly_token:
            missing.append("FLY_API_TOKEN")
        return missing


def _text(overrides: Mapping[str, JsonValue], key: str) -> str | None:
    value = overrides.get(key)
    return value if isinstance(value, str) and value.strip() else None


def resolve_agent_config(
    defaults: FleetDefaults,
    *,
    agent: AgentOverrides,
    tenant_overrides: Mapping[str, JsonValue],
    tenant_secrets: Mapping[str, SecretStr],
    agent_secrets: Mapping[str, SecretStr],
    generate_gateway_token: bool = True,
) -> EffectiveConfig:
    sources: dict[str, Level] = {}

    def pick(name: str, own: str | None, tenant_key: str, fleet: str | None) -> str | None:
        tenant_value = _text(tenant_overrides, tenant_key)
        levels = [
            (level, value)
            for level, value in (("agent", own), ("tenant", tenant_value), ("fleet", fleet))
            if value
        ]
        if not levels:
            sources[name] = "unset"
            return None
        level, chosen = levels[0]
        # An agent's record repeats what it inherited: name the level it came from.
        if len(levels) > 1 and levels[1][1] == chosen:
            level = levels[1][0]
        sources[name] = level  # type: ignore[assignment]
        return chosen

    fly_app = pick("FLY_APP_NAME", agent.fly_app, "FLY_APP_NAME", defaults.fly_app)
    image = pick("FLYAGENTS_AGENT_IMAGE", agent.image, "FLYAGENTS_AGENT_IMAGE", defaults.image)
    region = pick("FLY_REGION", agent.region, "FLY_REGION", defaults.region)
    model = pick("LLM_MODEL", agent.model, "LLM_MODEL", defaults.model)
    bridge = pick("AGENT_BRIDGE_URL", None, "AGENT_BRIDGE_URL", defaults.bridge_url)
    app_key = pick("OPENCLAW_APP_KEY", None, "OPENCLAW_APP_KEY", defaults.app_key)
    service_id = pick("OPENCLAW_SERVICE_ID", None, "OPENCLAW_SERVICE_ID", defaults.service_id)
    vm_text = _text(tenant_overrides, "FLYAGENTS_AGENT_VM")
    if vm_text:
        cpu_kind, cpus = validation.vm_size(vm_text)
        sources["FLYAGENTS_AGENT_VM"] = "tenant"
    else:
        cpu_kind, cpus = defaults.cpu_kind, defaults.cpus
        sources["FLYAGENTS_AGENT_VM"] = "fleet"

    tenant_skills_raw = _text(tenant_overrides, "ALLOWED_SKILLS_JSON")
    tenant_skills = (
        tuple(validation.allowed_skills_json(tenant_skills_raw)) if tenant_skills_raw else None
    )
    inherited_skills, inherited_level = (
        (tenant_skills, "tenant")
        if tenant_skills is not None
        else (defaults.allowed_skills, "fleet")
    )
    if agent.allowed_skills is not None and agent.allowed_skills != inherited_skills:
        skills, sources["ALLOWED_SKILLS_JSON"] = agent.allowed_skills, "agent"
    else:
        skills = inherited_skills
        sources["ALLOWED_SKILLS_JSON"] = inherited_level  # type: ignore[assignment]

    fleet_secrets: dict[str, SecretStr | None] = {
        "FLY_API_TOKEN": defaults.fly_token,
        "LLM_API_KEY": defaults.llm_api_key,
        "OPENAI_API_KEY": defaults.openai_api_key,
        "OPENCLAW_SERVICE_KEY": defaults.service_key,
    }
    resolved: dict[str, SecretStr] = {}
    for name in (*AGENT_SECRET_KEYS,):
        for level, source in (
            ("agent", agent_secrets),
            ("tenant", tenant_secrets),
            ("fleet", fleet_secrets),
        ):
            value = source.get(name)
            if value is not None and value.get_secret_value():
                resolved[name] = value
                sources[name] = level  # type: ignore[assignment]
                break
        else:
            sources[name] = "unset"
    generated: list[str] = []
    if generate_gateway_token and "OPENCLAW_GATEWAY_TOKEN" not in resolved:
        resolved["OPENCLAW_GATEWAY_TOKEN"] = SecretStr(random_secrets.token_urlsafe(32))
        sources["OPENCLAW_GATEWAY_TOKEN"] = "generated"  # noqa: S105 - a level, not a value
        generated.append("OPENCLAW_GATEWAY_TOKEN")

    return EffectiveConfig(
        fly_app=fly_app,
        fly_token=resolved.get("FLY_API_TOKEN"),
        image=image or defaults.image,
        region=region or defaults.region,
        cpu_kind=cpu_kind,
        cpus=cpus,
        memory_mb=defaults.memory_mb,
        model=model or defaults.model,
        allowed_skills=tuple(skills),
        bridge_url=bridge,
        app_key=app_key or "",
        service_id=service_id,
        secrets=resolved,
        generated=tuple(generated),
        sources=sources,
    )
