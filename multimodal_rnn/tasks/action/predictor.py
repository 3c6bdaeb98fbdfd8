"""Action recognition as a service object: load weights once, classify clips in batches.

:class:`ActionClassifier` ties an action model (:mod:`multimodal_rnn.tasks.action.models`), its
class names and its clip transform together. Commands, the server and evaluation use it; it never
prints. Clips are read with ``num_frames`` frames sampled uniformly
(:func:`multimodal_rnn.video.read_clip`), go through :attr:`clip_transform` to (T, 3, S, S), and are
classified in batches of (B, T, 3, S, S) with their lengths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from multimodal_rnn.encoders.clip import ClipFrames
from multimodal_rnn.errors import ConfigError
from multimodal_rnn.tasks.action.models import LRCN, MODELS
from multimodal_rnn.tasks.clip_models import ClipPredictor


@dataclass(frozen=True)
class ActionResult:
    """The classes of one clip.

    Attributes:
        classes: the ``top`` classes with their probabilities (softmax), best first.
    """

    classes: tuple[tuple[str, float], ...]

    @property
    def label(self) -> str:
        """The most probable class."""
        return self.classes[0][0]


class ActionClassifier(ClipPredictor):
    """An action model ready for inference: ``classify(clips) -> [ActionResult, ...]``."""

    task = "action"
    registry = MODELS
    model_class = LRCN
    model: LRCN

    def classify(self, clips: Sequence[ClipFrames], *, top: int = 5, batch_size: int = 32) -> list[ActionResult]:
        """Classify clips (VideoClips or uint8 (T, H, W, 3) frames), ``batch_size`` at a time."""
        results: list[ActionResult] = []
        for frames, lengths in self.stacked(clips, batch_size):
            results.extend(self.classify_tensors(frames, lengths, top=top))
        return results

    @torch.no_grad()
    def classify_tensors(
        self, frames: torch.Tensor, lengths: torch.Tensor | None = None, *, top: int = 5
    ) -> list[ActionResult]:
        """Classify transformed clips (B, T, 3, S, S) with their real lengths (B,) (None: all T)."""
        if top < 1:
            raise ConfigError(f"top must be at least 1, got {top}")
        batch = {"frames": frames.to(self.device)}
        if lengths is not None:
            batch["length"] = lengths.to(self.device)
        probabilities = torch.softmax(self.model(batch)["logits"].float(), dim=1)  # (B, C)
        best, index = probabilities.topk(min(top, probabilities.shape[1]), dim=1)
        return [
            ActionResult(tuple((self.classes[i], round(float(p), 6)) for i, p in zip(row.tolist(), values)))
            for row, values in zip(index, best)
        ]
