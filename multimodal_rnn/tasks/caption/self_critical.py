"""Self-critical sequence training for caption models: :class:`SelfCriticalObjective` starts the
decoder from a batch of images; the objective itself is
:class:`multimodal_rnn.training.self_critical.SelfCritical`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from multimodal_rnn.decoding import Context, State
from multimodal_rnn.metrics.cider import CiderD
from multimodal_rnn.tasks.caption.models import CaptionModel
from multimodal_rnn.training.self_critical import SelfCritical

__all__ = ["SelfCriticalObjective"]


class SelfCriticalObjective(SelfCritical):
    """SCST of a :class:`CaptionModel` on batches with ``"image"`` (B, 3, H, W) and ``"index"``
    (see :class:`~multimodal_rnn.training.self_critical.SelfCritical` for the arguments)."""

    model: CaptionModel

    def __init__(
        self,
        model: CaptionModel,
        cider: CiderD,
        references: Sequence[Sequence[str]],
        decode_words: Callable[[Sequence[int]], list[str]],
        **options: Any,
    ) -> None:
        super().__init__(model, cider, references, decode_words, item="image", **options)

    def start(self, batch: dict[str, Any]) -> tuple[State, Context]:
        return self.model.start(self.model.encode(batch["image"]))
