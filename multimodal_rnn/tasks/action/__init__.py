from multimodal_rnn.tasks.action.task import TASK

__all__ = ["TASK"]
