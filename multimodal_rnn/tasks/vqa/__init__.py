"""The vqa task: models, predictor, data pipeline, training setup and CLI commands."""

from multimodal_rnn.tasks.vqa.task import TASK

__all__ = ["TASK"]
