"""``saaa`` (Kazemi & Elqursh 2017, "Show, Ask, Attend and Answer").

The question encoder of :class:`~multimodal_rnn.tasks.vqa.models.base.VQAModel`; the grid
features (L2-normalized per position when the encoder is pretrained) are attended ``glimpses``
times (>= 2) with the question as query (one :class:`~multimodal_rnn.recurrent.AdditiveAttention`
per glimpse; the paper shares the first layer of its attention MLP and uses ReLU), and the
glimpses concatenated with the question feed a ReLU MLP classifier. With ``grid_coordinates``
each grid position also carries its (x, y) centre in [-1, 1], so an attended feature says where
it came from (a small CNN trained from scratch on 64x64 images does not encode position by
itself; relations like "left of" need it).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from multimodal_rnn.encoders.image import EncodedImage
from multimodal_rnn.recurrent import AdditiveAttention
from multimodal_rnn.tasks.vqa.models.base import GlimpseConfig, QuestionFeatures, VQAModel, relu_classifier


@dataclass(frozen=True, kw_only=True)
class SAAAConfig(GlimpseConfig):
    """The options of ``saaa``.

    Attributes:
        grid_coordinates: append each grid position's (x, y) to its feature.
    """

    grid_coordinates: bool = True


class ShowAskAttendAnswer(VQAModel):
    """Parallel attention glimpses over the grid, each conditioned on the question."""

    attends = True
    config: SAAAConfig

    def __init__(self, config: SAAAConfig, *, load_encoder_weights: bool = False) -> None:
        super().__init__(config, load_encoder_weights=load_encoder_weights)
        self.position_size = 2 if config.grid_coordinates else 0
        size = self.feature_size + self.position_size
        self.glimpses = nn.ModuleList(
            AdditiveAttention(self.question_size, size, config.attention_size) for _ in range(config.glimpses)
        )
        self.classifier = relu_classifier(config.glimpses * size + self.question_size, config)

    def classify(
        self, encoded: EncodedImage, image_index: torch.Tensor, features: QuestionFeatures
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        question = features.summary  # (B, Q)
        grid = F.normalize(encoded.grid, dim=2) if self.config.normalize_image else encoded.grid  # (I, N, D)
        if self.position_size:
            coordinates = self.coordinates.to(grid.dtype).expand(grid.shape[0], -1, -1)  # (I, N, 2)
            grid = torch.cat([grid, coordinates], dim=2)  # (I, N, D + 2)
        grid = grid[image_index]  # (B, N, D')
        question = self.dropout(question)
        contexts, weights = [], []
        for glimpse in self.glimpses:
            context, attention = glimpse(grid, question)  # (B, D'), (B, N)
            contexts.append(context)
            weights.append(attention)
        logits = self.classifier(torch.cat([*contexts, question], dim=1))  # (B, K)
        return logits, torch.stack(weights, dim=1)  # (B, G, N)
