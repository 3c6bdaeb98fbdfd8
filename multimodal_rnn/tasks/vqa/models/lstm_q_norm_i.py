"""``lstm_q_norm_i`` (Antol et al. 2015, "deeper LSTM Q + norm I").

The question runs through the recurrent core (2 layers by default); its final state, all
layers' h (and c for an LSTM) concatenated, and the pooled image feature (L2-normalized for a pretrained encoder) are
each projected to ``fusion_size`` with tanh, multiplied element-wise, and classified by an MLP
(tanh hidden layer).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from multimodal_rnn.encoders.image import EncodedImage
from multimodal_rnn.tasks.vqa.models.base import QuestionFeatures, VQAModel, VQAModelConfig, resolve_normalize_image


@dataclass(frozen=True, kw_only=True)
class LSTMQNormIConfig(VQAModelConfig):
    """The options of ``lstm_q_norm_i``.

    Attributes:
        fusion_size: common size of the projected question and image.
        normalize_image: L2-normalize the pooled image feature, as the paper does with
            pretrained CNN features; None (the default) resolves to whether the encoder starts
            from pretrained ``weights`` (:func:`~multimodal_rnn.tasks.vqa.models.base.resolve_normalize_image`).
    """

    fusion_size: int = 512
    normalize_image: bool | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        resolve_normalize_image(self)


class LSTMQNormI(VQAModel):
    """Deeper LSTM Q + norm I: tanh projections, element-wise product, MLP."""

    config: LSTMQNormIConfig

    def __init__(self, config: LSTMQNormIConfig, *, load_encoder_weights: bool = False) -> None:
        super().__init__(config, load_encoder_weights=load_encoder_weights)
        self.question_projection = nn.Linear(self.question_size, config.fusion_size)
        self.image_projection = nn.Linear(self.feature_size, config.fusion_size)
        self.classifier = nn.Sequential(
            nn.Dropout(config.dropout), nn.Linear(config.fusion_size, config.classifier_size), nn.Tanh(),
            nn.Dropout(config.dropout), nn.Linear(config.classifier_size, config.num_answers),
        )

    def classify(
        self, encoded: EncodedImage, image_index: torch.Tensor, features: QuestionFeatures
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        question = features.summary  # (B, Q)
        pooled = F.normalize(encoded.pooled, dim=1) if self.config.normalize_image else encoded.pooled
        image = pooled[image_index]  # (B, D)
        fused = torch.tanh(self.question_projection(self.dropout(question))) * torch.tanh(self.image_projection(image))
        return self.classifier(fused), None
