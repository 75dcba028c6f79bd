"""The package's public surface: what `import flyclient` offers and what it must not import.

Checked in a fresh interpreter, the way the bot imports the package, so nothing the test
runner put on `sys.path` can stand in for the real package.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys
import flyclient
missing = [name for name in flyclient.__all__ if not hasattr(flyclient, name)]
assert not missing, missing
for name in ("FlyClient", "MachineConfig", "NotFoundError", "ExecOutcomeUnknownError",
             "LeaseHeldError", "WaitTimeoutError", "RateLimiter", "RetryPolicy", "FlyToken"):
    assert name in flyclient.__all__, name
assert issubclass(flyclient.ExecOutcomeUnknownError, flyclient.FlyTimeoutError)
assert issubclass(flyclient.LeaseHeldError, flyclient.ConflictError)
forbidden = sorted(m for m in sys.modules if m.split(".")[0] in ("bot", "storage", "emulators"))
assert not forbidden, forbidden
print("ok")
"""


def test_package_exports_its_api_and_imports_no_other_layer() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
