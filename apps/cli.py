"""The ``mmrnn`` command line: subcommand dispatch and one-line error reporting.

User errors (:class:`multimodal_rnn.errors.MMRNNError`) print ``mmrnn: error: <message>`` on
stderr and exit with status 2, without a traceback; so does an ``OSError`` (a full disk, a
permission denied, a read-only file system), as ``mmrnn: error: <file>: <reason>``. Argument
errors (an unknown option, a missing one, a value out of its range) are the same one line, naming
the command whose ``--help`` lists the options. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from multimodal_rnn import __version__
from multimodal_rnn.errors import MMRNNError

from .task_commands import VERBS, add_command_parser, run_command, tasks

COMMANDS: tuple[str, ...] = ("train", "predict", "eval", "export", "data", "serve")
"""The app's own subcommand modules under ``apps.commands``; the tasks' top-level commands
(``caption``, ``ask``, ``chat``, ``navigate``, ...) are listed before them."""


def _load_commands() -> list[ModuleType]:
    return [importlib.import_module(f".commands.{name}", __package__) for name in COMMANDS]


def _top_level_task_commands() -> list[tuple[str, object]]:
    """``(name, command)`` of every task command that is not under a verb or ``data``."""
    return [(key, command) for task in tasks() for key, command in task.commands.items()
            if key not in VERBS and not key.startswith("data ")]


class OneLineErrorParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, ``mmrnn: error: <problem> (see: PROG --help)``,
    with exit status 2; its sub-command parsers are of the same class."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"mmrnn: error: {' '.join(message.split())} (see: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every subcommand registered."""
    parser = OneLineErrorParser(
        prog="mmrnn",
        description="Multimodal recurrent models: captioning, VQA, visual dialog, navigation.",
    )
    parser.add_argument("--version", action="version", version=f"mmrnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in _top_level_task_commands():
        add_command_parser(sub, name, command).set_defaults(_run=run_command)
    for module in _load_commands():
        sp = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(sp)
        sp.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mmrnn`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except MMRNNError as exc:
        print(f"mmrnn: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mmrnn: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        print(f"mmrnn: error: {os_error_line(exc)}", file=sys.stderr)
        return 2


def os_error_line(exc: OSError) -> str:
    """``<file>: <reason>`` of an OS error (``<reason>`` alone when it names no file), one line."""
    reason = exc.strerror or " ".join(str(exc).split()) or type(exc).__name__
    return f"{exc.filename}: {reason}" if exc.filename is not None else reason


if __name__ == "__main__":
    sys.exit(main())
