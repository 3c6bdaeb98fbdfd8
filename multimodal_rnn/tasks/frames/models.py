"""Frame classification: many-to-many over the frames of a clip, one label per frame.

``frame_rnn``: the clip classifiers' trunk (:class:`~multimodal_rnn.tasks.clip_models.ClipSequenceModel`):
every frame through the shared image encoder, the per-frame features through the shared
recurrent core (vanilla/GRU/LSTM; bidirectional by default, so a frame's label can use the frames
after it too: :class:`~multimodal_rnn.recurrent.bidirectional.SequenceCores`), and a linear layer
on every output step. Padded frames (beyond a clip's length) get no loss and no score.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from multimodal_rnn.encoders.clip import CLIP_ENCODER
from multimodal_rnn.encoders.image import ImageEncoderConfig
from multimodal_rnn.recurrent.sequences import step_mask
from multimodal_rnn.registry import ModelEntry, Registry
from multimodal_rnn.tasks.clip_models import ClipSequenceModel, check_clip_config

IGNORE_LABEL = -100
"""The label of a padded frame (``torch.nn.functional.cross_entropy``'s ``ignore_index``)."""


@dataclass(frozen=True, kw_only=True)
class FrameRNNConfig:
    """``frame_rnn``'s options.

    Attributes:
        num_classes: frame classes (the checkpoint lists their names).
        encoder: the per-frame image encoder (default: :data:`~multimodal_rnn.encoders.clip.CLIP_ENCODER`).
        spatial_size: features per frame from the encoder's whole grid (where things are); None
            uses the grid mean (the encoder's feature size).
        differences: the core also reads each frame's feature change since the previous frame.
        cell, hidden_size, num_layers: the recurrent core.
        bidirectional: a second core reads the frames backwards.
        dropout: on the frame features and before the classifier.
        num_frames: frames sampled from each clip in training.
        label_smoothing: epsilon of the cross-entropy.
    """

    num_classes: int
    encoder: ImageEncoderConfig = field(default_factory=lambda: CLIP_ENCODER)
    spatial_size: int | None = 128
    differences: bool = True
    cell: str = "lstm"
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.2
    num_frames: int = 16
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        check_clip_config(self)


class FrameRNN(ClipSequenceModel):
    """frames (B, T, 3, H, W) with lengths (B,) -> logits per frame (B, T, C)."""

    config: FrameRNNConfig

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Label every frame of a batch of clips.

        Args:
            batch: ``frames`` (B, T, 3, H, W) normalized, or precomputed frame ``features``
                (B, T, F); optional ``length`` (B,) real frames per clip (default: all T);
                ``frame_labels`` (B, T) class indices, :data:`IGNORE_LABEL` on padded frames.

        Returns:
            ``logits`` (B, T, C) (zeros' projection on padded frames: ignore them); with labels
            also ``loss`` (cross-entropy per real frame) and ``accuracy`` (over real frames).
        """
        lengths = batch.get("length")
        outputs, _ = self.read_frames(self.frame_features(batch), lengths)  # (B, T, D*H)
        logits = self.classifier(self.dropout(outputs))  # (B, T, C)
        result = {"logits": logits}
        if "frame_labels" in batch:
            labels = batch["frame_labels"]
            if lengths is not None:  # padded frames never count, whatever label the batch gives them
                labels = labels.masked_fill(~step_mask(lengths.to(labels.device), labels.shape[1]), IGNORE_LABEL)
            flat = logits.reshape(-1, logits.shape[-1])
            result["loss"] = F.cross_entropy(
                flat, labels.reshape(-1), ignore_index=IGNORE_LABEL, label_smoothing=self.config.label_smoothing
            )
            real = labels != IGNORE_LABEL
            correct = (logits.argmax(dim=2) == labels) & real
            result["accuracy"] = (correct.sum() / real.sum().clamp(min=1)).detach()
        return result


MODELS = Registry([ModelEntry("frame_rnn", "frames", FrameRNNConfig, FrameRNN)])
"""The frames task's registered models."""
