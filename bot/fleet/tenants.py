"""Tenant profiles: one bot, many companies, each with its own Fly app, token and defaults.

A profile overrides fleet settings by their setting names (`FLY_APP_NAME`, `LLM_MODEL`, …,
case-insensitive). Secret fields go to the vault under the tenant's scope; the rest is stored
plain. Every value is validated exactly as provisioning validates it, and a refused change
stores nothing. A tenant's app cannot change while it has live agents: agents keep the app
they were created in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import JsonValue, SecretStr

from bot.fleet import validation
from bot.fleet.context import FleetContext
from bot.fleet.errors import AgentBusy, FleetError, InvalidRequest
from bot.fleet.resolve import TENANT_PLAIN_KEYS, TENANT_SECRET_KEYS, AgentOverrides, Level
from bot.fleet.storage_boundary import storage_errors_become_fleet_errors
from storage.models import Actor, SecretScope, TenantProfile

TENANT_KEYS = (*TENANT_PLAIN_KEYS, *TENANT_SECRET_KEYS)
MAX_DISPLAY_NAME = 100


class TenantNotFound(FleetError):
    pass


@dataclass(frozen=True)
class TenantSetting:
    key: str
    secret: bool
    value: str | None  # plain values only; a secret's value is never returned
    fingerprint: str | None  # secrets: a short keyed fingerprint when set
    effective_level: Level
    effective_value: str | None  # plain values only


@dataclass(frozen=True)
class TenantView:
    profile: TenantProfile
    settings: list[TenantSetting]
    live_agents: int


def _normalise_key(raw: str) -> str:
    key = raw.strip().upper()
    if key not in TENANT_KEYS:
        raise validation.InvalidInput(
            f"{raw.strip()[:64]!r} is not a tenant setting. Use one of: {', '.join(TENANT_KEYS)}."
        )
    return key


def validate_value(key: str, raw: str) -> str:
    """One setting's value, validated as provisioning would; the normalised text."""
    value = raw.strip()
    if not value:
        raise validation.InvalidInput(f"{key} needs a value.")
    if key == "FLY_APP_NAME":
        return validation.fly_app_name(value)
    if key == "FLY_REGION":
        return validation.region(value)
    if key == "FLYAGENTS_AGENT_VM":
        validation.vm_size(value)
        return value.lower()
    if key == "LLM_MODEL":
        return validation.model_id(value)
    if key == "ALLOWED_SKILLS_JSON":
        validation.allowed_skills_json(value)
        return value
    if key == "AGENT_BRIDGE_URL":
        return validation.https_url(value)
    if key in ("OPENCLAW_APP_KEY", "OPENCLAW_SERVICE_ID"):
        return validation.entity_id(value, key)
    if key == "FLYAGENTS_AGENT_IMAGE":
        if len(value) > 256 or not validation.IMAGE_RE.fullmatch(value):
            raise validation.InvalidInput("An image looks like registry.fly.io/app:tag.")
        return value
    # Secrets: the one rule for secret values, shared with /secret.
    return validation.secret_value(key, value)


