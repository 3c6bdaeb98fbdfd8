"""``mmrnn predict <task>``: write results files in the official formats."""

from __future__ import annotations

import argparse

from ..task_commands import add_verb_arguments, run_command

NAME = "predict"
HELP = "write results files in the official formats (COCO captions, VQA answers, VisDial ranks, ...)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_verb_arguments(parser, NAME)


def run(args: argparse.Namespace) -> int:
    return run_command(args)
