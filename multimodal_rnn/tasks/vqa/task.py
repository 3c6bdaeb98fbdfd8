"""The vqa task's entry point: ``TASK``, what the apps iterate."""

from __future__ import annotations

from multimodal_rnn.tasks.protocol import TaskSpec
from multimodal_rnn.tasks.vqa.cli import AskCommand, EvalCommand, PredictCommand, TrainCommand
from multimodal_rnn.tasks.vqa.models import MODELS
from multimodal_rnn.tasks.vqa.predictor import Answerer
from multimodal_rnn.tasks.vqa.serving import SERVING

SHIPPED = {"default": "vqa_shapes.safetensors"}
"""The shipped VQA checkpoint (in :func:`multimodal_rnn.shipped.weights_dir`), by variant."""

TASK = TaskSpec(
    name="vqa",
    summary="visual question answering: image + question -> answer",
    models=MODELS,
    predictor_loader=Answerer.from_checkpoint,
    shipped=SHIPPED,
    serving=SERVING,
    commands={
        "ask": AskCommand(SHIPPED),
        "train": TrainCommand(),
        "predict": PredictCommand(SHIPPED),
        "eval": EvalCommand(),
    },
)
