"""One-time, expiring invites that link a Telegram user to an agent.

The token is 43 URL-safe characters (`A-Z a-z 0-9 _ -`, 256 random bits), so it fits a Telegram
deep link (`t.me/<bot>?start=<token>`, at most 64 characters). Only its SHA-256 is stored: with
that much entropy a plain hash cannot be reversed, and a leaked database yields no usable link.
Redeeming is one conditional UPDATE, so two users racing for one invite cannot both win; it
links the agent to the redeemer in the same transaction.

This module never stores, logs or returns a token except once, from `create`, as a `SecretStr`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from pydantic import SecretStr

from storage.agents import AgentRepository
from storage.audit import AuditLog
from storage.clock import Clock, from_db_time, from_db_time_or_none, to_db_time
from storage.db import Database, Row, Transaction
from storage.errors import InviteRedeemError, NotFoundError, StateTransitionError
from storage.ids import new_id
from storage.models import AuditOutcome, Invite, InviteRefusal, IssuedInvite

TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
DEFAULT_INVITE_TTL = timedelta(days=7)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


class InviteRepository:
    """Repository for `invites`."""

    def __init__(
        self, database: Database, clock: Clock, audit: AuditLog, agents: AgentRepository
    ) -> None:
        self._db = database
        self._clock = clock
        self._audit = audit
        self._agents = agents

    async def create(
        self,
        agent_id: str,
        *,
        created_by: str,
        ttl: timedelta = DEFAULT_INVITE_TTL,
        tx: Transaction | None = None,
    ) -> IssuedInvite:
        """A new invite for a live agent; the returned token is never retrievable again."""
        if ttl <= timedelta(0):
            raise ValueError("an invite must live for a positive time")
        token = secrets.token_urlsafe(32)
        now = self._clock()
        async with self._db.transaction(tx) as transaction:
            agent = await transaction.fetch_one(
                "SELECT deleted_at FROM agents WHERE id = ?", (agent_id,)
            )
            if agent is None or agent["deleted_at"] is not None:
                raise NotFoundError(f"no live agent {agent_id}")
            row = await transaction.fetch_one(
                """
                INSERT INTO invites (id, agent_id, token_hash, created_by, created_at, expires_at)
                VALUES (?, ?, ?, ?, ?, ?)
                RETURNING *
                """,
                (
                    new_id("inv"),
                    agent_id,
                    hash_token(token),
                    created_by,
                    to_db_time(now),
                    to_db_time(now + ttl),
                ),
            )
            assert row is not None  # INSERT … RETURNING always yields the row
            invite = _invite(row)
            await self._audit.record(
                actor=created_by,
                action="invite.create",
                target=invite.id,
                outcome=AuditOutcome.OK,
                detail={"agent_id": agent_id, "expires_at": invite.expires_at.isoformat()},
                tx=transaction,
            )
        return IssuedInvite(invite=invite, token=SecretStr(token))

    async def redeem(
        self, token: str | SecretStr, *, telegram_user_id: int, tx: Transaction | None = None
    ) -> Invite:
        """Use an invite once: marks it redeemed and links the agent to `telegram_user_id`.

        Raises `InviteRedeemError` with a `reason` from `InviteRefusal` otherwise.
        """
        text = token.get_secret_value() if isinstance(token, SecretStr) else token
        actor = f"tg:{telegram_user_id}"
        if not TOKEN_PATTERN.fullmatch(text):
            raise InviteRedeemError("this invite link is not valid", InviteRefusal.UNKNOWN)
        now = to_db_time(self._clock())
        async with self._db.transaction(tx) as transaction:
            row = await transaction.fetch_one(
                """
                UPDATE invites SET redeemed_at = ?, redeemed_by_telegram_user_id = ?
                WHERE token_hash = ? AND redeemed_at IS NULL AND revoked_at IS NULL
                    AND expires_at > ?
                    AND EXISTS (
                        SELECT 1 FROM agents
                        WHERE agents.id = invites.agent_id AND agents.deleted_at IS NULL
                            AND (agents.telegram_user_id IS NULL
                                 OR agents.telegram_user_id = ?)
                    )
                RETURNING *
                """,
                (now, telegram_user_id, hash_token(text), now, telegram_user_id),
            )
            if row is not None:
                invite = _invite(row)
                await self._agents.link_telegram_user(
                    invite.agent_id, telegram_user_id, actor=actor, tx=transaction
                )
                await self._audit.record(
                    actor=actor,
                    action="invite.redeem",
                    target=invite.id,
                    outcome=AuditOutcome.OK,
                    detail={"agent_id": invite.agent_id},
                    tx=transaction,
                )
                return invite
        refusal = await self._refusal(text, telegram_user_id)
        if refusal.reason == InviteRefusal.AGENT_TAKEN:
            # Kept in the audit log: who tried to take whose agent (the invite stays unused).
            await self._audit.record(
                actor=actor,
                action="invite.redeem",
                target=refusal.agent_id,
                outcome=AuditOutcome.REFUSED,
                detail={
                    "reason": refusal.reason,
                    "linked_telegram_user_id": refusal.linked_user_id,
                },
                tx=tx,
            )
        raise refusal

    async def revoke(self, invite_id: str, *, by: str, tx: Transaction | None = None) -> Invite:
        now = to_db_time(self._clock())
        async with self._db.transaction(tx) as transaction:
            row = await transaction.fetch_one(
                """
                UPDATE invites SET revoked_at = ?
                WHERE id = ? AND redeemed_at IS NULL AND revoked_at IS NULL
                RETURNING *
                """,
                (now, invite_id),
            )
            if row is None:
                current = await transaction.fetch_one(
                    "SELECT * FROM invites WHERE id = ?", (invite_id,)
                )
                if current is None:
                    raise NotFoundError(f"no invite {invite_id}")
                raise StateTransitionError(
                    f"invite {invite_id} is already used or revoked", _invite(current)
                )
            await self._audit.record(
                actor=by,
                action="invite.revoke",
                target=invite_id,
                outcome=AuditOutcome.OK,
                tx=transaction,
            )
        return _invite(row)

    async def for_agent(self, agent_id: str) -> list[Invite]:
        rows = await self._db.fetch_all(
            "SELECT * FROM invites WHERE agent_id = ? ORDER BY created_at, id", (agent_id,)
        )
        return [_invite(row) for row in rows]

    def _expired(self, row: Row) -> bool:
        return from_db_time(row["expires_at"]) <= self._clock()

    async def _refusal(self, token: str, telegram_user_id: int) -> InviteRedeemError:
        row = await self._db.fetch_one(
            "SELECT invites.*, agents.deleted_at AS agent_deleted_at, "
            "agents.telegram_user_id AS linked_user_id FROM invites "
            "JOIN agents ON agents.id = invites.agent_id WHERE token_hash = ?",
            (hash_token(token),),
        )
        if row is None:
            return InviteRedeemError("this invite link is not valid", InviteRefusal.UNKNOWN)
        if row["redeemed_at"] is not None:
            return InviteRedeemError(
                "this invite link was already used", InviteRefusal.ALREADY_USED
            )
        if row["revoked_at"] is not None:
            return InviteRedeemError("this invite link was withdrawn", InviteRefusal.REVOKED)
        if row["agent_deleted_at"] is not None:
            return InviteRedeemError(
                "the agent this invite was for no longer exists", InviteRefusal.AGENT_GONE
            )
        linked = row["linked_user_id"]
        if linked is not None and linked != telegram_user_id and not self._expired(row):
            return InviteRedeemError(
                "this agent is already linked to another Telegram account",
                InviteRefusal.AGENT_TAKEN,
                agent_id=row["agent_id"],
                linked_user_id=int(linked),
            )
        return InviteRedeemError("this invite link has expired", InviteRefusal.EXPIRED)


def _invite(row: Row) -> Invite:
    return Invite(
        id=row["id"],
        agent_id=row["agent_id"],
        created_by=row["created_by"],
        created_at=from_db_time(row["created_at"]),
        expires_at=from_db_time(row["expires_at"]),
        redeemed_at=from_db_time_or_none(row["redeemed_at"]),
        redeemed_by_telegram_user_id=row["redeemed_by_telegram_user_id"],
        revoked_at=from_db_time_or_none(row["revoked_at"]),
    )
