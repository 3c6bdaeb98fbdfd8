"""``mmrnn --help`` and argument errors import no torch: the parser is built from the tasks' light
declarations, and models, data and torch are imported only when a command runs.

The import checks run in a fresh interpreter (this test process has torch loaded already).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from multimodal_rnn.datasets import visdial, vqa
from multimodal_rnn.tasks import MODELS, TASKS
from multimodal_rnn.tasks.caption import cli as caption_cli
from multimodal_rnn.tasks.dialog import ablation
from multimodal_rnn.tasks.dialog import cli as dialog_cli
from multimodal_rnn.tasks.dialog import cli_tools as dialog_tools
from multimodal_rnn.tasks.dialog import training as dialog_training
from multimodal_rnn.tasks.dialog.models import DIALOG_MODELS
from multimodal_rnn.tasks.vqa import cli as vqa_cli

ROOT = Path(__file__).resolve().parents[1]

HEAVY = ("torch", "torchvision", "numpy")
"""Modules that building the parser must not import."""

_EVERY_HELP = """
import argparse, contextlib, io, sys
from apps.cli import build_parser, main

def parsers(parser, path):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, path + [name])

with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        main(["--help"])
    except SystemExit as exit:
        assert exit.code == 0 and out.getvalue().startswith("usage: mmrnn")
for path, parser in parsers(build_parser(), []):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        try:
            build_parser().parse_args(path + ["--help"])
        except SystemExit as exit:
            assert exit.code == 0, path
    assert out.getvalue().startswith("usage: mmrnn"), path
    print(" ".join(path))
print("LOADED", *[name for name in HEAVY if name in sys.modules])
"""


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_help_of_every_command_imports_no_torch() -> None:
    done = _python(f"HEAVY = {HEAVY!r}\n{_EVERY_HELP}")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert {"caption", "train caption", "train vqa", "predict dialog", "data shapes", "serve"} <= set(lines)
    assert lines[-1] == "LOADED", f"building the parser imported {lines[-1].split()[1:]}"


@pytest.mark.parametrize("argv", [["train", "vqa", "--bad-option"], ["caption"], ["predict", "nope"]])
def test_argument_errors_exit_2_with_one_line_and_no_torch(argv: list[str]) -> None:
    code = (
        "import sys\nfrom apps.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as exit:\n"
        f"    print('LOADED', *[name for name in {HEAVY!r} if name in sys.modules])\n    raise\n"
    )
    done = _python(code, *argv)
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("mmrnn: error: ")
    assert f"(see: mmrnn {argv[0]}" in done.stderr and done.stderr.rstrip().endswith(" --help)")
    assert done.stdout.strip() == "LOADED"


def test_the_light_copies_equal_their_sources() -> None:
    """The option choices and defaults that the commands declare without importing torch."""
    assert list(caption_cli.MODEL_NAMES) == TASKS["caption"].models.names()
    assert list(vqa_cli.MODEL_NAMES) == TASKS["vqa"].models.names()
    assert list(dialog_cli.MODEL_NAMES) == TASKS["dialog"].models.names() == sorted(DIALOG_MODELS)
    assert vqa_cli.DEFAULT_IMAGE_PATTERN == vqa.DEFAULT_IMAGE_PATTERN
    assert dialog_cli.DEFAULT_IMAGE_PATTERN == visdial.DEFAULT_IMAGE_PATTERN
    assert dialog_cli.VALIDATION_METRIC == dialog_training.VALIDATION_METRIC
    assert dialog_tools.HISTORY_CONDITIONS == ablation.HISTORY_CONDITIONS


def test_tasks_resolve_their_members_on_first_use() -> None:
    for task in TASKS.values():
        assert task.served == (task.serving is not None)
        assert set(task.models.names()) <= set(MODELS.names())
    assert sorted(name for task in TASKS.values() for name in task.models.names()) == MODELS.names()
