"""The caption task's entry point: ``TASK``, what the apps iterate."""

from __future__ import annotations

from multimodal_rnn.tasks.caption.cli import CaptionCommand, EvalCommand, PredictCommand, TrainCommand
from multimodal_rnn.tasks.caption.models import MODELS
from multimodal_rnn.tasks.caption.predictor import Captioner
from multimodal_rnn.tasks.caption.serving import SERVING
from multimodal_rnn.tasks.protocol import TaskSpec

SHIPPED = {"default": "caption_shapes.safetensors"}
"""The shipped caption checkpoints (files in the weights folder), by variant."""

TASK = TaskSpec(
    name="caption",
    summary="image captioning: image -> words",
    models=MODELS,
    predictor_loader=Captioner.from_checkpoint,
    shipped=SHIPPED,
    serving=SERVING,
    commands={"caption": CaptionCommand(SHIPPED), "train": TrainCommand(), "predict": PredictCommand(SHIPPED),
              "eval": EvalCommand()},
)
