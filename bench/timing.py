"""Timing helpers shared by the benchmarks: run a call N times, read a percentile.

One definition, so every benchmark's p50/p95 means the same thing (nearest rank).
"""

from __future__ import annotations

import time
from collections.abc import Callable


def timed(func: Callable[[], object], repeat: int) -> list[float]:
    """Milliseconds each of ``repeat`` calls of ``func`` took."""
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        func()
        out.append((time.perf_counter() - t) * 1000)
    return out


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (NaN for no values)."""
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(pct / 100 * (len(values) - 1)))]
