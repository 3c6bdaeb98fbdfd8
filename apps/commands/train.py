"""``mmrnn train <task>``: train a model (shapes world by default), on one process or under torchrun."""

from __future__ import annotations

import argparse
import contextlib
import io

from ..task_commands import add_verb_arguments, run_command
from multimodal_rnn.errors import ConfigError

NAME = "train"
HELP = "train a model: caption, vqa, dialog, navigation"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_verb_arguments(parser, NAME)


def run(args: argparse.Namespace) -> int:
    _check_amp(args.amp, args.device)
    if not args.distributed:
        return run_command(args)
    from multimodal_rnn.training.launch import is_main_process, torchrun_process_group

    with torchrun_process_group(args.device) as device:
        args.device = str(device)  # cuda:<LOCAL_RANK> or cpu
        if is_main_process():
            return run_command(args)
        with contextlib.redirect_stdout(io.StringIO()):  # rank 0 alone reports; errors still reach stderr
            return run_command(args)


def _check_amp(amp: str, device: str) -> None:
    """Refuse ``--amp`` without CUDA before any data is read (the trainer would refuse it later)."""
    if amp == "off":
        return
    import torch

    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if not cuda:
        raise ConfigError(f"--amp {amp}: mixed precision runs on CUDA only; drop --amp on the CPU (--device {device})")
