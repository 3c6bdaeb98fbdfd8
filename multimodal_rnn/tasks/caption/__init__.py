"""The caption task: models, predictor, data pipeline, training setup and CLI commands."""

from multimodal_rnn.tasks.caption.task import TASK

__all__ = ["TASK"]
