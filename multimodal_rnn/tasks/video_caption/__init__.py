"""Video captioning: clip -> words (S2VT and a temporal-attention decoder)."""

from multimodal_rnn.tasks.video_caption.task import TASK

__all__ = ["TASK"]
