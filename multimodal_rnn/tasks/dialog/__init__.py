"""The dialog task: models, predictor, data pipeline, training setup and CLI commands."""

from multimodal_rnn.tasks.dialog.task import TASK

__all__ = ["TASK"]
