"""The bench's output: one row per measured figure, printed as one table.

Every row carries our figure, a baseline measured in the same run, and their ratio
(ours ÷ baseline), so results compare across machines; absolute numbers are shown for context.
A row also says what its target is and whether it was met. Rendering only: no measuring here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Row:
    """One measured figure of one scenario.

    Attributes:
        scenario: the scenario's number and name, e.g. "1 monitor sweep".
        metric: what was measured, with its unit, e.g. "API calls per sweep".
        ours: the bot's figure.
        baseline: the baseline's figure, in the same unit.
        baseline_label: what the baseline is, e.g. "per-machine GET loop".
        target: the target in words, in terms of the figure or the ratio.
        met: whether the target was met; None when the row has no target of its own.
        notes: facts a reader needs to trust the row (sizes, settings, checks).
    """

    scenario: str
    metric: str
    ours: float
    baseline: float
    baseline_label: str
    target: str = ""
    met: bool | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ratio(self) -> float:
        if self.baseline == 0:
            return math.inf if self.ours else 1.0
        return self.ours / self.baseline


def number(value: float) -> str:
    """A figure in at most 4 significant digits, without noise like `5000.000`."""
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞"
    if float(value).is_integer():
        return f"{int(value):,}"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def ratio_text(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return number(value)
    if value != 0 and abs(value) < 0.01:
        return f"{value:.2g}"
    return f"{value:.3g}"


def verdict(met: bool | None) -> str:
    if met is None:
        return "—"
    return "yes" if met else "NO"


HEADERS = ("Scenario", "Metric", "Ours", "Baseline", "Baseline is", "Ratio", "Target", "Met")


def table_cells(rows: Sequence[Row]) -> list[tuple[str, ...]]:
    return [
        (
            row.scenario,
            row.metric,
            number(row.ours),
            number(row.baseline),
            row.baseline_label,
            ratio_text(row.ratio),
            row.target,
            verdict(row.met),
        )
        for row in rows
    ]


def render_table(rows: Sequence[Row]) -> str:
    """A Markdown table (readable as plain text too), one line per row."""
    cells = table_cells(rows)
    widths = [
        max(len(HEADERS[column]), *(len(line[column]) for line in cells)) if cells else 0
        for column in range(len(HEADERS))
    ]

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    out = [line(HEADERS), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out.extend(line(values) for values in cells)
    return "\n".join(out)


def render_notes(rows: Sequence[Row]) -> str:
    """The notes of every row, grouped by scenario, in order."""
    lines: list[str] = []
    seen: set[tuple[str, str]] = set()
    for row in rows:
        for note in row.notes:
            if (row.scenario, note) in seen:
                continue
            seen.add((row.scenario, note))
            lines.append(f"- {row.scenario}: {note}")
    return "\n".join(lines)
