"""``film`` (Perez et al. 2018, "FiLM: Visual Reasoning with a General Conditioning Layer").

The question encoder of :class:`~multimodal_rnn.tasks.vqa.models.base.VQAModel` predicts a scale
and shift per channel for each of ``film_blocks`` residual blocks that process the image's grid
(plus two coordinate maps before every block); a 1x1 convolution, a global max-pool and an MLP
give the answer. The question steers the convolutions themselves, so relations between two
objects ("is the circle to the left of the red square?") and counts are computed on the feature
maps rather than read off one or two attention averages. (Untuned here: with the defaults and
lr 2e-3 it stayed at chance for its first 3 epochs on the shapes world, where ``saaa_rel``
learns.) The grid features are used as they come (no L2 normalization).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from multimodal_rnn.encoders.image import EncodedImage
from multimodal_rnn.errors import ConfigError
from multimodal_rnn.tasks.vqa.models.base import QuestionFeatures, VQAModel, VQAModelConfig, relu_classifier


@dataclass(frozen=True, kw_only=True)
class FiLMConfig(VQAModelConfig):
    """The options of ``film``.

    Attributes:
        film_blocks: FiLM residual blocks.
        film_size: channels of the FiLM blocks and of the final 1x1 convolution.
    """

    film_blocks: int = 3
    film_size: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.film_blocks < 1 or self.film_size < 1:
            raise ConfigError(f"need film_blocks >= 1 and film_size >= 1, got {self.film_blocks}, {self.film_size}")


class FiLMBlock(nn.Module):
    """FiLM's residual block: 1x1 conv + ReLU, then 3x3 conv, BatchNorm without affine, FiLM, ReLU, plus the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.project = nn.Conv2d(channels + 2, channels, 1)
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(channels, affine=False)

    def forward(self, x: torch.Tensor, coordinates: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """x (B, C, h, w), coordinates (B, 2, h, w), gamma and beta (B, C) -> (B, C, h, w)."""
        x = F.relu(self.project(torch.cat([x, coordinates], dim=1)))
        modulated = gamma[:, :, None, None] * self.norm(self.conv(x)) + beta[:, :, None, None]
        return x + F.relu(modulated)


class FiLMNet(VQAModel):
    """Question-conditioned residual blocks over the image grid, then max-pool and an MLP."""

    config: FiLMConfig

    def __init__(self, config: FiLMConfig, *, load_encoder_weights: bool = False) -> None:
        super().__init__(config, load_encoder_weights=load_encoder_weights)
        size = config.film_size
        self.stem = nn.Sequential(nn.Conv2d(self.feature_size + 2, size, 3, padding=1), nn.BatchNorm2d(size), nn.ReLU())
        self.blocks = nn.ModuleList(FiLMBlock(size) for _ in range(config.film_blocks))
        self.film = nn.Linear(self.question_size, 2 * size * config.film_blocks)
        self.head = nn.Sequential(nn.Conv2d(size + 2, size, 1), nn.BatchNorm2d(size), nn.ReLU())
        self.classifier = relu_classifier(size, config)

    def classify(
        self, encoded: EncodedImage, image_index: torch.Tensor, features: QuestionFeatures
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        question = features.summary  # (B, Q)
        height, width = self.encoder.grid_shape
        grid = encoded.grid.transpose(1, 2).reshape(encoded.grid.shape[0], -1, height, width)  # (I, D, h, w)
        coordinates = self.coordinates.to(grid.dtype).T.reshape(1, 2, height, width).expand(grid.shape[0], -1, -1, -1)  # (I, 2, h, w)
        x = self.stem(torch.cat([grid, coordinates], dim=1))[image_index]  # (B, C, h, w)
        coordinates = coordinates[:1].expand(x.shape[0], -1, -1, -1)  # (B, 2, h, w)
        # FiLM's parameterization: gamma = 1 + prediction, so an untrained block starts near identity.
        film = self.film(self.dropout(question)).view(x.shape[0], len(self.blocks), 2, -1)  # (B, blocks, 2, C)
        for index, block in enumerate(self.blocks):
            x = block(x, coordinates, 1.0 + film[:, index, 0], film[:, index, 1])
        pooled = self.head(torch.cat([x, coordinates], dim=1)).amax(dim=(2, 3))  # (B, C)
        return self.classifier(pooled), None
