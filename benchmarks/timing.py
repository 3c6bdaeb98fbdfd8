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
