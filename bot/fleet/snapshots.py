"""Taking an agent's snapshot: Fly snapshots its volume, the store records it.

The snapshot is waited for (bounded) until Fly lists it as `created`, so a /recreate right
after /snapshot can use it; a snapshot still being made past that wait is recorded as it is.
Recreating from a snapshot is `bot.fleet.recreate`'s.
"""

from __future__ import annotations

from bot.fleet.context import FleetContext
from bot.fleet.errors import FleetError, OperationFailed
from bot.fleet.fly_boundary import fly_call, fly_errors_become_fleet_errors
from storage.models import Actor, AuditOutcome, Snapshot


@fly_errors_become_fleet_errors
class Snapshots:
    def __init__(self, ctx: FleetContext) -> None:
        self.ctx = ctx

    async def create_agent_snapshot(self, ref: str, *, actor: Actor) -> Snapshot:
        ctx = self.ctx
        agent = await ctx.find_agent(ref)
        if agent.volume_id is None:
            raise FleetError(f"Agent {agent.id} has no volume to snapshot.")
        volume_id = agent.volume_id
        fly, _ = await ctx.fly_for(agent)
        async with fly_call(
            ctx,
            actor=actor,
            action="agent.snapshot",
            agent_id=agent.id,
            failure=lambda error: OperationFailed(
                f"Snapshot of {volume_id} failed: {error.message}"
            ),
        ):
            snapshot = await fly.create_snapshot(volume_id)
        snapshot = await fly.wait_for_snapshot_created(
            volume_id,
            snapshot,
            ctx.defaults.timings.snapshot_wait_s,
            poll_s=ctx.defaults.timings.snapshot_poll_s,
        )
        record = await ctx.store.snapshots.record(
            agent_id=agent.id,
            source_volume_id=volume_id,
            fly_snapshot_id=snapshot.id,
            source_machine_id=agent.machine_id,
            region=agent.region,
            detail=f"fly status {snapshot.status}",
        )
        await ctx.audit(
            actor, "agent.snapshot", agent.id, AuditOutcome.OK, {"snapshot_id": snapshot.id}
        )
        return record
