"""Runs the chosen scenarios one after another and prints one table (`python -m bench`).

Options: `--size default|small|tiny` (tiny is what the smoke test runs), `--scenario NAME`
(repeatable; all of them by default, in the issues' order), `--workdir DIR` to keep every
scenario's files (databases, emulator and bot logs) instead of a temporary folder. Progress
goes to stderr; stdout gets the table, the notes under it and the total time. A scenario that
fails is reported (and the exit status is 1) but does not stop the others. Library logs go to
`bench.log` in the work folder, never to the terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from bench.report import Row, render_notes, render_table
from bench.scenarios import SCENARIOS
from bench.sizes import SIZES, Size


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Benchmarks of the fly-agents bot at fleet scale."
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="default")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=list(SCENARIOS),
        help="run only this scenario (repeatable); all of them by default",
    )
    parser.add_argument("--workdir", type=Path, help="keep every scenario's files here")
    return parser.parse_args(argv)


def failed_row(name: str, error: BaseException) -> Row:
    return Row(
        name,
        "scenario failed",
        math.nan,
        math.nan,
        "—",
        "",
        False,
        (f"{type(error).__name__}: {error}"[:500],),
    )


async def run_all(size: Size, names: Sequence[str], workdir: Path) -> tuple[list[Row], bool]:
    rows: list[Row] = []
    ok = True
    for name in names:
        print(f"bench: {name} ({size.name}) …", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            rows.extend(await SCENARIOS[name](size, workdir / name))
        except Exception as error:
            ok = False
            logging.getLogger("bench").error("%s failed:\n%s", name, traceback.format_exc())
            rows.append(failed_row(name, error))
        print(
            f"bench: {name} took {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
            flush=True,
        )
    return rows, ok


def configure_logging(workdir: Path) -> None:
    handler = logging.FileHandler(workdir / "bench.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    # The scenarios log how long their setup phases took.
    logging.getLogger("bench").setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    size = SIZES[args.size]
    names = args.scenario or list(SCENARIOS)
    with tempfile.TemporaryDirectory(prefix="fly-agents-bench-") as scratch:
        workdir = args.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        configure_logging(workdir)
        started = time.perf_counter()
        rows, ok = asyncio.run(run_all(size, names, workdir))
        total_s = time.perf_counter() - started
    print(render_table(rows))
    print()
    print(render_notes(rows))
    print()
    print(f"size {size.name}; {len(names)} scenario(s) in {total_s:.0f} s")
    return 0 if ok else 1
