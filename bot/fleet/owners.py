"""The command-owner policy on each machine: applied, recorded per machine, read back.

Approving the first pairing code of an OpenClaw installation whose `commands.ownerAllowFrom` is
empty makes that end user its command owner (who may then change the agent's model, restart it,
approve commands). `FLYAGENTS_AGENT_OWNER` decides instead: `admins` or an explicit list is
written with `config set commands.ownerAllowFrom` (through the per-machine CLI lock, like every
command); `user` leaves OpenClaw's own behaviour. What each machine got is recorded in the audit
log (action `machine.owners`, target the machine id): the owners the bot set, or the owner
OpenClaw reported configuring on a first approval. Before any approval `ensure_policy` brings a
machine whose record does not match the policy (provisioned before it existed, its owner step
skipped, recreated, or the policy changed since) to the policy first.

This module never approves anything, never removes owners under the `user` policy, and never
reads OpenClaw's state files: the CLI is the only interface.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.fleet import openclaw
from bot.fleet.context import FleetContext
from bot.fleet.errors import OperationFailed
from bot.fleet.resolve import EffectiveConfig
from flyclient import FlyClient
from storage.models import Actor, AuditOutcome

OWNERS_ACTION = "machine.owners"
SET_BY_BOT = "config set"
SET_BY_OPENCLAW = "first approval"
RECORD_LOOKBACK = 50


class OwnerPolicyFailed(OperationFailed):
    """OpenClaw refused `config set commands.ownerAllowFrom`; nothing was approved."""


@dataclass(frozen=True)
class OwnerRecord:
    """The command owners a machine is known to have, and who put them there."""

    owners: tuple[str, ...]
    how: str  # SET_BY_BOT or SET_BY_OPENCLAW


async def recorded(ctx: FleetContext, machine_id: str) -> OwnerRecord | None:
    """The newest owner record of the machine, or None when nothing was recorded.

    Refused attempts are audited under the same action; they changed nothing, so they are
    skipped. Past `RECORD_LOOKBACK` entries the record counts as missing, which only means
    the policy is applied once more.
    """
    entries = await ctx.store.audit.entries(
        target=machine_id, action=OWNERS_ACTION, limit=RECORD_LOOKBACK
    )
    for entry in entries:
        owners = entry.detail.get("owners")
        how = entry.detail.get("how")
        if entry.outcome is AuditOutcome.OK and isinstance(owners, list) and isinstance(how, str):
            return OwnerRecord(owners=tuple(str(owner) for owner in owners), how=how)
    return None


async def record(
    ctx: FleetContext, machine_id: str, owners: Sequence[str], *, how: str, actor: Actor
) -> None:
    await ctx.audit(
        actor, OWNERS_ACTION, machine_id, AuditOutcome.OK, {"owners": list(owners), "how": how}
    )


def satisfies_policy(current: OwnerRecord | None, wanted: tuple[str, ...] | None) -> bool:
    """Whether an approval on a machine with CURRENT owners is safe under the policy WANTED."""
    if wanted is None:
        # `user`: OpenClaw decides; owners the bot set earlier are never taken away silently.
        return True
    return current is not None and current.how == SET_BY_BOT and current.owners == wanted


async def apply_policy(
    ctx: FleetContext,
    fly: FlyClient,
    machine_id: str,
    config: EffectiveConfig,
    *,
    actor: Actor,
) -> tuple[str, ...] | None:
    """Write the policy's owners to the machine and record them; None under `user`.

    `OwnerPolicyFailed` when OpenClaw refuses; Fly errors (an unknown outcome included)
    propagate for the caller to classify.
    """
    wanted = ctx.defaults.owner_entries
    if wanted is None:
        return None
    command = openclaw.set_owner_allow_from(ctx.defaults.openclaw_dir, list(wanted))
    outcome = await ctx.run_cli(fly, machine_id, command, config=config)
    parsed = openclaw.parse_config_set(outcome.exit_code, outcome.stdout, outcome.stderr)
    if not parsed.ok:
        await ctx.audit(
            actor, OWNERS_ACTION, machine_id, AuditOutcome.FAILED, {"reason": parsed.reason}
        )
        raise OwnerPolicyFailed(f"Setting the command owners failed: {parsed.reason}")
    await record(ctx, machine_id, wanted, how=SET_BY_BOT, actor=actor)
    return wanted


async def ensure_policy(
    ctx: FleetContext,
    fly: FlyClient,
    machine_id: str,
    config: EffectiveConfig,
    *,
    actor: Actor,
) -> bool:
    """Bring the machine to the policy unless its record already satisfies it; True if it ran."""
    wanted = ctx.defaults.owner_entries
    if satisfies_policy(await recorded(ctx, machine_id), wanted):
        return False
    await apply_policy(ctx, fly, machine_id, config, actor=actor)
    return True


def policy_words(wanted: tuple[str, ...] | None) -> str:
    if wanted is None:
        return "user (the first paired user becomes owner, as OpenClaw does)"
    return ", ".join(wanted) or "none"


def describe(current: OwnerRecord | None, wanted: tuple[str, ...] | None) -> str:
    """One line for /status: the machine's recorded owners and whether they match the policy."""
    if current is None:
        if wanted is None:
            return f"none yet · policy {policy_words(wanted)}"
        return (
            f"not set on this machine yet · policy {policy_words(wanted)}, "
            "set before its first pairing approval"
        )
    owners = ", ".join(current.owners) or "none"
    source = "set by the bot" if current.how == SET_BY_BOT else "made owner by a first approval"
    line = f"{owners} ({source})"
    if not satisfies_policy(current, wanted):
        line += f" · policy now {policy_words(wanted)}, set before the next pairing approval"
    return line
