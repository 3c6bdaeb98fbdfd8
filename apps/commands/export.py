"""``mmrnn export <task>``: a checkpoint as ONNX graphs and a manifest, run without PyTorch."""

from __future__ import annotations

import argparse

from ..task_commands import add_verb_arguments, run_command

NAME = "export"
HELP = "export a checkpoint to ONNX graphs that onnxruntime runs without PyTorch (captioning, VQA)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_verb_arguments(parser, NAME)


def run(args: argparse.Namespace) -> int:
    return run_command(args)
