"""The commands that come from the tasks: ``mmrnn train|predict|eval TASK`` and each task's own
top-level commands (``mmrnn caption``, ``mmrnn ask``, ...), assembled from
:data:`multimodal_rnn.tasks.TASKS` without naming a task.

A task's ``commands`` mapping is keyed by where the command goes: ``"train"``, ``"predict"`` and
``"eval"`` become ``mmrnn VERB TASK``; ``"data NAME"`` becomes ``mmrnn data NAME``; any other key
is a top-level command ``mmrnn KEY``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Iterable, Iterator

VERBS = ("train", "predict", "eval")
"""Commands whose sub-command is a task name."""


def tasks() -> list[Any]:
    """The registered tasks (imported here, when a command is built, not at ``mmrnn`` start)."""
    from multimodal_rnn.tasks import TASKS

    return list(TASKS.values())


def task_commands(key: str) -> Iterator[tuple[Any, Any]]:
    """``(task, command)`` for every task that has a command under ``key``."""
    for task in tasks():
        command = task.commands.get(key)
        if command is not None:
            yield task, command


def add_command_parser(subparsers: Any, name: str, command: Any) -> argparse.ArgumentParser:
    """Add ``command``'s parser as ``name`` under ``subparsers``; it runs through :func:`run_command`."""
    parser = subparsers.add_parser(name, help=command.help, description=command.help,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    command.add_arguments(parser)
    parser.set_defaults(_command=command)
    return parser


def add_verb_arguments(parser: argparse.ArgumentParser, verb: str) -> None:
    """``mmrnn VERB TASK``: one sub-command per task that has ``verb``."""
    sub = parser.add_subparsers(dest="task", metavar="TASK", required=True)
    for task, command in task_commands(verb):
        add_command_parser(sub, task.name, command)


def progress_bar(iterable: Iterable[Any], total: int, description: str) -> Iterable[Any]:
    """A tqdm bar on a terminal; none when stderr is not one (log lines say what happened)."""
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=description, disable=None)


def log_line(line: str) -> None:
    """A log line on stderr."""
    print(line, file=sys.stderr, flush=True)


def run_command(args: argparse.Namespace) -> int:
    """Run the task command the parser chose and print its report."""
    from multimodal_rnn.tasks.protocol import RunContext

    context = RunContext(progress=progress_bar, log=log_line, emit=lambda line: print(line, flush=True), stdin=sys.stdin)
    report = args._command.run(args, context)
    for note in report.notes:
        print(note, file=sys.stderr)
    for line in report.lines:
        print(line)
    return 0
