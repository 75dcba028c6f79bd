"""The fleet layer of the bot in this process: store, Fly pool and `FleetService`.

For scenarios that measure the fleet service or the monitor themselves, without Telegram. The
wiring copies `bot.runtime.Runtime._start` (same classes, same defaults from the same
settings); only what a scenario passes explicitly differs. Never starts the Telegram layer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bench import bot_config
from bench.world import World
from bot.fleet.defaults import FleetTimings
from bot.fleet.fly_pool import FlyPool
from bot.fleet.service import FleetService
from flyclient import RateLimits, RetryPolicy
from storage import Store


@asynccontextmanager
async def open_store(db_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(db_path, vault_keys=bot_config.VAULT_KEY)
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def fleet_service(
    world: World,
    store: Store,
    *,
    rate_limits: RateLimits | None = None,
    retry_policy: RetryPolicy | None = None,
    timings: FleetTimings | None = None,
) -> AsyncIterator[FleetService]:
    """A started `FleetService` on `store`, talking to the world's Fly emulator."""
    values = bot_config.settings_values(world, store.db.path)
    pool = FlyPool(
        machines_url=world.fly_base_url,
        logs_url=world.fly_root_url,
        rate_limits=rate_limits,
        retry_policy=retry_policy,
    )
    service = FleetService(store, pool, bot_config.fleet_defaults(values, timings))
    await service.start()
    try:
        yield service
    finally:
        await service.aclose()
