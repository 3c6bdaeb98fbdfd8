"""The dialog task's entry point: ``TASK``, what the apps iterate."""

from __future__ import annotations

from multimodal_rnn.tasks.dialog.models import MODELS
from multimodal_rnn.tasks.dialog.predictor import DialogAgent
from multimodal_rnn.tasks.protocol import TaskSpec

TASK = TaskSpec(
    name="dialog",
    summary="visual dialog: image + caption + history + question -> answer",
    models=MODELS,
    predictor_loader=DialogAgent.from_checkpoint,
    shipped={"default": "dialog_shapes.safetensors"},
    commands={},
)
