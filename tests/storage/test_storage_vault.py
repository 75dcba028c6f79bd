"""Secrets vault: AES-256-GCM bound to scope, name and key id; rotation; nothing leaks.

Tampering is done the way an attacker with the database file would do it: raw SQL on the real
file, never by reaching into the vault's code.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from storage.errors import (
    InvalidSecretNameError,
    NotFoundError,
    SecretDecryptionError,
    UnknownKeyIdError,
    VaultKeyError,
    VaultNotConfiguredError,
)
from storage.keyring import GENERATE_COMMAND, VaultKeyring, derive_key_id
from storage.models import SecretScope
from storage.store import Store

CANARY = "canary-7f3c9a1e-d0e4-4b8e-9a55-0123456789ab"


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "vault.db"


@pytest.fixture
def key() -> str:
    return new_key()


@pytest.fixture
async def store(db_path: Path, key: str) -> AsyncIterator[Store]:
    opened = await Store.open(db_path, vault_keys=key)
    yield opened
    await opened.close()


async def new_agent(store: Store, user: str = "u1") -> SecretScope:
    agent = await store.agents.create(tenant_id="acme", user_id=user, actor="admin:1")
    return SecretScope.agent(agent.id)


async def reopen(db_path: Path, keys: str | None) -> Store:
    return await Store.open(db_path, vault_keys=keys)


async def test_secrets_round_trip_and_come_back_as_secretstr(store: Store) -> None:
    scope = await new_agent(store)
    await store.secrets.upsert(
        scope,
        {"TELEGRAM_BOT_TOKEN": "123456:abc", "LLM_API_KEY": SecretStr(CANARY)},
        actor="admin:1",
    )
    values = await store.secrets.get_all(scope)
    assert {name: value.get_secret_value() for name, value in values.items()} == {
        "LLM_API_KEY": CANARY,
        "TELEGRAM_BOT_TOKEN": "123456:abc",
    }
    single = await store.secrets.get(scope, "LLM_API_KEY")
    assert single is not None and single.get_secret_value() == CANARY
    assert CANARY not in repr(values) and CANARY not in str(single)
    assert await store.secrets.get(scope, "OPENAI_API_KEY") is None


async def test_upsert_merges_and_clear_removes_everything_for_the_agent(store: Store) -> None:
    scope = await new_agent(store)
    other = await new_agent(store, user="u2")
    await store.secrets.upsert(scope, {"A_KEY": "1", "B_KEY": "2"}, actor="admin:1")
    await store.secrets.upsert(other, {"A_KEY": "other"}, actor="admin:1")
    meta = await store.secrets.upsert(scope, {"B_KEY": "3", "C_KEY": "4"}, actor="admin:1")

    assert [item.name for item in meta] == ["A_KEY", "B_KEY", "C_KEY"]
    values = await store.secrets.get_all(scope)
    assert {name: value.get_secret_value() for name, value in values.items()} == {
        "A_KEY": "1",
        "B_KEY": "3",
        "C_KEY": "4",
    }
    assert await store.secrets.delete(scope, "A_KEY", actor="admin:1")
    assert not await store.secrets.delete(scope, "A_KEY", actor="admin:1")
    assert await store.secrets.clear(scope, actor="admin:1") == 2
    assert await store.secrets.get_all(scope) == {}
    assert [item.name for item in await store.secrets.meta(other)] == ["A_KEY"]


async def test_meta_shows_names_key_id_times_and_a_keyed_fingerprint_never_values(
    store: Store, key: str
) -> None:
    scope = await new_agent(store)
    await store.secrets.upsert(scope, {"LLM_API_KEY": CANARY}, actor="admin:1")
    [meta] = await store.secrets.meta(scope)

    assert meta.name == "LLM_API_KEY"
    assert meta.key_id == derive_key_id(base64.b64decode(key))
    assert len(meta.fingerprint) == 16
    assert CANARY not in meta.model_dump_json()
    # Keyed: not a plain hash of the value, and different under another key.
    assert meta.fingerprint not in hashlib.sha256(CANARY.encode()).hexdigest()
    other_keyring = VaultKeyring.from_env_value(new_key())
    assert other_keyring.fingerprint(CANARY) != meta.fingerprint
    assert await store.secrets.fingerprint_matches(scope, "LLM_API_KEY", CANARY)
    assert not await store.secrets.fingerprint_matches(scope, "LLM_API_KEY", "something else")


async def test_every_write_uses_a_fresh_nonce(store: Store) -> None:
    scope = await new_agent(store)
    seen: set[bytes] = set()
    for _ in range(5):
        await store.secrets.upsert(scope, {"LLM_API_KEY": CANARY}, actor="admin:1")
        row = await store.db.fetch_one("SELECT nonce, ciphertext FROM vault_secrets")
        assert row is not None
        assert len(bytes(row["nonce"])) == 12
        seen.add(bytes(row["nonce"]))
    assert len(seen) == 5


async def test_a_different_key_cannot_read_and_says_which_key_id_is_missing(
    store: Store, db_path: Path
) -> None:
    scope = await new_agent(store)
    await store.secrets.upsert(scope, {"LLM_API_KEY": CANARY}, actor="admin:1")
    [meta] = await store.secrets.meta(scope)
    await store.close()

    wrong = await reopen(db_path, new_key())
    try:
        with pytest.raises(UnknownKeyIdError, match=meta.key_id) as error:
            await wrong.secrets.get(scope, "LLM_API_KEY")
        assert CANARY not in str(error.value)
    finally:
        await wrong.close()


async def test_a_wrong_key_under_the_same_key_id_fails_authentication(db_path: Path) -> None:
    store = await reopen(db_path, f"main:{new_key()}")
    scope = await new_agent(store)
    await store.secrets.upsert(scope, {"LLM_API_KEY": CANARY}, actor="admin:1")
    await store.close()

    wrong = await reopen(db_path, f"main:{new_key()}")
    try:
        with pytest.raises(SecretDecryptionError, match="LLM_API_KEY") as error:
            await wrong.secrets.get_all(scope)
        assert CANARY not in str(error.value)
    finally:
        await wrong.close()


async def test_a_tampered_ciphertext_or_nonce_raises_a_clear_error(store: Store) -> None:
    scope = await new_agent(store)
    await store.secrets.upsert(scope, {"LLM_API_KEY": CANARY}, actor="admin:1")
    row = await store.db.fetch_one("SELECT nonce, ciphertext FROM vault_secrets")
    assert row is not None
    ciphertext = bytearray(row["ciphertext"])
    ciphertext[3] ^= 0x01
    async with store.transaction() as tx:
        await tx.execute("UPDATE vault_secrets SET ciphertext = ?", (bytes(ciphertext),))
    with pytest.raises(SecretDecryptionError, match="altered") as error:
        await store.secrets.get(scope, "LLM_API_KEY")
    assert CANARY not in str(error.value)

    nonce = bytearray(row["nonce"])
    nonce[0] ^= 0x80
    async with store.transaction() as tx:
        await tx.execute(
            "UPDATE vault_secrets SET ciphertext = ?, nonce = ?",
            (bytes(row["ciphertext"]), bytes(nonce)),
        )
    with pytest.raises(SecretDecryptionError):
        await store.secrets.get(scope, "LLM_API_KEY")


async def test_a_row_copied_onto_another_agent_does_not_decrypt(store: Store) -> None:
    victim = await new_agent(store, user="victim")
    attacker = await new_agent(store, user="attacker")
    await store.secrets.upsert(victim, {"LLM_API_KEY": CANARY}, actor="admin:1")
    async with store.transaction() as tx:
        await tx.execute(
            """
            INSERT INTO vault_secrets
            SELECT scope_kind, ?, name, key_id, nonce, ciphertext, fingerprint,
                   created_at, updated_at
            FROM vault_secrets WHERE scope_id = ?
            """,
            (attacker.id, victim.id),
        )
    with pytest.raises(SecretDecryptionError, match=attacker.id):
        await store.secrets.get(attacker, "LLM_API_KEY")
    # The original still decrypts.
    original = await store.secrets.get(victim, "LLM_API_KEY")
    assert original is not None and original.get_secret_value() == CANARY


async def test_a_row_renamed_or_moved_to_the_tenant_scope_does_not_decrypt(store: Store) -> None:
    scope = await new_agent(store)
    await store.secrets.upsert(scope, {"LLM_API_KEY": CANARY}, actor="admin:1")
    async with store.transaction() as tx:
        await tx.execute("UPDATE vault_secrets SET name = 'OPENAI_API_KEY'")
    with pytest.raises(SecretDecryptionError):
        await store.secrets.get(scope, "OPENAI_API_KEY")
    async with store.transaction() as tx:
        await tx.execute("UPDATE vault_secrets SET name = 'LLM_API_KEY', scope_kind = 'tenant'")
    with pytest.raises(SecretDecryptionError):
        await store.secrets.get(SecretScope.tenant(scope.id), "LLM_API_KEY")


async def test_relabelling_a_row_with_another_configured_key_id_does_not_decrypt(
    db_path: Path,
) -> None:
    store = await reopen(db_path, f"new:{new_key()},old:{new_key()}")
    try:
        scope = await new_agent(store)
        await store.secrets.upsert(scope, {"LLM_API_KEY": CANARY}, actor="admin:1")
        async with store.transaction() as tx:
            await tx.execute("UPDATE vault_secrets SET key_id = 'old'")
        with pytest.raises(SecretDecryptionError):
            await store.secrets.get(scope, "LLM_API_KEY")
    finally:
        await store.close()


async def test_rotation_keeps_old_secrets_readable_then_moves_them_to_the_current_key(
    db_path: Path,
) -> None:
    old_key, new_key_value = new_key(), new_key()
    store = await reopen(db_path, f"old:{old_key}")
    scopes = [await new_agent(store, user=f"u{n}") for n in range(3)]
    for n, scope in enumerate(scopes):
        await store.secrets.upsert(scope, {"LLM_API_KEY": f"{CANARY}-{n}"}, actor="admin:1")
    await store.close()

    # New key first (current), old key decrypt-only: everything still reads.
    store = await reopen(db_path, f"new:{new_key_value},old:{old_key}")
    try:
        for n, scope in enumerate(scopes):
            value = await store.secrets.get(scope, "LLM_API_KEY")
            assert value is not None and value.get_secret_value() == f"{CANARY}-{n}"
        await store.secrets.upsert(scopes[0], {"OPENAI_API_KEY": "fresh"}, actor="admin:1")
        assert {m.name: m.key_id for m in await store.secrets.meta(scopes[0])} == {
            "LLM_API_KEY": "old",
            "OPENAI_API_KEY": "new",
        }
        report = await store.secrets.rotate(actor="admin:1", batch_size=2)
        assert (report.re_encrypted, report.already_current) == (3, 1)
        assert report.current_key_id == "new"
        assert (await store.secrets.rotate(actor="admin:1")).re_encrypted == 0
    finally:
        await store.close()

    # The old key can now be dropped...
    store = await reopen(db_path, f"new:{new_key_value}")
    try:
        for n, scope in enumerate(scopes):
            value = await store.secrets.get(scope, "LLM_API_KEY")
            assert value is not None and value.get_secret_value() == f"{CANARY}-{n}"
    finally:
        await store.close()
    # ...and the old key alone no longer reads anything.
    store = await reopen(db_path, f"old:{old_key}")
    try:
        with pytest.raises(UnknownKeyIdError, match="'new'"):
            await store.secrets.get(scopes[0], "LLM_API_KEY")
    finally:
        await store.close()


async def test_a_canary_secret_never_reaches_the_database_files(
    store: Store, db_path: Path
) -> None:
    scope = await new_agent(store)
    await store.secrets.upsert(scope, {"CANARY_SECRET": CANARY}, actor="admin:1")
    await store.secrets.upsert(SecretScope.tenant("acme"), {"FLY_API_TOKEN": CANARY}, actor="t")
    await store.secrets.rotate(actor="admin:1")

    def database_bytes() -> bytes:
        files = [db_path, db_path.with_name(db_path.name + "-wal")]
        return b"".join(path.read_bytes() for path in files if path.exists())

    live = database_bytes()
    assert b"CANARY_SECRET" in live  # the grep does see what was stored...
    assert CANARY.encode() not in live  # ...and the value is not there
    assert CANARY.encode("utf-16-le") not in live
    await store.close()
    closed = database_bytes()
    assert b"CANARY_SECRET" in closed
    assert CANARY.encode() not in closed


async def test_a_canary_secret_never_reaches_the_logs(
    db_path: Path, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # aiosqlite logs every call with its parameters at DEBUG
    store = await reopen(db_path, key)
    scope = await new_agent(store)
    await store.secrets.upsert(scope, {"LLM_API_KEY": CANARY}, actor="admin:1")
    await store.secrets.get_all(scope)
    await store.secrets.meta(scope)
    await store.secrets.rotate(actor="admin:1")
    await store.close()
    store = await reopen(db_path, new_key())
    with pytest.raises(UnknownKeyIdError) as error:
        await store.secrets.get(scope, "LLM_API_KEY")
    logging.getLogger("test").exception("vault failure", exc_info=error.value)
    await store.close()

    assert caplog.records, "nothing was logged, so this test would prove nothing"
    assert any("aiosqlite" in record.name for record in caplog.records)
    assert CANARY not in caplog.text
    assert key not in caplog.text


async def test_secrets_and_their_audit_trail_never_include_values(store: Store) -> None:
    scope = await new_agent(store)
    await store.secrets.upsert(scope, {"LLM_API_KEY": CANARY}, actor="admin:1")
    await store.secrets.clear(scope, actor="admin:1")
    entries = await store.audit.entries(target=f"agent:{scope.id}")
    assert [entry.action for entry in entries] == ["secrets.clear", "secrets.upsert"]
    assert entries[1].detail == {"names": ["LLM_API_KEY"]}
    assert all(CANARY not in entry.model_dump_json() for entry in entries)


@pytest.mark.parametrize("name", ["lower", "1ABC", "A-B", "A" * 65, "", "ÄPFEL"])
async def test_secret_names_must_match_the_strict_pattern(store: Store, name: str) -> None:
    scope = await new_agent(store)
    with pytest.raises(InvalidSecretNameError):
        await store.secrets.upsert(scope, {name: "value"}, actor="admin:1")
    assert await store.secrets.meta(scope) == []


async def test_secrets_for_an_unknown_agent_are_refused(store: Store) -> None:
    with pytest.raises(NotFoundError):
        await store.secrets.upsert(
            SecretScope.agent("ag_doesnotexist"), {"LLM_API_KEY": "x"}, actor="admin:1"
        )


async def test_using_secrets_without_a_key_explains_how_to_make_one(db_path: Path) -> None:
    store = await reopen(db_path, None)
    try:
        scope = await new_agent(store)
        with pytest.raises(VaultNotConfiguredError, match="AGENT_SECRETS_ENCRYPTION_KEY") as error:
            await store.secrets.upsert(scope, {"LLM_API_KEY": "x"}, actor="admin:1")
        assert GENERATE_COMMAND in str(error.value)
    finally:
        await store.close()


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "not base64 at all!",
        base64.b64encode(b"too short, only 26 bytes!!").decode(),
        base64.b64encode(os.urandom(48)).decode(),
        "correct horse battery staple",
        f"{new_key()},",
        f"bad id!:{new_key()}",
    ],
    # Named, not shown: three values are random, and pytest-xdist workers must collect the same ids.
    ids=[
        "empty",
        "blank",
        "not-base64",
        "26-bytes",
        "48-bytes",
        "passphrase",
        "trailing-comma",
        "bad-key-id",
    ],
)
def test_an_unusable_key_is_refused_with_the_command_that_generates_one(value: str) -> None:
    with pytest.raises(VaultKeyError) as error:
        VaultKeyring.from_env_value(value)
    message = str(error.value)
    if "key id" not in message:
        assert GENERATE_COMMAND in message
    if value.strip():
        assert value.strip().rstrip(",") not in message


def test_key_list_format_names_the_current_key_first_and_refuses_repeats() -> None:
    first, second = new_key(), new_key()
    keyring = VaultKeyring.from_env_value(f" cur:{first} , {second} ")
    assert keyring.current_key_id == "cur"
    assert keyring.key_ids == ("cur", derive_key_id(base64.b64decode(second)))
    url_safe = base64.urlsafe_b64encode(base64.b64decode(first)).decode()
    assert VaultKeyring.from_env_value(url_safe).current_key_id == derive_key_id(
        base64.b64decode(first)
    )
    assert VaultKeyring.from_env_value(SecretStr(first)).current_key_id == derive_key_id(
        base64.b64decode(first)
    )
    with pytest.raises(VaultKeyError, match="same key id"):
        VaultKeyring.from_env_value(f"a:{first},a:{second}")
    with pytest.raises(VaultKeyError, match="repeats"):
        VaultKeyring.from_env_value(f"a:{first},b:{first}")
    assert first not in repr(keyring)


async def test_a_malformed_key_is_refused_when_the_store_opens(db_path: Path) -> None:
    with pytest.raises(VaultKeyError, match="base64"):
        await Store.open(db_path, vault_keys="hunter2")
