"""Frame classification as a service object: load weights once, label every frame of clips.

:class:`FrameLabeler` ties a frames model (:mod:`multimodal_rnn.tasks.frames.models`), its class
names and its clip transform together; commands, the server and evaluation use it. A clip's frames
go through :attr:`clip_transform` to (T, 3, S, S); clips of different lengths are batched padded
(B, T, 3, S, S) with their lengths, and each clip gets one label per real frame.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from multimodal_rnn.checkpoint import Checkpoint
from multimodal_rnn.encoders.clip import ClipFrames, ClipTransform, build_clip_transform, stack_clips
from multimodal_rnn.tasks.frames.models import MODELS, FrameRNN
from multimodal_rnn.tasks.loading import load_with_classes
from multimodal_rnn.tasks.protocol import Predictor


@dataclass(frozen=True)
class FrameLabels:
    """The labels of one clip's frames.

    Attributes:
        labels: the most probable class of every frame, in order.
        probabilities: the probability (softmax) of each of those labels.
    """

    labels: tuple[str, ...]
    probabilities: tuple[float, ...]


class FrameLabeler(Predictor):
    """A frames model ready for inference: ``label(clips) -> [FrameLabels, ...]``."""

    model: FrameRNN

    def __init__(
        self,
        model: FrameRNN,
        classes: Sequence[str],
        *,
        checkpoint: Checkpoint | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__(model, checkpoint=checkpoint, device=device)
        self.classes = tuple(classes)
        self.clip_transform: ClipTransform = build_clip_transform(model.config.encoder)

    @property
    def num_frames(self) -> int:
        """Frames per clip the model was trained on (a clip of any length can be labeled)."""
        return self.model.config.num_frames

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> FrameLabeler:
        """Load a frames checkpoint (.safetensors written by ``mmrnn train frames``) onto ``device``."""
        model, checkpoint, classes = load_with_classes(path, registry=MODELS, task="frames", model_class=FrameRNN)
        return cls(model, classes, checkpoint=checkpoint, device=device)

    def label(self, clips: Sequence[ClipFrames], *, batch_size: int = 32) -> list[FrameLabels]:
        """Label every frame of clips (VideoClips or uint8 (T, H, W, 3) frames), ``batch_size`` at a time."""
        results: list[FrameLabels] = []
        for start in range(0, len(clips), batch_size):
            frames, lengths = stack_clips([self.clip_transform(clip) for clip in clips[start : start + batch_size]])
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
