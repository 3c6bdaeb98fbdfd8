"""multimodal_rnn: a CNN sees, one recurrent core remembers, small heads answer.

The package is layered: building blocks in ``recurrent/``, ``encoders/`` and ``text/``;
``decoding`` and ``metrics/``; data formats in ``datasets/``; orchestration in ``training/``,
``checkpoint`` and ``registry``; one package per task under ``tasks/``. The library never prints
and never parses argv.

The entry points below are loaded on first use, so ``import multimodal_rnn`` does not import
torch::

    import multimodal_rnn
    model, checkpoint = multimodal_rnn.load_model("weights/vqa_shapes.safetensors")
    answerer = multimodal_rnn.load_predictor("weights/vqa_shapes.safetensors")
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from multimodal_rnn.build_info import PACKAGE_VERSION as __version__

if TYPE_CHECKING:
    import torch
    from torch import nn

    from multimodal_rnn.checkpoint import Checkpoint
    from multimodal_rnn.tasks import Task

__all__ = ["TASKS", "__version__", "load_model", "load_predictor"]


def load_model(path: str | os.PathLike[str], **context: Any) -> tuple[nn.Module, Checkpoint]:
    """``(model, checkpoint)`` of any checkpoint of this package: the model rebuilt through the
    registry of every task (:data:`multimodal_rnn.tasks.MODELS`), in eval mode on CPU
    (:func:`multimodal_rnn.checkpoint.load_model`)."""
    from multimodal_rnn.checkpoint import load_model as load_registered
    from multimodal_rnn.tasks import MODELS

    return load_registered(path, registry=MODELS, **context)


def load_predictor(path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> Any:
    """The predictor of the checkpoint's own task (Captioner, Answerer, DialogAgent, NavigationAgent),
    on ``device``; the task is read from the checkpoint header. An export folder (``mmrnn export``)
    gives the task's onnxruntime predictor (ExportedCaptioner, ExportedAnswerer).

    Raises:
        CheckpointError: an unreadable checkpoint or one of a task this package does not have.
    """
    from multimodal_rnn.checkpoint import read_header
    from multimodal_rnn.errors import CheckpointError
    from multimodal_rnn.runtime.manifest import is_export_folder, read_manifest
    from multimodal_rnn.tasks import TASKS

    task = read_manifest(path)["task"] if is_export_folder(path) else read_header(path)["task"]
    if task not in TASKS:
        raise CheckpointError(f"{path}: checkpoint of task {task!r}, which this package does not have "
                              f"(tasks: {', '.join(TASKS)})")
    return TASKS[task].load_predictor(path, device=device)


def __getattr__(name: str) -> Any:
    if name == "TASKS":
        from multimodal_rnn.tasks import TASKS

        return TASKS
    raise AttributeError(f"module 'multimodal_rnn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "TASKS"})


if TYPE_CHECKING:
    TASKS: dict[str, Task]
