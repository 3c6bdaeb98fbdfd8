"""The caption task's entry point: ``TASK``, what the apps iterate.

It names its models, predictor and serving spec by import path, so listing the task and building
its commands' parsers import no torch (:class:`~multimodal_rnn.tasks.protocol.TaskSpec`).
"""

from __future__ import annotations

from multimodal_rnn.tasks.caption.cli import CaptionCommand, EvalCommand, PredictCommand, TrainCommand
from multimodal_rnn.tasks.exporting import ExportCommand
from multimodal_rnn.tasks.protocol import TaskSpec

SHIPPED = {"default": "caption_shapes.safetensors"}
"""The shipped caption checkpoints (files in the weights folder), by variant."""

TASK = TaskSpec(
    name="caption",
    summary="image captioning: image -> words",
    models="multimodal_rnn.tasks.caption.models:MODELS",
    predictor_loader="multimodal_rnn.tasks.caption.predictor:load_captioner",
    shipped=SHIPPED,
    serving="multimodal_rnn.tasks.caption.serving:SERVING",
    commands={"caption": CaptionCommand(SHIPPED), "train": TrainCommand(), "predict": PredictCommand(SHIPPED),
              "eval": EvalCommand(),
              "export": ExportCommand("caption", SHIPPED, "multimodal_rnn.tasks.caption.export:export_captioner",
                                      command="caption", example="photo.png", second="step.onnx")},
)
