"""The dialog task's entry point: ``TASK``, what the apps iterate."""

from __future__ import annotations

from multimodal_rnn.tasks.dialog.cli import EvalCommand, PredictCommand, TrainCommand
from multimodal_rnn.tasks.dialog.cli_tools import AblationCommand, ChatCommand
from multimodal_rnn.tasks.dialog.models import MODELS
from multimodal_rnn.tasks.dialog.predictor import DialogAgent
from multimodal_rnn.tasks.dialog.serving import SERVING
from multimodal_rnn.tasks.protocol import TaskSpec

SHIPPED = {"default": "dialog_shapes.safetensors"}
"""The shipped dialog checkpoint, by variant."""

TASK = TaskSpec(
    name="dialog",
    summary="visual dialog: image + caption + history + question -> answer",
    models=MODELS,
    predictor_loader=DialogAgent.from_checkpoint,
    shipped=SHIPPED,
    serving=SERVING,
    commands={
        "train": TrainCommand(),
        "predict": PredictCommand(SHIPPED),
        "eval": EvalCommand(),
        "chat": ChatCommand(SHIPPED),
        "dialog-ablation": AblationCommand(SHIPPED),
    },
)
