"""`python -m bot rotate-keys` moves every secret to the current key; old keys then go."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

from pydantic import SecretStr

from storage import Store
from storage.models import SecretScope

ROOT = Path(__file__).resolve().parents[2]


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


async def test_rotation_re_encrypts_under_the_new_key(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    old, new = _key(), _key()
    store = await Store.open(db, vault_keys=f"old:{old}")
    await store.tenants.upsert("acme", display_name="Acme", actor="admin:1")
    await store.secrets.upsert(
        SecretScope.tenant("acme"), {"LLM_API_KEY": SecretStr("sk-rotate-me-000000000")}, actor="t"
    )
    await store.close()

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("FLYAGENTS_", "AGENT_"))},
        "FLYAGENTS_DB_PATH": str(db),
        "AGENT_SECRETS_ENCRYPTION_KEY": f"new:{new},old:{old}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot", "rotate-keys"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Re-encrypted 1 secret(s) under key new" in done.stdout
    assert old not in done.stdout + done.stderr

    only_new = await Store.open(db, vault_keys=f"new:{new}")
    value = await only_new.secrets.get(SecretScope.tenant("acme"), "LLM_API_KEY")
    assert value is not None
    assert value.get_secret_value() == "sk-rotate-me-000000000"
    await only_new.close()


def test_rotation_without_a_key_says_what_is_missing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLYAGENTS_", "AGENT_"))}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "rotate-keys"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 2
    assert "AGENT_SECRETS_ENCRYPTION_KEY" in done.stderr
