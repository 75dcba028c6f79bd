"""Small statistics for latency samples: percentiles and the busiest window of events.

Pure functions over lists of numbers; nothing here measures or waits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` 0.5 is the median); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def busiest_window(moments: Sequence[float], window_s: float) -> int:
    """The largest number of `moments` that fall within any span of `window_s` seconds."""
    ordered = sorted(moments)
    best = 0
    start = 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= window_s:
            start += 1
        best = max(best, end - start + 1)
    return best
