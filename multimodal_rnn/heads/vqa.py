"""Visual question answering heads: a question read by the shared core, fused with the image.

Two registered models share one config and one contract, ``forward(batch) -> {"loss", "logits"}``
(many-to-one: the whole question in, one distribution over the answer vocabulary out):

* ``lstm_q_norm_i`` (Antol et al. 2015, "deeper LSTM Q + norm I"): the question runs through
  the recurrent core (2 layers by default); its final state, all layers' h (and c for an LSTM)
  concatenated, and the pooled image feature (L2-normalized) are each projected to
  ``fusion_size`` with tanh, multiplied element-wise, and classified by an MLP
  (tanh hidden layer).
* ``saaa`` (Kazemi & Elqursh 2017, "Show, Ask, Attend and Answer"): the same question encoder;
  the grid features (L2-normalized per position) are attended ``glimpses`` times (>= 2)
  with the question as query (one :class:`~multimodal_rnn.recurrent.AdditiveAttention` per
  glimpse; the paper shares the first layer of its attention MLP and uses ReLU), and the
  glimpses concatenated with the question feed a ReLU MLP classifier. With
  ``grid_coordinates`` each grid position also carries its (x, y) centre in [-1, 1], so an
  attended feature says where it came from (a small CNN trained from scratch on 64x64 images
  does not encode position by itself; relations like "left of" need it).

Loss: ``bce`` is binary cross-entropy on the soft scores, summed over answers and averaged over
questions (Teney et al. 2018); ``softmax`` samples one answer per question with probability
proportional to its soft score and applies cross-entropy. The encoder lives inside the model,
so a checkpoint holds everything from pixels to answers. ``normalize_image`` switches the L2
normalization of both papers off (see :class:`VQAModelConfig`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from multimodal_rnn.encoders.image import EncodedImage, ImageEncoder, ImageEncoderConfig
from multimodal_rnn.errors import ConfigError
from multimodal_rnn.recurrent import AdditiveAttention, CoreConfig, RecurrentCore
from multimodal_rnn.registry import MODELS

LOSSES = ("bce", "softmax")


@dataclass(frozen=True, kw_only=True)
class VQAModelConfig:
    """Options of every VQA model (fields a model does not use are ignored by it).

    Attributes:
        num_words: question vocabulary size, special tokens included (``pad_id`` pads).
        num_answers: K, the classifier's outputs (the answer vocabulary).
        fusion_size: common size of the projected question and image (lstm_q_norm_i).
        classifier_size: hidden units of the answer classifier.
        attention_size: hidden units of each glimpse's attention (saaa).
        glimpses: attention maps per question (saaa; at least 2).
        grid_coordinates: append each grid position's (x, y) to its feature (saaa).
        normalize_image: L2-normalize the image features (the pooled one in lstm_q_norm_i, each
            grid position in saaa) as both papers do with pretrained CNN features; an encoder
            trained from scratch learns much faster without it (shapes world, saaa, 600 updates
            of 32 images: 75% against 47% validation accuracy).
        loss: ``bce`` (soft scores) or ``softmax`` (cross-entropy on a sampled answer).
        max_question_length: questions are cut to their first this-many words.
    """

    num_words: int
    num_answers: int
    encoder: ImageEncoderConfig = field(default_factory=ImageEncoderConfig)
    cell: str = "lstm"
    embed_size: int = 128
    hidden_size: int = 256
    num_layers: int = 2
    fusion_size: int = 512
    classifier_size: int = 512
    attention_size: int = 256
    glimpses: int = 2
    grid_coordinates: bool = True
    normalize_image: bool = True
    dropout: float = 0.2
    loss: str = "bce"
    pad_id: int = 0
    max_question_length: int = 30

    def __post_init__(self) -> None:
        if self.num_words < 2 or self.num_answers < 1:
            raise ConfigError(f"need num_words >= 2 and num_answers >= 1, got {self.num_words}, {self.num_answers}")
        if not 0 <= self.pad_id < self.num_words:
            raise ConfigError(f"pad_id must lie in [0, num_words={self.num_words})")
        if self.glimpses < 2:
            raise ConfigError(f"glimpses must be at least 2, got {self.glimpses}")
        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("dropout must lie in [0, 1)")
        if self.max_question_length < 1:
            raise ConfigError(f"max_question_length must be >= 1, got {self.max_question_length}")


class VQAModel(nn.Module):
    """Image encoder + question encoder + a fusion/classifier defined by :meth:`classify`.

    Attributes:
        question_size: Q, the size of the question feature (all layers' final state).
        attends: whether :meth:`classify` returns attention weights.
    """

    attends = False

    def __init__(self, config: VQAModelConfig, *, load_encoder_weights: bool = False) -> None:
        super().__init__()
        self.config = config
        self.encoder = ImageEncoder(config.encoder, load_weights=load_encoder_weights)
        self.embedding = nn.Embedding(config.num_words, config.embed_size, padding_idx=config.pad_id)
        self.core = RecurrentCore(CoreConfig(
            cell=config.cell, input_size=config.embed_size, hidden_size=config.hidden_size,
            num_layers=config.num_layers, dropout=config.dropout if config.num_layers > 1 else 0.0,
        ))
        self.dropout = nn.Dropout(config.dropout)
        self.question_size = len(self.core.state_size) * config.num_layers * config.hidden_size

    @property
    def feature_size(self) -> int:
        return self.encoder.feature_size

    def encode_image(self, images: torch.Tensor) -> EncodedImage:
        """images (I, 3, H, W), normalized -> grid (I, N, D) and pooled (I, D) features."""
        return self.encoder(images)

    def encode_question(self, question: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """question (B, T) word ids, lengths (B,) -> the core's final state, flattened (B, Q).

        Q = S * L * H: every layer's h (and c for an LSTM), the question summary of both papers.
        """
        embedded = self.dropout(self.embedding(question))  # (B, T, E)
        _, state = self.core(embedded, lengths=lengths)
        return torch.cat([part.flatten(1) for part in state], dim=1)  # (B, S * L * H)

    def classify(
        self, encoded: EncodedImage, image_index: torch.Tensor, question: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Answer logits (B, K) and attention weights (B, G, N) or None.

        ``image_index`` (B,) picks each question's row of ``encoded`` (I images).
        """
        raise NotImplementedError

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Answer a batch of questions.

        Args:
            batch: ``image`` (I, 3, H, W); ``question`` (B, T) and ``lengths`` (B,); optional
                ``image_index`` (B,) (default: question i is about image i); optional
                ``targets`` (B, K) soft scores, which add a ``loss``.

        Returns:
            ``logits`` (B, K); with targets ``loss`` (scalar); for attention models
            ``attention`` (B, G, N).
        """
        question = batch["question"]
        image_index = batch.get("image_index")
        if image_index is None:
            image_index = torch.arange(question.shape[0], device=question.device)
        question_features = self.encode_question(question, batch["lengths"])
        logits, attention = self.classify(self.encode_image(batch["image"]), image_index, question_features)
        result = {"logits": logits}
        if attention is not None:
            result["attention"] = attention
        if "targets" in batch:
            result["loss"] = self.loss(logits, batch["targets"])
        return result

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The configured loss of logits (B, K) against soft scores (B, K)."""
        if self.config.loss == "bce":
            per_answer = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")  # (B, K)
            return per_answer.sum(dim=1).mean()
        answered = targets.sum(dim=1) > 0  # rows with no answer in the vocabulary cannot be sampled
        if not bool(answered.any()):
            return logits.sum() * 0.0
        sampled = torch.multinomial(targets[answered], 1).squeeze(1)  # (B',)
        return F.cross_entropy(logits[answered], sampled)


class LSTMQNormI(VQAModel):
    """Deeper LSTM Q + norm I: tanh projections, element-wise product, MLP."""

    def __init__(self, config: VQAModelConfig, *, load_encoder_weights: bool = False) -> None:
        super().__init__(config, load_encoder_weights=load_encoder_weights)
        self.question_projection = nn.Linear(self.question_size, config.fusion_size)
        self.image_projection = nn.Linear(self.feature_size, config.fusion_size)
        self.classifier = nn.Sequential(
            nn.Dropout(config.dropout), nn.Linear(config.fusion_size, config.classifier_size), nn.Tanh(),
            nn.Dropout(config.dropout), nn.Linear(config.classifier_size, config.num_answers),
        )

    def classify(
        self, encoded: EncodedImage, image_index: torch.Tensor, question: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        pooled = F.normalize(encoded.pooled, dim=1) if self.config.normalize_image else encoded.pooled
        image = pooled[image_index]  # (B, D)
        fused = torch.tanh(self.question_projection(self.dropout(question))) * torch.tanh(self.image_projection(image))
        return self.classifier(fused), None


class ShowAskAttendAnswer(VQAModel):
    """Parallel attention glimpses over the grid, each conditioned on the question."""

    attends = True

    def __init__(self, config: VQAModelConfig, *, load_encoder_weights: bool = False) -> None:
        super().__init__(config, load_encoder_weights=load_encoder_weights)
        height, width = self.encoder.grid_shape
        self.position_size = 2 if config.grid_coordinates else 0
        ys, xs = torch.meshgrid(_centres(height), _centres(width), indexing="ij")
        self.register_buffer("coordinates", torch.stack([xs, ys], dim=-1).reshape(height * width, 2), persistent=False)
        size = self.feature_size + self.position_size
        self.glimpses = nn.ModuleList(
            AdditiveAttention(self.question_size, size, config.attention_size) for _ in range(config.glimpses)
        )
        self.classifier = nn.Sequential(
            nn.Dropout(config.dropout), nn.Linear(config.glimpses * size + self.question_size, config.classifier_size),
            nn.ReLU(), nn.Dropout(config.dropout), nn.Linear(config.classifier_size, config.num_answers),
        )

    def classify(
        self, encoded: EncodedImage, image_index: torch.Tensor, question: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
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


def _centres(cells: int) -> torch.Tensor:
    """Centres of ``cells`` equal cells spanning [-1, 1]."""
    return (torch.arange(cells, dtype=torch.float32) + 0.5) / cells * 2.0 - 1.0


VQA_MODELS: dict[str, type[VQAModel]] = {
    "lstm_q_norm_i": LSTMQNormI,
    "saaa": ShowAskAttendAnswer,
}

for _name, _cls in VQA_MODELS.items():
    MODELS.register(_name, task="vqa", config_class=VQAModelConfig)(
        lambda config, _cls=_cls, **context: _cls(config, **context)
    )
