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
    """Wall-clock seconds of every call of each run, ``repeats`` rounds after one warm-up round;
    the runs alternate within a round (and their order flips every round), so that a change of
    load on the machine reaches them all alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for round_index in range(repeats + 1):
        for name in names if round_index % 2 else names[::-1]:
            start = time.perf_counter()
            runs[name]()
            if round_index:
                times[name].append(time.perf_counter() - start)
    return times


def median_and_spread(values: list[float]) -> tuple[float, float, float]:
    """``(median, lowest, highest)`` of ``values``."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return median, ordered[0], ordered[-1]


def paired_ratio_text(numerators: list[float], denominators: list[float]) -> str:
    """``median (min-max)`` of the ratios of paired times, with the load average they ran under."""
    ratios = sorted(n / d for n, d in zip(numerators, denominators))
    median = statistics.median(ratios)
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"{median:.2f}x ({ratios[0]:.2f}-{ratios[-1]:.2f}, {len(ratios)} pairs; load {load})"
