"""Start-up of the ``mmrnn`` command line: ``--help`` and an argument error, against ``import torch``.

    PYTHONPATH=. .venv/bin/python benchmarks/cli_startup.py [--repeats 10] [--baseline-root /path/to/old/checkout]

Each case is a fresh interpreter (``python -m apps.cli ...``, from this checkout and, with
``--baseline-root``, from another checkout of the package, e.g. the code before a change), and
the reference a user pays anyway is ``python -c "import torch"``. The cases run interleaved
(:func:`timing.interleaved_seconds`); the table gives the median wall time and its spread, the
peak resident memory of the process (``os.wait4``'s ``ru_maxrss``) and the ratio to ``import
torch``; then, with ``--baseline-root``, the per-round ratio old / new of each command line, the
load average before and after, and the five slowest imports (``python -X importtime``,
cumulative) of each command line of this checkout.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from timing import interleaved_seconds, median_and_spread

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "--help": ["--help"],
    "caption --help": ["caption", "--help"],
    "train vqa --bad-option": ["train", "vqa", "--bad-option"],
}
"""The measured command lines (the last one is an argparse usage error, exit status 2)."""


def run_child(argv: list[str], cwd: Path) -> tuple[int, int]:
    """Run ``argv`` in ``cwd`` with its output discarded; ``(exit status, peak RSS in KiB)``."""
    env = {**os.environ, "PYTHONPATH": str(cwd), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_maxrss


def cases(baseline: Path | None) -> dict[str, tuple[list[str], Path]]:
    """Name -> (argv, working directory) of every measured process."""
    found = {"import torch": ([sys.executable, "-c", "import torch"], ROOT)}
    for root, tag in ((ROOT, "new"), (baseline, "old")):
        if root is not None:
            for name, args in COMMANDS.items():
                found[f"{tag}: mmrnn {name}"] = ([sys.executable, "-m", "apps.cli", *args], root)
    return found


def slowest_imports(argv: list[str], cwd: Path, count: int = 5) -> list[tuple[int, str]]:
    """The ``count`` top-level imports with the largest cumulative time (microseconds) under ``-X importtime``."""
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    done = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], cwd=cwd, env=env, capture_output=True, text=True)
    rows = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cumulative, module = line.split("|")
            if not module[1:].startswith(" "):  # a top-level import, not one nested in another
                rows.append((int(cumulative), module.strip()))
    return sorted(rows, reverse=True)[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--baseline-root", type=Path, help="another checkout of the package to compare with")
    args = parser.parse_args()
    measured = cases(args.baseline_root)
    memory: dict[str, int] = {}
    status: dict[str, int] = {}

    def runner(name: str):
        def run() -> None:
            status[name], memory[name] = run_child(*measured[name])

        return run

    load_before = os.getloadavg()
    times = interleaved_seconds({name: runner(name) for name in measured}, args.repeats)
    load_after = os.getloadavg()
    torch_median = median_and_spread(times["import torch"])[0]
    print(f"{'case':<34} {'exit':>4} {'median s':>9} {'min-max s':>13} {'peak MiB':>9} {'/ import torch':>15}")
    for name, seconds in times.items():
        median, low, high = median_and_spread(seconds)
        print(
            f"{name:<34} {status[name]:>4} {median:>9.3f} {low:>6.3f}-{high:<6.3f} {memory[name] / 1024:>9.1f} "
            f"{median / torch_median:>15.2f}"
        )
    for name in COMMANDS if args.baseline_root is not None else ():
        ratios = [old / new for old, new in zip(times[f"old: mmrnn {name}"], times[f"new: mmrnn {name}"])]
        median, low, high = median_and_spread(ratios)
        print(f"old / new, mmrnn {name}: x{median:.1f} (rounds {low:.1f}-{high:.1f})")
    before, after = (tuple(round(value, 2) for value in load) for load in (load_before, load_after))
    print(
        f"{args.repeats} interleaved rounds; load average (1, 5, 15 min) before {before}, after {after}; "
        f"{os.cpu_count()} CPUs"
    )
    for name, argv in COMMANDS.items():
        slow = ", ".join(
            f"{module} {micros / 1000:.0f} ms"
            for micros, module in slowest_imports([sys.executable, "-m", "apps.cli", *argv], ROOT)
        )
        print(f"slowest imports of mmrnn {name}: {slow}")


if __name__ == "__main__":
    main()
