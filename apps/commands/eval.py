"""``mmrnn eval <task>``: score predictions against official annotations with the official metrics."""

from __future__ import annotations

import argparse

from ..task_commands import add_verb_arguments, run_command

NAME = "eval"
HELP = ("score predictions against official annotations (captioning: BLEU, METEOR, ROUGE-L, CIDEr; VQA accuracy; "
        "visual dialog: R@k, MRR, mean rank, NDCG)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_verb_arguments(parser, NAME)


def run(args: argparse.Namespace) -> int:
    return run_command(args)
