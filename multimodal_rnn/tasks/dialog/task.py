"""The dialog task's entry point: ``TASK``, what the apps iterate.

It names its models, predictor and serving spec by import path, so listing the task and building
its commands' parsers import no torch (:class:`~multimodal_rnn.tasks.protocol.TaskSpec`).
"""

from __future__ import annotations

from multimodal_rnn.tasks.dialog.cli import EvalCommand, PredictCommand, TrainCommand
from multimodal_rnn.tasks.dialog.cli_tools import AblationCommand, ChatCommand
from multimodal_rnn.tasks.protocol import TaskSpec

SHIPPED = {"default": "dialog_shapes.safetensors"}
"""The shipped dialog checkpoint, by variant."""

TASK = TaskSpec(
    name="dialog",
    summary="visual dialog: image + caption + history + question -> answer",
    models="multimodal_rnn.tasks.dialog.models:MODELS",
    predictor_loader="multimodal_rnn.tasks.dialog.predictor:DialogAgent.from_checkpoint",
    shipped=SHIPPED,
    serving="multimodal_rnn.tasks.dialog.serving:SERVING",
    commands={
        "train": TrainCommand(),
        "predict": PredictCommand(SHIPPED),
        "eval": EvalCommand(),
        "chat": ChatCommand(SHIPPED),
        "dialog-ablation": AblationCommand(SHIPPED),
    },
)
