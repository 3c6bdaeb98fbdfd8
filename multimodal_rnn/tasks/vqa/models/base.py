"""What every VQA model shares: the common config, the question encoder and the many-to-one contract.

A VQA model reads the question with the shared recurrent core, encodes the image with its
:class:`~multimodal_rnn.encoders.image.ImageEncoder`, and a fusion/classifier of its own
(:meth:`VQAModel.classify`) turns both into one distribution over the answer vocabulary:
``forward(batch) -> {"logits", "loss"?, "attention"?}``.

Loss: ``bce`` is binary cross-entropy on the soft scores, summed over answers and averaged over
questions (Teney et al. 2018); ``softmax`` samples one answer per question with probability
proportional to its soft score and applies cross-entropy. The encoder lives inside the model,
so a checkpoint holds everything from pixels to answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from multimodal_rnn.encoders.image import EncodedImage, ImageEncoder, ImageEncoderConfig
from multimodal_rnn.errors import ConfigError
from multimodal_rnn.recurrent import CoreConfig, RecurrentCore

LOSSES = ("bce", "softmax")


@dataclass(frozen=True, kw_only=True)
class VQAModelConfig:
    """The options every VQA model has; each model's config (a subclass) adds its own.

    Attributes:
        num_words: question vocabulary size, special tokens included (``pad_id`` pads).
        num_answers: K, the classifier's outputs (the answer vocabulary).
        encoder: the image encoder.
        cell, embed_size, hidden_size, num_layers: the question's recurrent core.
        classifier_size: hidden units of the answer classifier.
        dropout: on the word embeddings, between core layers, on the question feature and in
            the classifier.
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
    classifier_size: int = 512
    dropout: float = 0.2
    loss: str = "bce"
    pad_id: int = 0
    max_question_length: int = 30

    def __post_init__(self) -> None:
        if self.num_words < 2 or self.num_answers < 1:
            raise ConfigError(f"need num_words >= 2 and num_answers >= 1, got {self.num_words}, {self.num_answers}")
        if not 0 <= self.pad_id < self.num_words:
            raise ConfigError(f"pad_id must lie in [0, num_words={self.num_words})")
        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("dropout must lie in [0, 1)")
        if self.max_question_length < 1:
            raise ConfigError(f"max_question_length must be >= 1, got {self.max_question_length}")


@dataclass(frozen=True, kw_only=True)
class GlimpseConfig(VQAModelConfig):
    """The options of the models that attend over the image grid with several glimpses.

    Attributes:
        attention_size: hidden units of each glimpse's attention.
        glimpses: attention maps per question (at least 2).
        normalize_image: L2-normalize each grid position's feature, as both papers do with
            pretrained CNN features. None (the default) resolves to whether the encoder starts
            from pretrained ``weights`` (:func:`resolve_normalize_image`).
    """

    attention_size: int = 256
    glimpses: int = 2
    normalize_image: bool | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        resolve_normalize_image(self)
        if self.glimpses < 2:
            raise ConfigError(f"glimpses must be at least 2, got {self.glimpses}")


def resolve_normalize_image(config: Any) -> None:
    """Set a config's ``normalize_image`` of None to ``encoder.weights is not None``, in place.

    L2-normalizing image features suits a pretrained CNN (both papers) but not an encoder trained
    from scratch: every grid cell, the empty background too, becomes a unit vector, so a cell's
    magnitude no longer says "something is here" and textured backgrounds weigh as much as the
    objects. Measured (``docs/foreign_data.md``): on foreign pictures the default saaa stalled
    with its yes/no answers at the answer prior; on the shapes world, saaa after 600 updates of
    32 images reached 47% validation accuracy with it against 75% without. The resolved value is
    stored, so a checkpoint keeps what it was trained with.
    """
    if config.normalize_image is None:
        object.__setattr__(config, "normalize_image", config.encoder.weights is not None)


@dataclass(frozen=True)
class QuestionFeatures:
    """What the question encoder gives a fusion: ``summary`` (B, Q); the core's outputs ``words``
    (B, T, H), the word ``embeddings`` (B, T, E) and their ``mask`` (B, T)."""

    summary: torch.Tensor
    words: torch.Tensor
    embeddings: torch.Tensor
    mask: torch.Tensor


class VQAModel(nn.Module):
    """Image encoder + question encoder + a fusion/classifier defined by :meth:`classify`.

    Attributes:
        question_size: Q, the size of the question feature (all layers' final state).
        attends: whether :meth:`classify` returns attention weights.
    """

    attends = False
    coordinates: torch.Tensor  # (N, 2) buffer

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
        height, width = self.encoder.grid_shape
        ys, xs = torch.meshgrid(_centres(height), _centres(width), indexing="ij")
        # (N, 2): each grid position's (x, y) centre in [-1, 1], row-major like the grid features
        self.register_buffer("coordinates", torch.stack([xs, ys], dim=-1).reshape(height * width, 2), persistent=False)

    @property
    def feature_size(self) -> int:
        return self.encoder.feature_size

    def encode_image(self, images: torch.Tensor) -> EncodedImage:
        """images (I, 3, H, W), normalized -> grid (I, N, D) and pooled (I, D) features."""
        return self.encoder(images)

    def encode_question(self, question: torch.Tensor, lengths: torch.Tensor) -> QuestionFeatures:
        """question (B, T) word ids, lengths (B,) -> the core's final state and its outputs.

        The summary (B, Q), Q = S * L * H: every layer's h (and c for an LSTM), the question
        feature of both papers; the top layer's outputs (B, T, H) and their mask (B, T) for
        models that attend over the words.
        """
        embedded = self.dropout(self.embedding(question))  # (B, T, E)
        outputs, state = self.core(embedded, lengths=lengths)
        mask = torch.arange(question.shape[1], device=question.device)[None, :] < lengths.to(question.device)[:, None]
        summary = torch.cat([part.flatten(1) for part in state], dim=1)  # (B, S * L * H)
        return QuestionFeatures(summary=summary, words=outputs, embeddings=embedded, mask=mask)

    def classify(
        self, encoded: EncodedImage, image_index: torch.Tensor, question: QuestionFeatures
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


def relu_classifier(inputs: int, config: VQAModelConfig) -> nn.Sequential:
    """Dropout, Linear(inputs -> classifier_size), ReLU, dropout, Linear(-> num_answers): (B, inputs) -> (B, K)."""
    return nn.Sequential(
        nn.Dropout(config.dropout), nn.Linear(inputs, config.classifier_size), nn.ReLU(),
        nn.Dropout(config.dropout), nn.Linear(config.classifier_size, config.num_answers),
    )


def _centres(cells: int) -> torch.Tensor:
    """Centres of ``cells`` equal cells spanning [-1, 1]."""
    return (torch.arange(cells, dtype=torch.float32) + 0.5) / cells * 2.0 - 1.0
