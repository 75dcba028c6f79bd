"""Validation happens before anything is created, and every problem is reported at once."""

from __future__ import annotations

import pytest
from fleet_harness import ADMIN, AGENT_BOT_TOKEN, Fleet, build_fleet

from bot.fleet.errors import InvalidRequest
from bot.fleet.service import ProvisionRequest

GOOD = {"TELEGRAM_BOT_TOKEN": AGENT_BOT_TOKEN}


async def _refused(fleet: Fleet, request: ProvisionRequest) -> list[str]:
    with pytest.raises(InvalidRequest) as caught:
        await fleet.service.provision_agent_machine(request, actor=ADMIN)
    assert await fleet.machines() == []
    assert await fleet.volumes() == []
    assert await fleet.store.agents.live() == []
    return caught.value.problems


async def test_all_problems_are_listed_together(fleet: Fleet) -> None:
    problems = await _refused(
        fleet,
        ProvisionRequest(
            tenant_id="bad tenant",
            user_id="",
            model="openai/gpt-5-mini",
            allowed_skills=["Bad Skill"],
            region="nowhere",
            secrets={"TELEGRAM_BOT_TOKEN": "not-a-token", "BOGUS": "x"},
        ),
    )
    text = " | ".join(problems)
    for expected in (
        "TENANT_ID",
        "USER_ID",
        "gpt-5-mini",
        "skill",
        "region",
        "TELEGRAM_BOT_TOKEN",
        "BOGUS",
    ):
        assert expected in text, text
    assert len(problems) == 7


@pytest.mark.parametrize(
    "model", ["gpt-5-mini", "GPT-5-MINI", "openai/Gpt-5-Mini", "openrouter/openai/gpt-5-mini"]
)
async def test_gpt_5_mini_is_refused_in_any_spelling(fleet: Fleet, model: str) -> None:
    problems = await _refused(
        fleet, ProvisionRequest(tenant_id="acme", user_id="u1", model=model, secrets=GOOD)
    )
    assert any("gpt-5-mini" in p for p in problems)


async def test_missing_agent_bot_token_is_refused(fleet: Fleet) -> None:
    problems = await _refused(fleet, ProvisionRequest(tenant_id="acme", user_id="u1"))
    assert problems == ["TELEGRAM_BOT_TOKEN: is required but not set"]


async def test_every_required_runtime_value_is_checked(fly_emulator, store) -> None:  # type: ignore[no-untyped-def]
    fleet = await build_fleet(
        fly_emulator,
        store,
        bridge_url=None,
        service_id=None,
        service_key=None,
        llm_api_key=None,
        app_key="",
        fly_app=None,
    )
    try:
        problems = await _refused(fleet, ProvisionRequest(tenant_id="acme", user_id="u1"))
    finally:
        await fleet.control.aclose()
        await fleet.service.aclose()
    missing = sorted(p.split(":")[0] for p in problems)
    assert missing == sorted(
        [
            "LLM_API_KEY",
            "TELEGRAM_BOT_TOKEN",
            "OPENCLAW_SERVICE_KEY",
            "AGENT_BRIDGE_URL",
            "OPENCLAW_SERVICE_ID",
            "OPENCLAW_APP_KEY",
            "FLY_APP_NAME",
        ]
    )


async def test_the_gateway_token_is_generated_unless_given(fleet: Fleet) -> None:
    given = "gateway-token-given-by-admin-000"
    result = await fleet.service.provision_agent_machine(
        ProvisionRequest(
            tenant_id="acme",
            user_id="u1",
            secrets={**GOOD, "OPENCLAW_GATEWAY_TOKEN": given},
        ),
        actor=ADMIN,
    )
    env = (await fleet.machines())[0]["config"]["env"]
    assert env["OPENCLAW_GATEWAY_TOKEN"] == given
    other = await fleet.provision(user="u2")
    envs = {m["id"]: m["config"]["env"] for m in await fleet.machines()}
    generated = envs[other.agent.machine_id]["OPENCLAW_GATEWAY_TOKEN"]
    assert generated != given
    assert len(generated) >= 32
    assert result.agent.id != other.agent.id
