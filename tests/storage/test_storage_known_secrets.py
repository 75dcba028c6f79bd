"""The known-secrets registry: every value the vault holds is cut out of what storage writes
and what is logged, whatever shape a third party quoted it in."""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path
from urllib.parse import quote

import pytest

from storage import SecretScope, Store, VaultKeyring
from storage.redaction import KNOWN_SECRETS, REDACTED, install_log_redaction, redact_text


def _fresh() -> str:
    # Not shaped like any known credential: only the registry can know it.
    return f'pw{secrets.token_hex(16)}"&<x>/?'


def test_a_known_value_is_cut_out_in_every_shape_it_is_quoted_in() -> None:
    value = _fresh()
    KNOWN_SECRETS.add(value)

    for quoted in (value, json.dumps(value)[1:-1], quote(value, safe="")):
        assert redact_text(f"Fly said: value {quoted} is not allowed") == (
            f"Fly said: value {REDACTED} is not allowed"
        )


def test_a_value_shorter_than_six_characters_is_not_cut_out_of_ordinary_words() -> None:
    KNOWN_SECRETS.add("value")

    assert redact_text("the value is not allowed") == "the value is not allowed"


async def test_values_stored_before_a_restart_are_known_once_the_store_is_open_again(
    tmp_path: Path,
) -> None:
    key = VaultKeyring.generate_env_value()
    value = _fresh()
    async with await Store.open(tmp_path / "a.db", vault_keys=key) as store:
        await store.secrets.upsert(SecretScope.tenant("acme"), {"LLM_API_KEY": value}, actor="t")
    KNOWN_SECRETS.forget_all()
    assert redact_text(value) == value

    async with await Store.open(tmp_path / "a.db", vault_keys=key) as store:
        assert redact_text(value) == REDACTED
        # A repository that applies no rule of its own: the database layer's net still holds.
        await store.tenants.upsert("acme", display_name=f"echo {value}", actor="t")
        profile = await store.tenants.get("acme")
    assert profile is not None and profile.display_name == f"echo {REDACTED}"
    assert value.encode() not in b"".join(p.read_bytes() for p in tmp_path.glob("a.db*"))


def test_a_log_record_and_its_traceback_never_show_a_known_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_log_redaction()
    value = _fresh()
    KNOWN_SECRETS.add(value)
    log = logging.getLogger("tests.known_secrets")

    with caplog.at_level(logging.INFO):
        log.info("Fly answered %s", value)
        try:
            raise RuntimeError(f"invalid config: value {value}")
        except RuntimeError:
            log.exception("failed")

    assert value not in caplog.text
    assert caplog.text.count(REDACTED) >= 2
