"""Admin commands that change what one agent runs with: `/model`, `/skills`, `/secrets` and
storing the values of `/secret` (the router has already deleted the message that held them).

A secret value is passed on to the fleet service and never echoed, logged or kept here.
"""

from __future__ import annotations

from pydantic import SecretStr

from bot.telegram import render
from bot.telegram.admin_replies import Outcome, reply, working
from bot.telegram.call import Call
from bot.telegram.deps import BotDeps
from bot.telegram.errors import EXPECTED_ERRORS, explain
from bot.telegram.parsing import ParseError, SecretAssignment, parse_secret_reply


def skill_names(text: str) -> list[str]:
    """`a, b,,c` → `["a", "b", "c"]`: the comma-separated skills an admin typed."""
    return [part.strip() for part in text.split(",") if part.strip()]


class AgentSettings:
    def __init__(self, deps: BotDeps) -> None:
        self._deps = deps

    async def model(self, call: Call, values: dict[str, str]) -> None:
        service = self._deps.service

        async def set_model() -> Outcome:
            effective = await service.set_model(values["agent"], values["model"], actor=call.actor)
            return render.model_set(effective), None

        await working(self._deps, call, render.SETTING_MODEL, set_model)

    async def skills(self, call: Call, values: dict[str, str]) -> None:
        service = self._deps.service

        async def update() -> Outcome:
            agent = await service.update_allowed_skills(
                values["agent"], skill_names(values["skills"]), actor=call.actor
            )
            return render.skills_set(agent), None

        await working(self._deps, call, render.UPDATING_SKILLS, update)

    async def secrets(self, call: Call, values: dict[str, str]) -> None:
        metas = await self._deps.service.get_agent_secrets_meta(values["agent"])
        await reply(self._deps, call, render.secrets_meta(values["agent"], metas))

    async def store_secret_reply(self, call: Call, agent_ref: str, text: str) -> None:
        """The answer to the guided "NAME=VALUE?" question (already deleted from the chat)."""
        try:
            assignments = parse_secret_reply(text)
        except ParseError as error:
            await reply(self._deps, call, render.secret_not_parsed(error))
            return
        await self.store_secrets(call, agent_ref, assignments)

    async def store_secrets(
        self, call: Call, agent_ref: str, assignments: list[SecretAssignment]
    ) -> None:
        values: dict[str, str | SecretStr] = {a.name: a.value for a in assignments}
        try:
            await self._deps.service.upsert_agent_secrets(agent_ref, values, actor=call.actor)
        except EXPECTED_ERRORS as error:
            await reply(self._deps, call, render.secrets_not_stored(explain(error)))
            return
        await reply(
            self._deps, call, render.secrets_stored(agent_ref, [a.name for a in assignments])
        )
