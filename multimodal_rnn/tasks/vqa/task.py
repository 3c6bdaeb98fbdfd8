"""The vqa task's entry point: ``TASK``, what the apps iterate.

It names its models, predictor and serving spec by import path, so listing the task and building
its commands' parsers import no torch (:class:`~multimodal_rnn.tasks.protocol.TaskSpec`).
"""

from __future__ import annotations

from multimodal_rnn.tasks.exporting import ExportCommand
from multimodal_rnn.tasks.protocol import TaskSpec
from multimodal_rnn.tasks.vqa.cli import AskCommand, EvalCommand, PredictCommand, TrainCommand

SHIPPED = {"default": "vqa_shapes.safetensors"}
"""The shipped VQA checkpoint (in :func:`multimodal_rnn.shipped.weights_dir`), by variant."""

TASK = TaskSpec(
    name="vqa",
    summary="visual question answering: image + question -> answer",
    models="multimodal_rnn.tasks.vqa.models:MODELS",
    predictor_loader="multimodal_rnn.tasks.vqa.predictor:load_answerer",
    shipped=SHIPPED,
    serving="multimodal_rnn.tasks.vqa.serving:SERVING",
    commands={
        "ask": AskCommand(SHIPPED),
        "train": TrainCommand(),
        "predict": PredictCommand(SHIPPED),
        "eval": EvalCommand(),
        "export": ExportCommand(
            "vqa",
            SHIPPED,
            "multimodal_rnn.tasks.vqa.export:export_answerer",
            command="ask",
            example='photo.png "what color is the circle?"',
            second="answer.onnx",
        ),
    },
)
