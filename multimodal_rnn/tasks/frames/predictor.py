"""Frame classification as a service object: load weights once, label every frame of clips.

:class:`FrameLabeler` ties a frames model (:mod:`multimodal_rnn.tasks.frames.models`), its class
names and its clip transform together; commands, the server and evaluation use it. A clip's frames
go through :attr:`clip_transform` to (T, 3, S, S); clips of different lengths are batched padded
(B, T, 3, S, S) with their lengths, and each clip gets one label per real frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from multimodal_rnn.encoders.clip import ClipFrames
from multimodal_rnn.tasks.clip_models import ClipPredictor
from multimodal_rnn.tasks.frames.models import MODELS, FrameRNN


@dataclass(frozen=True)
class FrameLabels:
    """The labels of one clip's frames.

    Attributes:
        labels: the most probable class of every frame, in order.
        probabilities: the probability (softmax) of each of those labels.
    """

    labels: tuple[str, ...]
    probabilities: tuple[float, ...]


class FrameLabeler(ClipPredictor):
    """A frames model ready for inference: ``label(clips) -> [FrameLabels, ...]``; it was trained on
    :attr:`num_frames` frames per clip, and labels a clip of any length."""

    task = "frames"
    registry = MODELS
    model_class = FrameRNN
    model: FrameRNN

    def label(self, clips: Sequence[ClipFrames], *, batch_size: int = 32) -> list[FrameLabels]:
        """Label every frame of clips (VideoClips or uint8 (T, H, W, 3) frames), ``batch_size`` at a time."""
        results: list[FrameLabels] = []
        for frames, lengths in self.stacked(clips, batch_size):
            results.extend(self.label_tensors(frames, lengths))
        return results

    @torch.no_grad()
    def label_tensors(self, frames: torch.Tensor, lengths: torch.Tensor | None = None) -> list[FrameLabels]:
        """Label transformed clips (B, T, 3, S, S) with their real lengths (B,) (None: all T)."""
        batch = {"frames": frames.to(self.device)}
        if lengths is not None:
            batch["length"] = lengths.to(self.device)
        probabilities = torch.softmax(self.model(batch)["logits"].float(), dim=2)  # (B, T, C)
        best, index = probabilities.max(dim=2)  # (B, T)
        counts = lengths.tolist() if lengths is not None else [frames.shape[1]] * frames.shape[0]
        return [
            FrameLabels(
                tuple(self.classes[i] for i in index[row, :count].tolist()),
                tuple(round(float(p), 6) for p in best[row, :count]),
            )
            for row, count in enumerate(counts)
        ]
