"""The deployable pieces: .env.example documents every setting, and the image's install works."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def _setting_names() -> list[str]:
    names = []
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        names.append(str(alias.choices[0]))  # type: ignore[union-attr]
    return names


def test_env_example_lists_every_setting_with_a_comment() -> None:
    text = (ROOT / ".env.example").read_text()
    lines = text.splitlines()
    for name in _setting_names():
        positions = [i for i, line in enumerate(lines) if line.startswith(f"{name}=")]
        assert positions, f"{name} is missing from .env.example"
        # Each setting sits under a comment, possibly after related settings of that comment.
        index = positions[0] - 1
        while index >= 0 and re.match(r"[A-Z_]+=", lines[index]):
            index -= 1
        assert index >= 0, name
        assert lines[index].startswith("# "), name


def test_dockerfile_is_non_root_with_healthcheck_and_no_secrets() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim AS build$", text, re.M)
    assert re.search(r"^USER \w+", text, re.M)
    assert "HEALTHCHECK" in text
    assert "--prefix=/install ." in text  # runtime deps only: no [dev]
    for secret in ("TOKEN=", "KEY=", "PASSWORD"):
        assert secret not in text


def test_dockerfile_install_steps_work_in_a_clean_venv(tmp_path: Path) -> None:
    """No Docker engine here: run the image's install command in a fresh venv instead."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-cache-dir", str(ROOT)],
        check=True,
        env=env,
        timeout=600,
    )
    helped = subprocess.run(
        [str(python), "-m", "bot", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert helped.returncode == 0, helped.stderr
    assert "run" in helped.stdout
    dev_only = subprocess.run(
        [str(python), "-c", "import pytest"], capture_output=True, cwd=tmp_path, timeout=60
    )
    assert dev_only.returncode != 0, "the runtime install must not pull the dev extra"


@pytest.mark.parametrize("path", ["fly.toml", ".dockerignore"])
def test_deploy_files_exist(path: str) -> None:
    assert (ROOT / path).read_text().strip()


def test_readme_configuration_table_names_every_setting() -> None:
    text = (ROOT / "README.md").read_text()
    missing = [name for name in _setting_names() if f"`{name}`" not in text]
    assert missing == [], f"README's configuration table lacks {missing}"


def _normalised(name: str) -> str:
    """A distribution name as PEP 503 compares them: case and runs of -_. do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def test_lock_file_pins_every_runtime_dependency_with_hashes() -> None:
    """requirements.lock (what the image installs) covers pyproject's dependencies, all hashed."""
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    declared_names = {
        _normalised(re.split(r"[\[<>=!~; ]", spec, maxsplit=1)[0]) for spec in declared
    }
    lock = (ROOT / "requirements.lock").read_text()
    pins = re.findall(
        r"^([A-Za-z0-9][A-Za-z0-9._-]*)==\S+ \\\n((?:\s+--hash=sha256:\w+(?: \\)?\n)+)", lock, re.M
    )
    pinned_names = {_normalised(name) for name, _ in pins}
    assert declared_names - pinned_names == set(), "run `make lock` after changing dependencies"
    pinned_lines = re.findall(r"^[A-Za-z0-9][^ \n#]*==", lock, re.M)
    assert len(pinned_lines) == len(pins), "every pinned package in the lock carries its hashes"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes -r requirements.lock" in dockerfile
