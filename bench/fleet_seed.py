"""A fleet that already exists: machines on the Fly emulator and their agents in the database.

Scenarios that start from "N agents are running" build that state here: each machine is
created with the Machines API (the config `bot.fleet.machine_spec` builds for an agent, minus
the volume, which no scenario here needs), and each agent is written as a running record of
the store's agents table, pointing at its machine. Building a fleet is setup, never part of
a measurement. This module never talks to Telegram.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import aiohttp

from bench.world import AGENT_BOT_TOKEN, FLY_APP, FLY_TOKEN, World
from bot.fleet import machine_spec
from storage import Agent, Store, new_id
from storage.clock import to_db_time

TENANT = "bench"
REGION = "iad"
IMAGE = "registry.fly.io/linkhub-agents:openclaw-okr-v1"
MODEL = "openai/gpt-4.1-mini"
# Agents written per transaction: one fsync per batch instead of per agent.
AGENTS_PER_TRANSACTION = 2_000
# Creates in flight at once; the emulator handles one at a time anyway.
CREATE_CONCURRENCY = 16


def user_id(index: int) -> str:
    return f"u{index:05d}"


def machine_body(agent_id: str, user: str) -> bytes:
    """The create-machine request of one agent, as the provisioner would send it."""
    runtime = machine_spec.AgentRuntime(
        agent_id=agent_id,
        tenant_id=TENANT,
        user_id=user,
        image=IMAGE,
        region=REGION,
        cpu_kind="shared",
        cpus=1,
        memory_mb=2048,
        model=MODEL,
        allowed_skills=("linkhub-bridge",),
        bridge_url="https://bridge.example.com",
        app_key="linkhub-w4",
        service_id="svc-bench",
        startup_timeout_s=240,
        gateway_dev_mode=False,
        secrets={
            "LLM_API_KEY": "sk-llm-key-for-the-bench-000000000",
            "TELEGRAM_BOT_TOKEN": AGENT_BOT_TOKEN,
            "OPENCLAW_SERVICE_KEY": "service-key-for-the-bench",
            "OPENCLAW_GATEWAY_TOKEN": f"gateway-token-{agent_id}",
        },
    )
    config = machine_spec.machine_config(runtime, volume_id="unused")
    config = config.model_copy(update={"mounts": []})
    return json.dumps({"config": config.to_api(), "region": REGION}).encode()


async def create_machines(world: World, bodies: Sequence[bytes]) -> list[str]:
    """POST every body to the Machines API; the new machine ids, in order.

    Fly allows one create per second per app, so the emulator's rate limits are switched off
    for this setup; they stay off: the scenario switches them on for what it measures.
    """
    await world.fly_rate_limits(enabled=False)
    await world.fly_last_seq()
    url = f"{world.fly_base_url}/apps/{FLY_APP}/machines"
    headers = {"Authorization": f"Bearer {FLY_TOKEN}", "Content-Type": "application/json"}
    gate = asyncio.Semaphore(CREATE_CONCURRENCY)
    async with aiohttp.ClientSession() as session:

        async def create(body: bytes) -> str:
            async with gate, session.post(url, data=body, headers=headers) as answer:
                payload = await answer.json()
                if answer.status != 200:
                    raise RuntimeError(f"creating a machine failed: {answer.status} {payload}")
                return str(payload["id"])

        machine_ids = list(await asyncio.gather(*(create(body) for body in bodies)))
    await world.fly_made_requests(len(bodies))
    return machine_ids


_INSERT_AGENT = """
INSERT INTO agents (
    id, tenant_id, user_id, telegram_user_id, fly_app, machine_id, region, image, model,
    memory_mb, allowed_skills, status, created_at, updated_at, provisioned_at
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?)
"""


async def insert_running_agents(
    store: Store,
    agent_ids: Sequence[str],
    machine_ids: Sequence[str],
    telegram_user_ids: Sequence[int] | None = None,
) -> list[Agent]:
    """Write running agents straight into the agents table, `AGENTS_PER_TRANSACTION` a commit.

    The fleet is set up as already existing: it has no creation history or audit trail, which
    no scenario reads, and writing 10,000 agents through the repository (five statements and an
    audit entry each) would take most of a scenario's time budget.
    """
    now = to_db_time(store.clock())
    skills = json.dumps(["linkhub-bridge"])
    for start in range(0, len(agent_ids), AGENTS_PER_TRANSACTION):
        async with store.transaction() as tx:
            for index in range(start, min(len(agent_ids), start + AGENTS_PER_TRANSACTION)):
                await tx.execute(
                    _INSERT_AGENT,
                    (
                        agent_ids[index],
                        TENANT,
                        user_id(index),
                        telegram_user_ids[index] if telegram_user_ids is not None else None,
                        FLY_APP,
                        machine_ids[index],
                        REGION,
                        IMAGE,
                        MODEL,
                        2048,
                        skills,
                        now,
                        now,
                        now,  # provisioned: a running fleet (see agents.provisioned_at)
                    ),
                )
    by_id = {agent.id: agent for agent in await store.agents.live(tenant_id=TENANT)}
    return [by_id[agent_id] for agent_id in agent_ids]


async def running_fleet(
    world: World,
    store: Store,
    count: int,
    *,
    telegram_user_ids: Sequence[int] | None = None,
) -> list[Agent]:
    """`count` agents, each running on its own started machine (ids `ag_…`, users u00000…)."""
    agent_ids = [new_id("ag") for _ in range(count)]
    machine_ids = await create_machines(
        world, [machine_body(agent_id, user_id(index)) for index, agent_id in enumerate(agent_ids)]
    )
    agents = await insert_running_agents(store, agent_ids, machine_ids, telegram_user_ids)
    await wait_until_settled(world, set(machine_ids))
    return agents


async def wait_until_settled(world: World, machine_ids: set[str], timeout_s: float = 120) -> None:
    """Until every machine is started with its gateway listening (the emulator says so)."""
    async with asyncio.timeout(timeout_s):
        while True:
            state = await world.fly_read("state")
            ready = {
                machine["id"]
                for app in state["apps"]
                for machine in app["machines"]
                if machine["state"] == "started" and machine["emulator"]["gateway_listening"]
            }
            if machine_ids <= ready:
                return
            await asyncio.sleep(0.5)
