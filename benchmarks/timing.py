"""Timing helpers shared by the benchmark scripts (run as ``python benchmarks/NAME.py``, so this
folder is on ``sys.path``).

Absolute timings on a shared machine are noisy; ratios of interleaved runs are not as much. The
usual pattern: :func:`interleaved` runs a baseline and one or more candidates in alternating
order for some rounds, :meth:`Rounds.ratio` gives the per-round ratios baseline/candidate
(above 1: the candidate is faster), :func:`ratio_text` prints their median and spread, and
:class:`Load` brackets the measurement with ``os.getloadavg()`` so every ratio is printed beside
the load it ran under.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def best_seconds(run: Callable[[], Any], repeats: int) -> float:
    """Fastest wall-clock seconds of ``repeats`` calls after one warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def seconds(run: Callable[[], Any], synchronize: Callable[[], Any] | None = None) -> float:
    """Wall-clock seconds of one call; ``synchronize`` (e.g. ``torch.cuda.synchronize``) runs before and after."""
    if synchronize is not None:
        synchronize()
    start = time.perf_counter()
    run()
    if synchronize is not None:
        synchronize()
    return time.perf_counter() - start


@dataclasses.dataclass(frozen=True)
class Rounds:
    """Seconds of each contender in each interleaved round: ``times[name][round]``."""

    times: Mapping[str, Sequence[float]]

    def median(self, name: str) -> float:
        """Median seconds of one contender over the rounds."""
        return statistics.median(self.times[name])

    def ratio(self, baseline: str, candidate: str) -> list[float]:
        """Per-round ratios baseline seconds / candidate seconds (above 1: the candidate is faster)."""
        return [old / new for old, new in zip(self.times[baseline], self.times[candidate])]


def interleaved(
    runs: Mapping[str, Callable[[], Any]],
    repeats: int,
    *,
    warmup: int = 1,
    synchronize: Callable[[], Any] | None = None,
) -> Rounds:
    """Time every callable of ``runs`` once per round for ``repeats`` rounds, in rotating order.

    Each callable first runs ``warmup`` times untimed. Round r starts with contender r mod n (for a
    pair: old, new, then new, old, ...), so slow drifts of the machine hit every contender alike.
    """
    names = list(runs)
    for name in names:
        for _ in range(warmup):
            runs[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(seconds(runs[name], synchronize))
    return Rounds(times)


def interleaved_pair(
    old: Callable[[], Any], new: Callable[[], Any], repeats: int, *, warmup: int = 1
) -> tuple[list[float], list[float], list[float]]:
    """Seconds of ``old`` and of ``new`` per round, alternating, and the per-round ratios old/new."""
    rounds = interleaved({"old": old, "new": new}, repeats, warmup=warmup)
    return list(rounds.times["old"]), list(rounds.times["new"]), rounds.ratio("old", "new")


def spread(values: Sequence[float], kind: str = "min-max") -> tuple[float, float]:
    """``(low, high)`` of ``values``: their minimum and maximum, or (``kind="iqr"``) quartiles 1 and 3."""
    if kind == "iqr" and len(values) >= 4:
        quartiles = statistics.quantiles(values, n=4)
        return quartiles[0], quartiles[2]
    return min(values), max(values)


def ratio_text(ratios: Sequence[float], kind: str = "min-max") -> str:
    """``x2.31 [2.10-2.52]``: median ratio and its spread (``kind``: "min-max" or "iqr")."""
    low, high = spread(ratios, kind)
    return f"x{statistics.median(ratios):.2f} [{low:.2f}-{high:.2f}]"


def load_average() -> tuple[float, float, float]:
    """``os.getloadavg()``: runnable processes averaged over 1, 5 and 15 minutes (zeros where unavailable)."""
    try:
        return os.getloadavg()
    except OSError:
        return (0.0, 0.0, 0.0)


class Load:
    """The load average before a measurement and after it; ``str()`` gives ``load 1.20->1.35`` (1 minute averages).

    Use as ``with Load() as load: ...`` then print ``load`` beside the ratios, or call
    :meth:`stop` by hand.
    """

    def __init__(self) -> None:
        self.before = load_average()
        self.after: tuple[float, float, float] | None = None

    def stop(self) -> Load:
        """Read the load average after the measurement; returns self."""
        self.after = load_average()
        return self

    def __enter__(self) -> Load:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def __str__(self) -> str:
        after = self.after if self.after is not None else load_average()
        return f"load {self.before[0]:.2f}->{after[0]:.2f}"


def machine_line() -> str:
    """One line with the date, the CPU count and the load average, for the head of a benchmark's output."""
    one, five, fifteen = load_average()
    date = time.strftime("%Y-%m-%d %H:%M %Z")
    return f"{date}, cpus={os.cpu_count()}, load average {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min)"