@storage_errors_become_fleet_errors
class TenantService:
    def __init__(self, ctx: FleetContext) -> None:
        self.ctx = ctx

    async def _require(self, tenant_id: str) -> TenantProfile:
        tenant = validation.entity_id(tenant_id, "The tenant id")
        profile = await self.ctx.store.tenants.get(tenant)
        if profile is None:
            raise TenantNotFound(f"No tenant {tenant}; add it with /tenant add {tenant}.")
        return profile

    async def add(self, tenant_id: str, display_name: str | None, *, actor: Actor) -> TenantProfile:
        tenant = validation.entity_id(tenant_id, "The tenant id")
        name = (display_name or tenant).strip()
        if not name or len(name) > MAX_DISPLAY_NAME or not name.isprintable():
            raise validation.InvalidInput(
                f"A display name is 1-{MAX_DISPLAY_NAME} printable characters."
            )
        if await self.ctx.store.tenants.get(tenant) is not None:
            raise FleetError(f"Tenant {tenant} already exists.")
        return await self.ctx.store.tenants.upsert(
            tenant, display_name=name, overrides={}, actor=str(actor)
        )

    async def set_values(
        self, tenant_id: str, values: Mapping[str, str], *, actor: Actor
    ) -> TenantView:
        """Validate every value first; store nothing unless all are good."""
        profile = await self._require(tenant_id)
        problems: list[str] = []
        plain: dict[str, str] = {}
        secret: dict[str, SecretStr] = {}
        for raw_key, raw_value in values.items():
            try:
                key = _normalise_key(raw_key)
                value = validate_value(key, raw_value)
            except validation.InvalidInput as error:
                problems.append(str(error))
                continue
            if key in TENANT_SECRET_KEYS:
                secret[key] = SecretStr(value)
            else:
                plain[key] = value
        if not values:
            problems.append("Give at least one KEY=VALUE.")
        if problems:
            raise InvalidRequest(problems)
        new_app = plain.get("FLY_APP_NAME")
        if new_app is not None and new_app != profile.overrides.get("FLY_APP_NAME"):
            live = await self.ctx.store.agents.live(tenant_id=profile.tenant_id)
            if live:
                raise AgentBusy(
                    f"Tenant {profile.tenant_id} has {len(live)} live agent(s) in its current app; "
                    "they keep that app, so its app cannot change now. Deprovision them first."
                )
        merged: dict[str, JsonValue] = {**profile.overrides, **plain}
        async with self.ctx.store.transaction() as tx:
            await self.ctx.store.tenants.upsert(
                profile.tenant_id,
                display_name=profile.display_name,
                overrides=merged,
                actor=str(actor),
                tx=tx,
            )
            if secret:
                await self.ctx.store.secrets.upsert(
                    SecretScope.tenant(profile.tenant_id), secret, actor=str(actor), tx=tx
                )
        return await self.show(profile.tenant_id)

    async def unset(self, tenant_id: str, raw_key: str, *, actor: Actor) -> TenantView:
        profile = await self._require(tenant_id)
        key = _normalise_key(raw_key)
        if key == "FLY_APP_NAME" and await self.ctx.store.agents.live(tenant_id=profile.tenant_id):
            raise AgentBusy(
                f"Tenant {profile.tenant_id} has live agents; its app cannot change now."
            )
        if key in TENANT_SECRET_KEYS:
            await self.ctx.store.secrets.delete(
                SecretScope.tenant(profile.tenant_id), key, actor=str(actor)
            )
        else:
            overrides = {k: v for k, v in profile.overrides.items() if k != key}
            await self.ctx.store.tenants.upsert(
                profile.tenant_id,
                display_name=profile.display_name,
                overrides=overrides,
                actor=str(actor),
            )
        return await self.show(profile.tenant_id)

    async def show(self, tenant_id: str) -> TenantView:
        profile = await self._require(tenant_id)
        metas = {
            m.name: m
            for m in await self.ctx.store.secrets.meta(SecretScope.tenant(profile.tenant_id))
        }
        effective = await self.ctx.effective_config(
            profile.tenant_id, overrides=AgentOverrides(), agent_secrets={}
        )
        plain_effective: dict[str, str | None] = {
            "FLY_APP_NAME": effective.fly_app,
            "FLYAGENTS_AGENT_IMAGE": effective.image,
            "FLY_REGION": effective.region,
            "FLYAGENTS_AGENT_VM": f"{effective.cpu_kind}-cpu-{effective.cpus}x",
            "LLM_MODEL": effective.model,
            "OPENCLAW_APP_KEY": effective.app_key,
            "ALLOWED_SKILLS_JSON": json.dumps(list(effective.allowed_skills)),
            "AGENT_BRIDGE_URL": effective.bridge_url,
            "OPENCLAW_SERVICE_ID": effective.service_id,
        }
        settings: list[TenantSetting] = []
        for key in TENANT_KEYS:
            secret = key in TENANT_SECRET_KEYS
            own = profile.overrides.get(key)
            settings.append(
                TenantSetting(
                    key=key,
                    secret=secret,
                    value=None if secret else (own if isinstance(own, str) else None),
                    fingerprint=metas[key].fingerprint if secret and key in metas else None,
                    effective_level=effective.sources.get(key, "unset"),
                    effective_value=None if secret else plain_effective.get(key),
                )
            )
        live = await self.ctx.store.agents.live(tenant_id=profile.tenant_id)
        return TenantView(profile=profile, settings=settings, live_agents=len(live))

    async def list(self) -> list[TenantProfile]:
        return await self.ctx.store.tenants.all()

    async def remove(self, tenant_id: str, *, actor: Actor) -> None:
        profile = await self._require(tenant_id)
        live = await self.ctx.store.agents.live(tenant_id=profile.tenant_id)
        if live:
            raise AgentBusy(
                f"Tenant {profile.tenant_id} still has {len(live)} live agent(s); deprovision them "
                "before removing the tenant."
            )
        async with self.ctx.store.transaction() as tx:
            await self.ctx.store.secrets.clear(
                SecretScope.tenant(profile.tenant_id), actor=str(actor), tx=tx
            )
            await self.ctx.store.tenants.delete(profile.tenant_id, actor=str(actor), tx=tx)
