"""Timing helper shared by the benchmark scripts (run as ``python benchmarks/NAME.py``, so this
folder is on ``sys.path``)."""

from __future__ import annotations

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
