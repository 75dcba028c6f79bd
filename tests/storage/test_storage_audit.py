"""Audit log: append-only in the database itself, and never a home for secret values."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.errors import UnsafeRecordError
from storage.models import AuditOutcome
from storage.redaction import find_secret_fields, is_secret_field_name, redact_text
from storage.store import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "audit.db")
    yield opened
    await opened.close()


async def test_entries_are_recorded_and_read_newest_first(store: Store) -> None:
    await store.audit.record(
        actor="admin:1", action="agent.stop", target="ag_1", outcome=AuditOutcome.OK
    )
    await store.audit.record(
        actor="admin:2",
        action="pairing.approve",
        target="pr_1",
        outcome=AuditOutcome.REFUSED,
        detail={"reason": "not an admin of this tenant"},
    )
    entries = await store.audit.entries()
    assert [entry.action for entry in entries] == ["pairing.approve", "agent.stop"]
    assert entries[0].detail == {"reason": "not an admin of this tenant"}
    assert [entry.target for entry in await store.audit.entries(actor="admin:1")] == ["ag_1"]


async def test_the_database_refuses_to_change_or_delete_an_entry(store: Store) -> None:
    entry = await store.audit.record(
        actor="admin:1", action="agent.stop", target="ag_1", outcome=AuditOutcome.OK
    )
    for statement in (
        "UPDATE audit_log SET outcome = 'failed' WHERE id = ?",
        "DELETE FROM audit_log WHERE id = ?",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            async with store.transaction() as tx:
                await tx.execute(statement, (entry.id,))
    [kept] = await store.audit.entries()
    assert kept == entry


async def test_details_with_secret_named_fields_are_refused_and_nothing_is_written(
    store: Store,
) -> None:
    with pytest.raises(UnsafeRecordError, match=r"env\.TELEGRAM_BOT_TOKEN"):
        await store.audit.record(
            actor="admin:1",
            action="agent.provision",
            target="ag_1",
            outcome=AuditOutcome.OK,
            detail={"env": {"TELEGRAM_BOT_TOKEN": "123:abc", "REGION": "iad"}},
        )
    assert await store.audit.entries() == []


async def test_credential_shaped_text_in_details_is_scrubbed(store: Store) -> None:
    cli_stderr = (
        "OPENCLAW_GATEWAY_TOKEN=s3cr3t-gateway failed; "
        "header Authorization: Bearer abc.def.ghi; key sk-proj-0123456789abcdefABCDEF"
    )
    entry = await store.audit.record(
        actor="executor",
        action="pairing.failed",
        target="pr_1",
        outcome=AuditOutcome.FAILED,
        detail={"stderr": cli_stderr, "exit_code": 1},
    )
    stored = str(entry.detail["stderr"])
    for secret in ("s3cr3t-gateway", "abc.def.ghi", "sk-proj-0123456789abcdefABCDEF"):
        assert secret not in stored
    assert "OPENCLAW_GATEWAY_TOKEN=" in stored  # the name stays, so the entry still explains
    assert entry.detail["exit_code"] == 1


@pytest.mark.parametrize(
    "name",
    ["TELEGRAM_BOT_TOKEN", "apiKey", "llm_api_key", "password", "OPENCLAW_SERVICE_KEY", "secret"],
)
def test_secret_like_field_names_are_recognised(name: str) -> None:
    assert is_secret_field_name(name)


@pytest.mark.parametrize(
    "name", ["idempotency_key", "dedupe_key", "key_id", "max_tokens", "machine_id", "region"]
)
def test_ordinary_field_names_are_not_mistaken_for_secrets(name: str) -> None:
    assert not is_secret_field_name(name)


def test_secret_fields_are_found_at_any_depth() -> None:
    record = {"a": [{"b": {"gatewayToken": 1}}], "password": 2}
    assert find_secret_fields(record) == ["a[0].b.gatewayToken", "password"]


def test_redaction_leaves_ordinary_text_alone() -> None:
    text = "Approved telegram sender 2002. Default model: openai/gpt-4.1-mini"
    assert redact_text(text) == text
