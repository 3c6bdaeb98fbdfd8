"""Compare a checker's findings (read from stdin) with its baseline file; the baseline may only shrink.

    ruff check --output-format concise          | python .ci/baseline.py ruff .ci/ruff-baseline.txt
    ruff format --check --output-format concise | python .ci/baseline.py format .ci/format-baseline.txt
    mypy --config-file mypy.ini                 | python .ci/baseline.py mypy .ci/mypy-baseline.txt

Findings are counted per (file, code): the code is ruff's rule (E501), mypy's error code
(arg-type) or ``format`` (a file ``ruff format`` would change). The check fails when a file has
more findings of a code than its baseline lists (a new problem: fix it), and when it has fewer
(an old one fixed: shrink the baseline with ``--update``). Line numbers in the baseline are for
reading only; they may drift.

``--update`` rewrites the baseline from the findings, grouped by code under the reason lines
(``## CODE reason``) it already has. It refuses to add a code without a reason or to raise the
total of a code: code may move between files (a split), problems may not grow. ``--init`` does
the same without the growth check, for adopting the gate on a tree merged from work done before
it existed (the growth is then plain in the baseline's diff); reasons are still required.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

PATTERNS = {
    "ruff": re.compile(r"^(?P<path>[^:\s]+):\d+:\d+: (?P<code>[A-Z]+[0-9]+) "),
    "mypy": re.compile(r"^(?P<path>[^:\s]+):\d+: error: .*\[(?P<code>[a-z0-9-]+)\]$"),
    "format": re.compile(r"^(?P<path>[^:\s]+):\d+:\d+: unformatted: "),
}
REASON = re.compile(r"^## (?P<code>\S+) (?P<reason>.+)$")


def findings(kind: str, lines: list[str]) -> list[tuple[str, str, str]]:
    """``(path, code, line)`` of every finding among ``lines``."""
    found = []
    for line in lines:
        match = PATTERNS[kind].match(line.rstrip("\n"))
        if match:
            code = match.groupdict().get("code") or "format"
            found.append((match["path"], code, line.rstrip("\n")))
    return found


def read_baseline(path: Path, kind: str) -> tuple[list[str], dict[str, str], list[tuple[str, str, str]]]:
    """The baseline's header comment lines, its reasons by code and its findings."""
    header: list[str] = []
    reasons: dict[str, str] = {}
    entries: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else []:
        reason = REASON.match(line)
        if reason:
            reasons[reason["code"]] = reason["reason"]
        elif line.startswith("#") and not reasons and not entries:
            header.append(line)
        elif line.strip() and not line.startswith("#"):
            entries.append(line)
    return header, reasons, findings(kind, entries)


def write_baseline(path: Path, header: list[str], reasons: dict[str, str], found: list[tuple[str, str, str]]) -> None:
    by_code: dict[str, list[str]] = {}
    for _, code, line in sorted(found, key=lambda f: (f[1], f[0], _line_number(f[2]))):
        by_code.setdefault(code, []).append(line)
    text = header + [""]
    for code in sorted(by_code):
        text += [f"## {code} {reasons[code]}", *by_code[code], ""]
    path.write_text("\n".join(text).rstrip("\n") + "\n", encoding="utf-8")


def _line_number(line: str) -> int:
    parts = line.split(":")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def main(argv: list[str]) -> int:
    kind, baseline_path = argv[0], Path(argv[1])
    update = "--update" in argv[2:] or "--init" in argv[2:]
    allow_growth = "--init" in argv[2:]
    current = findings(kind, sys.stdin.readlines())
    header, reasons, baseline = read_baseline(baseline_path, kind)
    now = Counter((path, code) for path, code, _ in current)
    before = Counter((path, code) for path, code, _ in baseline)
    print(f"{kind}: {len(current)} finding(s), baseline {len(baseline)} ({baseline_path})")
    if update:
        return _update(baseline_path, header, reasons, current, now, before, allow_growth=allow_growth)
    grown = sorted(key for key in now if now[key] > before[key])
    shrunk = sorted(key for key in before if now[key] < before[key])
    for path, code in grown:
        print(f"  new: {path} has {now[path, code]} x {code}, the baseline allows {before[path, code]}:")
        for finding_path, finding_code, line in current:
            if (finding_path, finding_code) == (path, code):
                print(f"    {line}")
    for path, code in shrunk:
        print(f"  fixed: {path} has {now[path, code]} x {code}, the baseline lists {before[path, code]}")
    if shrunk:
        print("  shrink the baseline: bash .ci/checks --update-baselines")
    return 1 if grown or shrunk else 0


def _update(
    path: Path,
    header: list[str],
    reasons: dict[str, str],
    current: list[tuple[str, str, str]],
    now: Counter[tuple[str, str]],
    before: Counter[tuple[str, str]],
    *,
    allow_growth: bool,
) -> int:
    totals_now = Counter(code for _, code in now.elements())
    totals_before = Counter(code for _, code in before.elements())
    grown = [] if allow_growth else sorted(code for code in totals_now if totals_now[code] > totals_before[code])
    unexplained = sorted(code for code in totals_now if code not in reasons)
    if grown or unexplained:
        for code in grown:
            print(f"  refused: {totals_now[code]} x {code}, the baseline has {totals_before[code]}; fix the new ones")
        for code in unexplained:
            print(f"  refused: {code} has no '## {code} <reason>' line in {path}")
        return 1
    write_baseline(path, header, {code: reasons[code] for code in totals_now}, current)
    print(f"  {path} rewritten: {len(current)} finding(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
