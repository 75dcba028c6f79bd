"""Invites: one-time, expiring, stored only as a hash, redeemed by exactly one user."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.errors import InviteRedeemError
from storage.models import Invite, InviteRefusal
from storage.store import Store


class ManualClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "invites.db"


@pytest.fixture
async def store(db_path: Path, clock: ManualClock) -> AsyncIterator[Store]:
    opened = await Store.open(db_path, clock=clock)
    yield opened
    await opened.close()


async def new_agent_id(store: Store) -> str:
    return (await store.agents.create(tenant_id="acme", user_id="u1", actor="admin:1")).id


async def test_a_token_fits_a_telegram_deep_link_and_only_its_hash_is_stored(
    store: Store, db_path: Path
) -> None:
    issued = await store.invites.create(await new_agent_id(store), created_by="admin:1")
    token = issued.token.get_secret_value()
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", token)
    assert token not in repr(issued)
    row = await store.db.fetch_one("SELECT token_hash FROM invites")
    assert row is not None and row[0] == hashlib.sha256(token.encode()).hexdigest()
    files = [db_path, db_path.with_name(db_path.name + "-wal")]
    stored = b"".join(path.read_bytes() for path in files if path.exists())
    assert token.encode() not in stored


async def test_redeeming_links_the_agent_to_the_user_once(store: Store) -> None:
    agent_id = await new_agent_id(store)
    issued = await store.invites.create(agent_id, created_by="admin:1")
    redeemed = await store.invites.redeem(issued.token, telegram_user_id=2002)
    assert redeemed.redeemed_by_telegram_user_id == 2002
    assert (await store.agents.get(agent_id)).telegram_user_id == 2002
    with pytest.raises(InviteRedeemError) as error:
        await store.invites.redeem(issued.token, telegram_user_id=3003)
    assert error.value.reason is InviteRefusal.ALREADY_USED
    assert (await store.agents.get(agent_id)).telegram_user_id == 2002


async def test_two_users_racing_for_one_invite_cannot_both_win(store: Store) -> None:
    issued = await store.invites.create(await new_agent_id(store), created_by="admin:1")
    results = await asyncio.gather(
        *(store.invites.redeem(issued.token, telegram_user_id=n) for n in range(1000, 1020)),
        return_exceptions=True,
    )
    winners = [item for item in results if isinstance(item, Invite)]
    assert len(winners) == 1
    assert all(
        isinstance(item, InviteRedeemError) and item.reason is InviteRefusal.ALREADY_USED
        for item in results
        if not isinstance(item, Invite)
    )


async def test_expired_revoked_unknown_and_orphaned_invites_are_refused_with_a_reason(
    store: Store, clock: ManualClock
) -> None:
    agent_id = await new_agent_id(store)
    expiring = await store.invites.create(agent_id, created_by="a", ttl=timedelta(hours=1))
    revoked = await store.invites.create(agent_id, created_by="a")
    await store.invites.revoke(revoked.invite.id, by="admin:1")
    orphaned = await store.invites.create(agent_id, created_by="a")
    clock.now += timedelta(hours=2)

    cases = [
        (expiring.token.get_secret_value(), InviteRefusal.EXPIRED),
        (revoked.token.get_secret_value(), InviteRefusal.REVOKED),
        ("x" * 43, InviteRefusal.UNKNOWN),
        ("not a token!", InviteRefusal.UNKNOWN),
    ]
    for token, reason in cases:
        with pytest.raises(InviteRedeemError) as error:
            await store.invites.redeem(token, telegram_user_id=2002)
        assert error.value.reason is reason
        assert token not in str(error.value)

    await store.agents.mark_deleted(agent_id, actor="admin:1")
    with pytest.raises(InviteRedeemError) as error:
        await store.invites.redeem(orphaned.token, telegram_user_id=2002)
    assert error.value.reason is InviteRefusal.AGENT_GONE


async def test_two_users_racing_with_two_invites_for_one_agent_never_swap_it(
    store: Store,
) -> None:
    agent_id = await new_agent_id(store)
    first = await store.invites.create(agent_id, created_by="admin:1")
    second = await store.invites.create(agent_id, created_by="admin:1")

    outcomes = await asyncio.gather(
        store.invites.redeem(first.token, telegram_user_id=2002),
        store.invites.redeem(second.token, telegram_user_id=3003),
        return_exceptions=True,
    )

    winners = [o for o in outcomes if isinstance(o, Invite)]
    (refused,) = [o for o in outcomes if isinstance(o, InviteRedeemError)]
    assert len(winners) == 1
    assert refused.reason == InviteRefusal.AGENT_TAKEN and refused.agent_id == agent_id
    linked = (await store.agents.get(agent_id)).telegram_user_id
    assert linked == winners[0].redeemed_by_telegram_user_id == refused.linked_user_id
    # The refused invite stays unused: after an admin releases the agent it links its opener.
    await store.agents.unlink_telegram_user(agent_id, actor="admin:1")
    loser_token = second.token if linked == 2002 else first.token
    loser_id = 3003 if linked == 2002 else 2002
    await store.invites.redeem(loser_token, telegram_user_id=loser_id)
    assert (await store.agents.get(agent_id)).telegram_user_id == loser_id
