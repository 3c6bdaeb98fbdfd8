"""The frames task's entry point: ``TASK``, what the apps iterate.

It names its models, predictor and serving spec by import path, so listing the task and building
its commands' parsers import no torch (:class:`~multimodal_rnn.tasks.protocol.TaskSpec`).
"""

from __future__ import annotations

from multimodal_rnn.tasks.frames.cli import EvalCommand, LabelFramesCommand, PredictCommand, TrainCommand
from multimodal_rnn.tasks.protocol import TaskSpec

SHIPPED = {"default": "frames_moving_shapes.safetensors"}
"""The shipped frames checkpoints (files in the weights folder), by variant."""

TASK = TaskSpec(
    name="frames",
    summary="frame classification: video clip -> a class per frame",
    models="multimodal_rnn.tasks.frames.models:MODELS",
    predictor_loader="multimodal_rnn.tasks.frames.predictor:FrameLabeler.from_checkpoint",
    shipped=SHIPPED,
    serving="multimodal_rnn.tasks.frames.serving:SERVING",
    commands={
        "label-frames": LabelFramesCommand(SHIPPED),
        "train": TrainCommand(),
        "predict": PredictCommand(SHIPPED),
        "eval": EvalCommand(),
    },
)
"""The frames task: models, predictor, clip pipeline, training setup and CLI commands."""
