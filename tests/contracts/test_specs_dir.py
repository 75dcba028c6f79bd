"""Pins where the specs are looked for and what a missing spec does: skip locally, fail in CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.specs_dir import (
    FLY_SPEC_FILE,
    REPO_ROOT,
    REQUIRE_SPECS_ENV,
    SPECS_DIR_ENV,
    locate_fly_spec,
    locate_telegram_spec,
    require_spec,
    specs_dir,
)


def test_specs_dir_defaults_to_the_shared_folder_next_to_the_repository(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(SPECS_DIR_ENV, raising=False)
    assert specs_dir() == REPO_ROOT.parent / "shared" / "specs"
    assert (REPO_ROOT / "pyproject.toml").is_file()


def test_specs_dir_follows_the_environment_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(SPECS_DIR_ENV, str(tmp_path))
    assert specs_dir() == tmp_path
    assert locate_fly_spec().path == tmp_path / FLY_SPEC_FILE


def test_missing_spec_skips_with_a_reason_naming_the_path_and_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(SPECS_DIR_ENV, str(tmp_path))
    monkeypatch.delenv(REQUIRE_SPECS_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        require_spec(locate_fly_spec())
    expected = (
        f"Fly Machines OpenAPI spec not found at {tmp_path / FLY_SPEC_FILE}; set {SPECS_DIR_ENV}"
    )
    assert str(skipped.value.msg) == expected


def test_missing_spec_fails_when_specs_are_required(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(SPECS_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(REQUIRE_SPECS_ENV, "1")
    with pytest.raises(pytest.fail.Exception) as failed:
        require_spec(locate_telegram_spec())
    assert "Telegram Bot API spec not found at" in str(failed.value.msg)
    assert str(tmp_path) in str(failed.value.msg)


def test_present_spec_is_returned_whatever_the_requirement(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / FLY_SPEC_FILE).write_text("{}", encoding="utf-8")
    monkeypatch.setenv(SPECS_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(REQUIRE_SPECS_ENV, "1")
    assert require_spec(locate_fly_spec()) == tmp_path / FLY_SPEC_FILE
