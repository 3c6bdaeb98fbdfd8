"""The action task's entry point: ``TASK``, what the apps iterate.

It names its models, predictor and serving spec by import path, so listing the task and building
its commands' parsers import no torch (:class:`~multimodal_rnn.tasks.protocol.TaskSpec`).
"""

from __future__ import annotations

from multimodal_rnn.tasks.action.cli import ClassifyVideoCommand, EvalCommand, PredictCommand, TrainCommand
from multimodal_rnn.tasks.protocol import TaskSpec

SHIPPED = {"default": "action_moving_shapes.safetensors"}
"""The shipped action checkpoints (files in the weights folder), by variant."""

TASK = TaskSpec(
    name="action",
    summary="action recognition: video clip -> class",
    models="multimodal_rnn.tasks.action.models:MODELS",
    predictor_loader="multimodal_rnn.tasks.action.predictor:ActionClassifier.from_checkpoint",
    shipped=SHIPPED,
    serving="multimodal_rnn.tasks.action.serving:SERVING",
    commands={
        "classify-video": ClassifyVideoCommand(SHIPPED),
        "train": TrainCommand(),
        "predict": PredictCommand(SHIPPED),
        "eval": EvalCommand(),
    },
)
"""The action task: models, predictor, clip pipeline, training setup and CLI commands."""
