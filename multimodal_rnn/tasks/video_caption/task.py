"""The video caption task's entry point: ``TASK``, what the apps iterate.

It names its models, predictor and serving spec by import path, so listing the task and building
its commands' parsers import no torch (:class:`~multimodal_rnn.tasks.protocol.TaskSpec`).
"""

from __future__ import annotations

from multimodal_rnn.tasks.protocol import TaskSpec
from multimodal_rnn.tasks.video_caption.cli import CaptionVideoCommand, EvalCommand, PredictCommand
from multimodal_rnn.tasks.video_caption.training_cli import TrainCommand

SHIPPED = {"default": "video_caption_moving_shapes.safetensors"}
"""The shipped video caption checkpoints (files in the weights folder), by variant."""

TASK = TaskSpec(
    name="video_caption",
    summary="video captioning: clip -> words",
    models="multimodal_rnn.tasks.video_caption.models:MODELS",
    predictor_loader="multimodal_rnn.tasks.video_caption.predictor:VideoCaptioner.from_checkpoint",
    shipped=SHIPPED,
    serving="multimodal_rnn.tasks.video_caption.serving:SERVING",
    commands={
        "caption-video": CaptionVideoCommand(SHIPPED),
        "train": TrainCommand(),
        "predict": PredictCommand(SHIPPED),
        "eval": EvalCommand(),
    },
)
