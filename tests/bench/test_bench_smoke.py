"""Smoke test of the benchmarks: `python -m bench --size tiny` runs every scenario end to end.

It pins that the command prints one table with a row per measured figure, that every one of
the scenarios produced rows, and that each row carries our figure, a baseline and their
ratio as numbers. It asserts nothing about the figures themselves or about timing: sizes this
small measure nothing; they only prove every scenario still runs against the real stack.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCENARIO_PREFIXES = ("1 ", "2 ", "3 ", "4 ", "5 ", "6 ", "7 ")


def table_rows(output: str) -> list[dict[str, str]]:
    lines = [line for line in output.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = []
    for line in lines[2:]:  # after the header and its rule
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


def is_number(text: str) -> bool:
    if text == "∞":
        return True
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    workdir = tmp_path_factory.mktemp("bench")
    return subprocess.run(
        [sys.executable, "-m", "bench", "--size", "tiny", "--workdir", str(workdir)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )


@pytest.mark.timeout(120)
def test_bench_runs_every_scenario_and_exits_cleanly(
    tiny_run: subprocess.CompletedProcess[str],
) -> None:
    assert tiny_run.returncode == 0, tiny_run.stdout + tiny_run.stderr
    scenarios = {row["Scenario"] for row in table_rows(tiny_run.stdout)}
    for prefix in SCENARIO_PREFIXES:
        assert any(name.startswith(prefix) for name in scenarios), (prefix, scenarios)


def test_every_row_has_our_figure_a_baseline_and_their_ratio(
    tiny_run: subprocess.CompletedProcess[str],
) -> None:
    rows = table_rows(tiny_run.stdout)
    assert rows, tiny_run.stdout
    for row in rows:
        assert row["Metric"] != "scenario failed", row
        assert is_number(row["Ours"]), row
        assert is_number(row["Baseline"]), row
        assert is_number(row["Ratio"]), row
        assert row["Baseline is"], row
