"""The vqa task's entry point: ``TASK``, what the apps iterate."""

from __future__ import annotations

from multimodal_rnn.tasks.vqa.models import MODELS
from multimodal_rnn.tasks.vqa.predictor import Answerer
from multimodal_rnn.tasks.protocol import TaskSpec

TASK = TaskSpec(
    name="vqa",
    summary="visual question answering: image + question -> answer",
    models=MODELS,
    predictor_loader=Answerer.from_checkpoint,
    shipped={"default": "vqa_shapes.safetensors"},
    commands={},
)
