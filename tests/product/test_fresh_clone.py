"""The README's first command, run the way a new user runs it: `make demo` in a fresh clone.

The repository is cloned into an empty folder; the working copy's uncommitted changes (tracked
and untracked files that git does not ignore) are laid over the clone, so the test checks the
tree as it is about to be committed. Nothing else is copied: no `.venv`, no caches. `make demo`
must create its own venv, install the project and play the demo to a passing summary. Only
the demo runs here: `make test` is the command that runs this very suite.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _git(*args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout


def _fresh_clone(into: Path) -> Path:
    clone = into / "fly-agents"
    _git("clone", "--quiet", str(ROOT), str(clone), cwd=into)
    changed = _git("ls-files", "-z", "--modified", "--others", "--exclude-standard").split("\0")
    for name in filter(None, changed):
        source = ROOT / name
        if source.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    for name in filter(None, _git("ls-files", "-z", "--deleted").split("\0")):
        (clone / name).unlink(missing_ok=True)
    return clone


@pytest.mark.timeout(900)
def test_make_demo_in_a_fresh_clone_sets_itself_up_and_passes(tmp_path: Path) -> None:
    clone = _fresh_clone(tmp_path)
    assert not (clone / ".venv").exists()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
    }

    done = subprocess.run(
        ["make", "demo", f"PYTHON={sys.executable}"],
        cwd=clone,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={**env, "PYTHONIOENCODING": "utf-8"},
        timeout=840,
        check=False,
    )

    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert (clone / ".venv" / "bin" / "python").exists()
    summary = re.search(
        r"^Demo passed: (\d+) of (\d+) steps did what they should\.$", done.stdout, re.M
    )
    assert summary, done.stdout[-3000:]
    assert summary.group(1) == summary.group(2)
