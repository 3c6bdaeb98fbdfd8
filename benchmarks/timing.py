"""Timing helper shared by the benchmark scripts (run as ``python benchmarks/NAME.py``, so this
folder is on ``sys.path``)."""

from __future__ import annotations

import os
import statistics
import time
from typing import Any, Callable


def best_seconds(run: Callable[[], Any], repeats: int) -> float:
    """Fastest wall-clock seconds of ``repeats`` calls after one warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def interleaved_seconds(runs: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[float]]:
    """Wall-clock seconds of ``repeats`` rounds, each calling every run once in turn (one warm-up round first)."""
    for run in runs.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return times


def paired_ratio_text(numerators: list[float], denominators: list[float]) -> str:
    """``median (min-max)`` of the ratios of paired times, with the load average they ran under."""
    ratios = sorted(n / d for n, d in zip(numerators, denominators))
    median = statistics.median(ratios)
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"{median:.2f}x ({ratios[0]:.2f}-{ratios[-1]:.2f}, {len(ratios)} pairs; load {load})"
