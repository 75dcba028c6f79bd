"""An agent's secrets in the vault: set, list (names and dates only) and clear them.

A secret given for `tenant/user` before that agent exists is staged for it and moved to the
agent when it is provisioned. `clean_agent_secrets` is the one check of an agent's secrets,
used here and by provisioning for the secrets given in the call.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import SecretStr

from bot.fleet import validation
from bot.fleet.context import FleetContext
from bot.fleet.errors import AgentNotFound, InvalidRequest
from bot.fleet.fly_boundary import fly_errors_become_fleet_errors
from bot.fleet.resolve import AGENT_SECRET_KEYS
from storage.models import Actor, SecretMeta, SecretScope


def _plain(value: str | SecretStr) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def clean_agent_secrets(
    values: Mapping[str, str | SecretStr],
) -> tuple[dict[str, str], list[str]]:
    """An agent's secrets by canonical name, and every problem with them (values never shown)."""
    cleaned: dict[str, str] = {}
    problems: list[str] = []
    for raw_name, raw_value in values.items():
        try:
            name = validation.secret_name(raw_name)
        except validation.InvalidInput as error:
            problems.append(str(error))
            continue
        if name not in AGENT_SECRET_KEYS:
            problems.append(f"{name}: not a secret an agent uses ({', '.join(AGENT_SECRET_KEYS)})")
            continue
        value = _plain(raw_value).strip()
        if not value:
            problems.append(f"{name}: is empty")
            continue
        try:
            value = validation.secret_value(name, value)
        except validation.InvalidInput as error:
            problems.append(str(error))
            continue
        if name == "TELEGRAM_BOT_TOKEN":
            try:
                validation.telegram_bot_token(value)
            except validation.InvalidInput as error:
                problems.append(str(error))
                continue
        cleaned[name] = value
    return cleaned, problems


@fly_errors_become_fleet_errors
class AgentSecrets:
    def __init__(self, ctx: FleetContext) -> None:
        self.ctx = ctx

    async def _scope(self, ref: str) -> SecretScope:
        try:
            agent = await self.ctx.find_agent(ref)
            return SecretScope.agent(agent.id)
        except AgentNotFound:
            if "/" not in ref:
                raise
            tenant, _, user = ref.strip().partition("/")
            # Not provisioned yet: kept for that agent-to-be, moved to it at provisioning.
            return SecretScope.staged(
                validation.entity_id(tenant, "The tenant id"),
                validation.entity_id(user, "The user id"),
            )

    async def upsert_agent_secrets(
        self, ref: str, values: Mapping[str, str | SecretStr], *, actor: Actor
    ) -> list[SecretMeta]:
        cleaned, problems = clean_agent_secrets(values)
        if problems:
            raise InvalidRequest(problems)
        scope = await self._scope(ref)
        return await self.ctx.store.secrets.upsert(
            scope, {name: SecretStr(value) for name, value in cleaned.items()}, actor=str(actor)
        )

    async def get_agent_secrets_meta(self, ref: str) -> list[SecretMeta]:
        return await self.ctx.store.secrets.meta(await self._scope(ref))

    async def clear_agent_secrets(self, ref: str, *, actor: Actor) -> int:
        return await self.ctx.store.secrets.clear(await self._scope(ref), actor=str(actor))
