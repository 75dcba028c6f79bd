"""The package's public surface and its layering, checked in a fresh interpreter.

The other storage tests import modules (`storage.store`, …) rather than `storage` itself: with
`tests/` on `sys.path` this directory could otherwise stand in for the package. Here a separate
interpreter imports `storage` the way the bot does.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys
import storage
missing = [name for name in storage.__all__ if not hasattr(storage, name)]
assert not missing, missing
for name in ("Store", "VaultKeyring", "PairingState", "ClaimResult", "SecretScope",
             "StateTransitionError", "SecretDecryptionError", "new_executor_id"):
    assert name in storage.__all__, name
import asyncio, tempfile, pathlib
async def open_and_list():
    with tempfile.TemporaryDirectory() as directory:
        store = await storage.Store.open(pathlib.Path(directory) / "probe.db")
        try:
            return {name: type(getattr(store, name)).__name__ for name in (
                "agents", "pairing", "secrets", "journal", "outbox", "audit", "invites",
                "snapshots", "tenants")}
        finally:
            await store.close()
repositories = asyncio.run(open_and_list())
assert repositories["pairing"] == "PairingLedger", repositories
assert repositories["secrets"] == "SecretsVault", repositories
forbidden = sorted(m for m in sys.modules if m.split(".")[0] in ("bot", "flyclient", "emulators"))
assert not forbidden, forbidden
print("ok")
"""


def test_storage_exports_its_api_and_imports_neither_bot_nor_flyclient() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "ok"
