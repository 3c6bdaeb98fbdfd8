"""Self-critical sequence training for video caption models: :class:`VideoSelfCritical` starts
the decoder from a batch of clips; the objective itself is
:class:`multimodal_rnn.training.self_critical.SelfCritical`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from multimodal_rnn.decoding import Context, State
from multimodal_rnn.metrics.cider import CiderD
from multimodal_rnn.tasks.video_caption.models import VideoCaptionModel
from multimodal_rnn.training.self_critical import SelfCritical

__all__ = ["VideoSelfCritical"]


class VideoSelfCritical(SelfCritical):
    """SCST of a :class:`VideoCaptionModel` on its training batches (clips or cached frame
    features, and ``"index"``; see :class:`~multimodal_rnn.training.self_critical.SelfCritical`)."""

    model: VideoCaptionModel

    def __init__(
        self,
        model: VideoCaptionModel,
        cider: CiderD,
        references: Sequence[Sequence[str]],
        decode_words: Callable[[Sequence[int]], list[str]],
        **options: Any,
    ) -> None:
        super().__init__(model, cider, references, decode_words, item="clip", **options)

    def start(self, batch: dict[str, Any]) -> tuple[State, Context]:
        return self.model.start(self.model.encode_batch(batch))
