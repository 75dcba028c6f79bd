"""`FleetService`: the fleet's front — every use case of the seed, as plain async methods.

The Telegram layer, tests, a CLI and the benchmarks all drive the fleet through this class;
it knows nothing of Telegram. It holds no logic of its own: each method hands over to the
module of its use case —

    provision, resume after a crash     bot.fleet.provisioning
    recreate from a snapshot            bot.fleet.recreate
    start, stop, restart, deprovision,
    and those over many agents          bot.fleet.lifecycle (bot.fleet.bulk runs them)
    snapshot                            bot.fleet.snapshots
    model and skills                    bot.fleet.model_control
    secrets                             bot.fleet.secrets
    pairing                             bot.fleet.pairing (executor, recovery)
    invites                             bot.fleet.invites
    reading agents and their health     bot.fleet.views

— except tenant profiles, reached through `service.tenants` (`bot.fleet.tenants`). Every
mutating call records an audit entry; problems worth a human's time are queued for the ops
chat; a Fly failure reaches the caller as a `FleetError` (`bot.fleet.fly_boundary`), and
so does a refusal of the store (`bot.fleet.storage_boundary`, applied to this front).

`actor` names who asked (`storage.models.Actor`): an admin or an end user by Telegram id, or the
bot itself; the store records it as `admin:<telegram id>`, `user:<telegram id>`, `system`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import SecretStr

from bot.fleet.bulk import BulkAction, BulkReport
from bot.fleet.context import FleetContext
from bot.fleet.defaults import FleetDefaults
from bot.fleet.fly_pool import FlyPool
from bot.fleet.gateway import GatewayHealth
from bot.fleet.invites import InviteRedemption, Invites, NameOf
from bot.fleet.lifecycle import Lifecycle
from bot.fleet.model_control import ModelControl
from bot.fleet.pairing import Pairing
from bot.fleet.pairing_executor import PairingExecutor, PairingResult
from bot.fleet.pairing_recovery import PairingRecovery, RecoveryResult
from bot.fleet.progress import Progress
from bot.fleet.provisioning import OnResumed, Provisioning, ProvisionRequest, ProvisionResult
from bot.fleet.recreate import Recreate
from bot.fleet.secrets import AgentSecrets
from bot.fleet.snapshots import Snapshots
from bot.fleet.storage_boundary import storage_errors_become_fleet_errors
from bot.fleet.tenants import TenantService
from bot.fleet.views import AgentView, FleetViews
from storage import Store
from storage.models import (
    THE_BOT,
    Actor,
    Agent,
    IssuedInvite,
    PairingRequest,
    SecretMeta,
    Snapshot,
    SubmitResult,
)

# Named here for callers that import them with the service (explicit re-exports).
__all__ = ["AgentView", "FleetService", "ProvisionRequest"]


@storage_errors_become_fleet_errors
class FleetService:
    def __init__(self, store: Store, pool: FlyPool, defaults: FleetDefaults) -> None:
        self.ctx = FleetContext(store=store, pool=pool, defaults=defaults)
        self.store = store
        self.defaults = defaults
        self.tenants = TenantService(self.ctx)
        executor = PairingExecutor(self.ctx)
        self._executor = executor
        self._provisioning = Provisioning(self.ctx)
        self._recreate = Recreate(self.ctx)
        self._lifecycle = Lifecycle(self.ctx, PairingRecovery(self.ctx))
        self._snapshots = Snapshots(self.ctx)
        self._models = ModelControl(self.ctx)
        self._secrets = AgentSecrets(self.ctx)
        self._pairing = Pairing(self.ctx, executor)
        self._views = FleetViews(self.ctx)
        self._invites = Invites(self.ctx)

    async def start(self) -> None:
        """Call once at start-up: requests left running by a dead process become stuck."""
        await self._executor.recover_after_restart()

    async def aclose(self) -> None:
        await self.ctx.pool.aclose()

    async def find_agent(self, ref: str) -> Agent:
        return await self.ctx.find_agent(ref)

    # --- provision and recreate -------------------------------------------------------------

    async def provision_agent_machine(
        self, request: ProvisionRequest, *, actor: Actor, progress: Progress | None = None
    ) -> ProvisionResult:
        """Provision with secrets given in the call (stored in the vault for later steps) and
        those set before for `tenant/user`."""
        return await self._provisioning.provision_agent_machine(
            request, actor=actor, progress=progress
        )

    async def resume_unfinished(
        self, *, actor: Actor = THE_BOT, on_resumed: OnResumed | None = None
    ) -> list[str]:
        """After a crash: resume every provisioning the journal shows unfinished."""
        return await self._provisioning.resume_unfinished(actor=actor, on_resumed=on_resumed)

    async def recreate_agent_from_latest_snapshot(
        self,
        ref: str,
        *,
        actor: Actor,
        secrets: Mapping[str, str | SecretStr] | None = None,
        progress: Progress | None = None,
    ) -> ProvisionResult:
        """Recreate from the newest usable snapshot, with `secrets` stored first if given."""
        agent = await self.find_agent(ref)
        if secrets:
            await self._secrets.upsert_agent_secrets(agent.id, secrets, actor=actor)
        return await self._recreate.recreate_agent_from_latest_snapshot(
            agent.id, actor=actor, progress=progress
        )

    # --- lifecycle ----------------------------------------------------------------------------

    async def start_agent_machine(
        self, ref: str, *, actor: Actor, progress: Progress | None = None
    ) -> Agent:
        return await self._lifecycle.start_agent_machine(ref, actor=actor, progress=progress)

    async def stop_agent_machine(self, ref: str, *, actor: Actor) -> Agent:
        return await self._lifecycle.stop_agent_machine(ref, actor=actor)

    async def restart_agent_machine(
        self, ref: str, *, actor: Actor, progress: Progress | None = None
    ) -> tuple[Agent, RecoveryResult]:
        """Restart, wait for a healthy gateway, then settle any stuck pairing (look first)."""
        return await self._lifecycle.restart_agent_machine(ref, actor=actor, progress=progress)

    async def deprovision_agent_machine(self, ref: str, *, actor: Actor) -> list[str]:
        """Destroy the machine and volume, mark the agent deleted; answers what was removed."""
        return await self._lifecycle.deprovision_agent_machine(ref, actor=actor)

    async def bulk_targets(self, action: BulkAction, tenant_id: str | None = None) -> list[Agent]:
        """The live agents `action` applies to (optionally of one tenant), oldest first."""
        return await self._lifecycle.bulk_targets(action, tenant_id)

    async def bulk_lifecycle(
        self,
        action: BulkAction,
        agent_refs: Sequence[str],
        *,
        actor: Actor,
        concurrency: int | None = None,
        progress: Progress | None = None,
    ) -> BulkReport:
        """`action` on every agent, at most `concurrency` (default: the fleet's) at a time."""
        return await self._lifecycle.bulk_lifecycle(
            action, agent_refs, actor=actor, concurrency=concurrency, progress=progress
        )

    async def create_agent_snapshot(self, ref: str, *, actor: Actor) -> Snapshot:
        return await self._snapshots.create_agent_snapshot(ref, actor=actor)

    # --- model and skills ---------------------------------------------------------------------

    async def set_model(self, ref: str, model: str, *, actor: Actor) -> str:
        """`models set` then `models status --plain`; a mismatch is an alert, not a success."""
        return await self._models.set_model(ref, model, actor=actor)

    async def verify_model(self, ref: str, *, actor: Actor, expected: str | None = None) -> str:
        return await self._models.verify_model(ref, actor=actor, expected=expected)

    async def update_allowed_skills(
        self, ref: str, skills: Sequence[str], *, actor: Actor
    ) -> Agent:
        """Record the new skills AND put them on the running machine (an update restarts it)."""
        return await self._models.update_allowed_skills(ref, skills, actor=actor)

    # --- secrets ------------------------------------------------------------------------------

    async def upsert_agent_secrets(
        self, ref: str, values: Mapping[str, str | SecretStr], *, actor: Actor
    ) -> list[SecretMeta]:
        return await self._secrets.upsert_agent_secrets(ref, values, actor=actor)

    async def get_agent_secrets_meta(self, ref: str) -> list[SecretMeta]:
        return await self._secrets.get_agent_secrets_meta(ref)

    async def clear_agent_secrets(self, ref: str, *, actor: Actor) -> int:
        return await self._secrets.clear_agent_secrets(ref, actor=actor)

    # --- pairing ------------------------------------------------------------------------------

    async def approve_telegram_pairing(self, ref: str, code: str, *, actor: Actor) -> PairingResult:
        """An admin approves a code directly (the seed's `approveTelegramPairing`)."""
        return await self._pairing.approve_telegram_pairing(ref, code, actor=actor)

    async def submit_user_pairing_code(
        self, agent_id: str, code: str, *, telegram_user_id: int
    ) -> SubmitResult:
        return await self._pairing.submit_user_pairing_code(
            agent_id, code, telegram_user_id=telegram_user_id
        )

    async def approve_pairing_request(self, request_id: str, *, actor: Actor) -> PairingResult:
        """Approve (if still awaiting a decision) and execute: double taps run it once."""
        return await self._pairing.approve_pairing_request(request_id, actor=actor)

    async def reject_pairing_request(self, request_id: str, *, actor: Actor) -> None:
        await self._pairing.reject_pairing_request(request_id, actor=actor)

    async def unlink_telegram_user(self, ref: str, *, actor: Actor) -> tuple[Agent, int | None]:
        """Release the agent from its end user; answers the agent and who was linked."""
        return await self._pairing.unlink_telegram_user(ref, actor=actor)

    async def expire_stale_pairing_requests(self) -> list[PairingRequest]:
        """Expire requests whose code OpenClaw forgot; answers them (their users are told)."""
        return await self._pairing.expire_stale_requests()

    # --- invites ------------------------------------------------------------------------------

    async def create_invite(self, agent_id: str, *, actor: Actor) -> IssuedInvite:
        return await self._invites.create_invite(agent_id, actor=actor)

    async def withdraw_invite(self, invite_id: str, *, actor: Actor) -> None:
        await self._invites.withdraw_invite(invite_id, actor=actor)

    async def redeem_invite(
        self, token: str, *, telegram_user_id: int, name_of: NameOf
    ) -> InviteRedemption:
        """Link the redeemer, or tell the ops chat the agent is someone else's (see
        `bot.fleet.invites`); any other refusal is `InviteRefused`."""
        return await self._invites.redeem_invite(
            token, telegram_user_id=telegram_user_id, name_of=name_of
        )

    # --- reading ------------------------------------------------------------------------------

    async def list_agent_machines_by_tenant(self, tenant_id: str | None = None) -> list[Agent]:
        return await self._views.list_agent_machines_by_tenant(tenant_id)

    async def get_agent_machine(self, ref: str, *, live: bool = True) -> AgentView:
        return await self._views.get_agent_machine(ref, live=live)

    async def gateway_health(self, ref: str) -> GatewayHealth:
        return await self._views.gateway_health(ref)

    async def touch_agent_activity(self, ref: str) -> None:
        await self._views.touch_agent_activity(ref)
