"""Action recognition: LRCN (Donahue et al. 2015), many-to-one over the frames of a clip.

``lrcn``: the clip classifiers' trunk (:class:`~multimodal_rnn.tasks.clip_models.ClipSequenceModel`):
every frame through the shared image encoder, the per-frame features through the shared recurrent
core (vanilla/GRU/LSTM, one or two directions), then one class for
the clip from the core's last state (``pooling="last"``: the forward core at the clip's last real
frame, and the backward core at its first) or from the mean of its outputs over the real frames
(``pooling="mean"``), through a linear classifier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from multimodal_rnn.encoders.clip import CLIP_ENCODER
from multimodal_rnn.encoders.image import ImageEncoderConfig
from multimodal_rnn.recurrent.bidirectional import masked_mean
from multimodal_rnn.registry import ModelEntry, Registry
from multimodal_rnn.tasks.clip_models import ClipSequenceModel, check_clip_config

POOLINGS = ("last", "mean")
FRAME_ORDERS = ("kept", "shuffled")


@dataclass(frozen=True, kw_only=True)
class LRCNConfig:
    """``lrcn``'s options.

    Attributes:
        num_classes: action classes (the checkpoint lists their names).
        encoder: the per-frame image encoder (default: :data:`~multimodal_rnn.encoders.clip.CLIP_ENCODER`).
        spatial_size: features per frame from the encoder's whole grid (where things are); None
            uses the grid mean (the encoder's feature size), which cannot see where things are.
        differences: the core also reads each frame's feature change since the previous frame.
        cell, hidden_size, num_layers: the recurrent core.
        bidirectional: a second core reads the frames backwards.
        pooling: "last" (the core's state after the clip) or "mean" (its outputs averaged over time).
        dropout: on the frame features and before the classifier.
        num_frames: frames sampled from each clip (training and inference).
        label_smoothing: epsilon of the cross-entropy.
        frame_order: "kept", or "shuffled" for the ablation that takes time away: the real frames
            of every clip are put in a random order before the core reads them (a new order at
            every training step; in eval mode the orders of a generator seeded with 0 at every
            call, so predictions repeat).
    """

    num_classes: int
    encoder: ImageEncoderConfig = field(default_factory=lambda: CLIP_ENCODER)
    spatial_size: int | None = 128
    differences: bool = True
    cell: str = "gru"
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = True
    pooling: str = "mean"
    dropout: float = 0.2
    num_frames: int = 16
    label_smoothing: float = 0.0
    frame_order: str = "kept"

    def __post_init__(self) -> None:
        check_clip_config(self, {"frame_order": FRAME_ORDERS, "pooling": POOLINGS})


class LRCN(ClipSequenceModel):
    """frames (B, T, 3, H, W) with lengths (B,) -> class logits (B, C); see the module docstring."""

    config: LRCNConfig

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Classify a batch of clips.

        Args:
            batch: ``frames`` (B, T, 3, H, W) normalized, or precomputed frame ``features``
                (B, T, F) of a frozen encoder; optional ``length`` (B,) real frames per clip
                (the rest is padding; default: all T); ``label`` (B,) class indices for the loss.

        Returns:
            ``logits`` (B, C); with labels also ``loss`` (cross-entropy, scalar) and ``accuracy``.
        """
        features = self.frame_features(batch)  # (B, T, F)
        lengths = batch.get("length")
        if self.config.frame_order == "shuffled":
            features = self._shuffled(features, lengths)
        outputs, last = self.read_frames(features, lengths)  # (B, T, D*H), (B, D*H)
        pooled = last if self.config.pooling == "last" else masked_mean(outputs, lengths)
        logits = self.classifier(self.dropout(pooled))  # (B, C)
        result = {"logits": logits}
        if "label" in batch:
            labels = batch["label"]
            result["loss"] = F.cross_entropy(logits, labels, label_smoothing=self.config.label_smoothing)
            result["accuracy"] = (logits.argmax(dim=1) == labels).float().mean().detach()
        return result

    def _shuffled(self, features: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """features (B, T, F) with each clip's real frames in a random order (padding stays last)."""
        generator = None if self.training else torch.Generator().manual_seed(0)
        steps = features.shape[1]
        counts = lengths.tolist() if lengths is not None else [steps] * features.shape[0]
        order = [torch.cat([torch.randperm(n, generator=generator), torch.arange(n, steps)]) for n in counts]
        index = torch.stack(order).to(features.device)  # (B, T)
        return features.gather(1, index[:, :, None].expand_as(features))


MODELS = Registry([ModelEntry("lrcn", "action", LRCNConfig, LRCN)])
"""The action task's registered models."""
