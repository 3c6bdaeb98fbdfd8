"""The commands that come from the tasks: ``mmrnn train|predict|eval TASK`` and each task's own
top-level commands (``mmrnn caption``, ``mmrnn ask``, ...), assembled from
:data:`multimodal_rnn.tasks.TASKS` without naming a task.

A task's ``commands`` mapping is keyed by where the command goes: ``"train"``, ``"predict"``,
``"eval"`` and ``"export"`` become ``mmrnn VERB TASK``; ``"data NAME"`` becomes ``mmrnn data NAME``;
any other key is a top-level command ``mmrnn KEY``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Iterable, Iterator

from multimodal_rnn.options import positive_int

VERBS = ("train", "predict", "eval", "export")
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
    add_threads_argument(parser)
    parser.set_defaults(_command=command)
    return parser


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """``--threads N`` (N >= 1), which :func:`set_threads` applies before the command runs."""
    parser.add_argument("--threads", type=positive_int, default=None, metavar="N", help=THREADS_HELP)


THREADS_HELP = ("torch CPU threads (intra- and inter-op) for this command (default: torch's, one per core); on a "
                "busy machine fewer can be much faster: 1 thread was 2-15x faster than 2 on a loaded 2-core machine")


def set_threads(threads: int | None) -> None:
    """``torch.set_num_threads(threads)`` (``threads`` >= 1, as ``--threads`` parses it) and, unless
    torch has started its inter-op pool, the inter-op threads too; ``None`` leaves torch's defaults."""
    if threads is None:
        return
    try:
        import torch
    except ImportError:  # a torch-free deployment (--runtime onnx): the command passes --threads to onnxruntime
        return

    torch.set_num_threads(threads)
    if torch.get_num_interop_threads() != threads:
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:  # the inter-op pool already started (an earlier command in this process)
            pass


def add_verb_arguments(parser: argparse.ArgumentParser, verb: str) -> None:
    """``mmrnn VERB TASK``: one sub-command per task that has ``verb``."""
    sub = parser.add_subparsers(dest="task", metavar="TASK", required=True)
    for task, command in task_commands(verb):
        add_command_parser(sub, task.name, command)


def progress_bar(iterable: Iterable[Any], total: int, desc: str) -> Iterable[Any]:
    """A tqdm bar on a terminal; none when stderr is not one (log lines say what happened)."""
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, disable=None)


def log_line(line: str) -> None:
    """A log line on stderr."""
    print(line, file=sys.stderr, flush=True)


def run_command(args: argparse.Namespace) -> int:
    """Run the task command the parser chose and print its report."""
    from multimodal_rnn.options import check_outputs
    from multimodal_rnn.tasks.protocol import RunContext

    set_threads(args.threads)
    context = RunContext(progress=progress_bar, log=log_line, emit=lambda line: print(line, flush=True), stdin=sys.stdin,
                         interactive=sys.stderr.isatty())
    for note in check_outputs(args):
        context.log(note)
    report = args._command.run(args, context)
    for note in report.notes:
        print(note, file=sys.stderr)
    for line in report.lines:
        print(line)
    return 0
