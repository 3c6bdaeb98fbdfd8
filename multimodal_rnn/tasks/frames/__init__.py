from multimodal_rnn.tasks.frames.task import TASK

__all__ = ["TASK"]
