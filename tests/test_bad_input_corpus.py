"""The bad-input corpus: every hostile file or path a user can hand the command line is one line.

Each case (tests/bad_input_cases.py, tests/bad_input_paths.py) runs ``apps.cli.main`` in this
process on files made here (tiny: image bombs are headers only, checkpoints a tiny caption model)
and must exit with status 2 and print exactly one line on stderr, ``mmrnn: error: ...`` naming the
file or the option, with no traceback. A case that hangs fails instead of blocking the run: an
alarm interrupts Python code, and a watchdog process opens the case's FIFO, which frees a reader
or writer blocked in native code (code that holds the GIL, so no Python thread could).
Categories: nested JSON, hostile checkpoint headers, image bombs, FIFOs and devices, paths, and
oversized evaluation input.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tests.bad_input_cases  # noqa: F401  (registers its cases)
import tests.bad_input_videos  # noqa: F401  (registers its cases)
from apps.cli import main
from tests.bad_input_paths import PERMISSION_CASES
from tests.bad_inputs import CASES, Workspace, fifo_watchdog, make_workspace

TIMEOUT_S = 20
"""Seconds a case may run before it counts as a hang."""

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


class Hang(BaseException):
    """Raised inside a case that did not finish in time."""


ALL_CASES = [(category, name) for category, cases in CASES.items() for name in cases]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    ws = make_workspace(tmp_path_factory.mktemp("corpus"))
    yield ws
    for server in ws.sockets:
        server.close()


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int | str | None, str]:
    """``(exit status, stderr)`` of ``main(argv)``; a run over :data:`TIMEOUT_S` raises :class:`Hang`."""

    def alarm(signum: int, frame: Any) -> None:
        raise Hang(f"no answer after {TIMEOUT_S} s")

    watchdogs = [fifo_watchdog(Path(arg), TIMEOUT_S) for arg in argv if _is_fifo(arg)]
    start = time.monotonic()
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(TIMEOUT_S + 1)
    try:
        try:
            status: int | str | None = main(argv)
        except SystemExit as exc:  # argument errors
            status = exc.code
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        for watchdog in watchdogs:
            watchdog.kill()
            watchdog.wait()
    if time.monotonic() - start >= TIMEOUT_S:  # freed by a watchdog
        raise Hang(f"blocked on a FIFO for {TIMEOUT_S} s")
    return status, capsys.readouterr().err


def _is_fifo(arg: str) -> bool:
    try:
        return Path(arg).is_fifo()
    except OSError:  # an argument too long to be a file name
        return False


@pytest.mark.parametrize(("category", "name"), ALL_CASES, ids=[f"{c}: {n}" for c, n in ALL_CASES])
def test_bad_input_is_one_line_and_exit_2(
    category: str, name: str, workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    if name in PERMISSION_CASES and IS_ROOT:
        pytest.skip("root reads files without read permission")
    argv, mention = CASES[category][name](workspace)
    status, stderr = run_cli(argv, capsys)
    assert status == 2, f"exit {status}, stderr {stderr!r}"
    assert stderr.startswith("mmrnn: error: ") and stderr.endswith("\n") and stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr
    assert mention in stderr, f"{mention!r} not in {stderr!r}"


def test_the_corpus_is_large() -> None:
    assert len(ALL_CASES) >= 60 and all(CASES.values())
