"""Visual question answering heads: a question read by the shared core, fused with the image.

Four registered models share one config and one contract, ``forward(batch) -> {"loss", "logits"}``
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
* ``saaa_rel``: SAAA made to compare and count objects. Each glimpse first attends over the
  question's words (scored from the core's outputs and the word embeddings, with a learned
  preference for early or late words, initialized to -3 for the first glimpse and +3 for the
  last) and queries the image with what it read: by default the attended word embeddings,
  a bag of its words free of what the core read before them (``glimpse_query="outputs"``
  takes the attended outputs instead). So one glimpse can look for "the circle" and another
  for "the red square" of "is the circle to the left of the red square?". Each glimpse's
  (x, y) (the attention-weighted cell centres) is compared with the others' by explicit
  differences and by soft spatial comparisons of every ordered pair of attention maps (the
  probability that a cell drawn from map i lies left of, right of, above or below a cell drawn
  from map j: alpha_i^T M_r alpha_j with fixed 0/1 cell-order matrices M_r, ties counting one
  half), weighed by which relation the question asks into one "relation holds" score per
  ordered pair. Each glimpse also reports its unnormalized attention mass (the sum of sigmoid
  scores over the grid, a count-like signal a softmax discards; Zhang et al. 2018) and, from
  its own per-cell "an object is here" scores, the exact distribution of its object count
  P(count = c), c = 0..9 (:func:`count_distribution`). Contexts, masses, differences,
  comparisons and the question feed the classifier. Two direct paths (``relation_path``,
  ``count_path``, on by default) add to the logits a linear map of the outer product of a
  question projection z (``path_size``) with the centred comparisons (minus 1/2) and with the
  count distributions. The map starts at zero and is linear in its weights, so "the question
  asks 'left of', the maps say left: yes" and "the question asks a count, the glimpse says 3:
  '3'" are first-order facts for it, where the classifier's hidden layer must first discover
  the product. On the shapes world this is the difference between 46 minutes of training in
  four stages (98.9% on test) and one run of 14 minutes (99.6%; see ``weights/README.md``).
* ``film`` (Perez et al. 2018, "FiLM: Visual Reasoning with a General Conditioning Layer"):
  the same question encoder predicts a scale and shift per channel for each of
  ``film_blocks`` residual blocks that process the image's grid (plus two coordinate maps
  before every block); a 1x1 convolution, a global max-pool and an MLP give the answer. The
  question steers the convolutions themselves, so relations between two objects ("is the
  circle to the left of the red square?") and counts are computed on the feature maps rather
  than read off one or two attention averages. (Untuned here: with the defaults and lr 2e-3 it
  stayed at chance for its first 3 epochs on the shapes world, where ``saaa_rel`` learns.)

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
from multimodal_rnn.registry import ModelEntry, Registry

LOSSES = ("bce", "softmax")
COUNT_BINS = 10  # counts 0, 1, ..., 9 (and more, in the last bin) in the direct count path


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
        film_blocks: FiLM residual blocks (film).
        film_size: channels of the FiLM blocks and of the final 1x1 convolution (film).
        glimpse_query: what a glimpse's image query is made of (saaa_rel): ``outputs``, the
            attended outputs of the core, or ``embeddings``, the attended word embeddings.
        relation_path: add a direct, question-gated path from the glimpses' spatial comparisons
            to the answer logits (saaa_rel; see :class:`RelationalSAAA`).
        count_path: the same for each glimpse's count distribution (saaa_rel).
        path_size: size of the question projection that gates the direct paths.
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
    film_blocks: int = 3
    film_size: int = 64
    glimpse_query: str = "embeddings"
    relation_path: bool = True
    count_path: bool = True
    path_size: int = 32

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
        if self.glimpse_query not in ("outputs", "embeddings"):
            raise ConfigError(f"glimpse_query must be outputs or embeddings, got {self.glimpse_query!r}")
        if self.path_size < 1:
            raise ConfigError(f"path_size must be >= 1, got {self.path_size}")
        if self.film_blocks < 1 or self.film_size < 1:
            raise ConfigError(f"need film_blocks >= 1 and film_size >= 1, got {self.film_blocks}, {self.film_size}")


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
        self, encoded: EncodedImage, image_index: torch.Tensor, features: QuestionFeatures
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        question = features.summary  # (B, Q)
        pooled = F.normalize(encoded.pooled, dim=1) if self.config.normalize_image else encoded.pooled
        image = pooled[image_index]  # (B, D)
        fused = torch.tanh(self.question_projection(self.dropout(question))) * torch.tanh(self.image_projection(image))
        return self.classifier(fused), None


class ShowAskAttendAnswer(VQAModel):
    """Parallel attention glimpses over the grid, each conditioned on the question."""

    attends = True

    def __init__(self, config: VQAModelConfig, *, load_encoder_weights: bool = False) -> None:
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


class RelationalSAAA(VQAModel):
    """SAAA with per-glimpse question-word attention, glimpse position differences and counts."""

    attends = True

    def __init__(self, config: VQAModelConfig, *, load_encoder_weights: bool = False) -> None:
        super().__init__(config, load_encoder_weights=load_encoder_weights)
        self.register_buffer("orders", _cell_orders(self.coordinates), persistent=False)  # (4, N, N)
        size, hidden, glimpses = self.feature_size + 2, config.hidden_size, config.glimpses
        by_embeddings = config.glimpse_query == "embeddings"
        word_size = hidden + config.embed_size if by_embeddings else hidden
        self.word_attention = nn.ModuleList(
            AdditiveAttention(self.question_size, word_size, config.attention_size) for _ in range(glimpses)
        )
        query_size = config.embed_size if by_embeddings else hidden
        self.feature_projection = nn.ModuleList(nn.Linear(size, config.attention_size) for _ in range(glimpses))
        self.query_projection = nn.ModuleList(
            nn.Linear(query_size, config.attention_size, bias=False) for _ in range(glimpses)
        )
        self.score = nn.ModuleList(nn.Linear(config.attention_size, 1) for _ in range(glimpses))
        # Glimpse g's preference for early (< 0) or late (> 0) words, from -3 to 3: a learned prior
        # that lets the first glimpse start on the subject and the last on the reference.
        self.word_order = nn.Parameter(torch.linspace(-3.0, 3.0, glimpses))
        pairs = glimpses * (glimpses - 1) // 2
        # Which of the 4 relations the question asks about, to weigh each pair's comparisons into
        # one "relation holds" probability per ordered pair.
        self.relation_choice = nn.Linear(self.question_size, len(self.orders))
        inputs = glimpses * (size + 1) + 2 * pairs + 2 * pairs * (len(self.orders) + 1) + self.question_size
        self.classifier = relu_classifier(inputs, config)
        # Direct paths: logits += W (z outer features), z a projection of the question. Linear in W
        # given the features, so "left of + the comparison says left -> yes" is learned at once
        # instead of waiting for the classifier's hidden layer to find the product.
        paths = (2 * pairs * len(self.orders) if config.relation_path else 0) + (glimpses * COUNT_BINS if config.count_path else 0)
        self.path_query = nn.Linear(self.question_size, config.path_size) if paths else None
        self.path_answers = nn.Linear(config.path_size * paths, config.num_answers, bias=False) if paths else None
        if self.path_answers is not None:
            nn.init.zeros_(self.path_answers.weight)
        # The count path's own per-cell scores (on the glimpse's hidden layer), biased to -4 so that
        # each cell starts as an object with probability sigmoid(-4) = 0.018 and the count near 1.
        self.count_score = nn.ModuleList(nn.Linear(config.attention_size, 1) for _ in range(glimpses)) if config.count_path else None
        for layer in self.count_score or ():
            nn.init.constant_(layer.bias, -4.0)

    def classify(
        self, encoded: EncodedImage, image_index: torch.Tensor, features: QuestionFeatures
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        question = features.summary  # (B, Q)
        words, word_mask = features.words, features.mask  # (B, T, H), (B, T)
        grid = F.normalize(encoded.grid, dim=2) if self.config.normalize_image else encoded.grid  # (I, N, D)
        coordinates = self.coordinates.to(grid.dtype)  # (N, 2)
        images = torch.cat([grid, coordinates.expand(grid.shape[0], -1, -1)], dim=2)  # (I, N, D + 2)
        grid = images[image_index]  # (B, N, D + 2)
        question = self.dropout(question)
        contexts, masses, counts, positions, weights = [], [], [], [], []
        lengths = word_mask.sum(dim=1, keepdim=True).clamp(min=2)  # (B, 1)
        order = 2.0 * torch.arange(words.shape[1], device=words.device)[None, :] / (lengths - 1) - 1.0  # (B, T) in [-1, 1]
        for g in range(len(self.score)):
            focus = self._read_words(g, features, question, order)  # (B, H) or (B, E)
            query = self.query_projection[g](focus)[:, None, :]  # (B, 1, A): the glimpse looks for its words only
            projected = self.feature_projection[g](images)[image_index]  # (B, N, A), projected once per image
            hidden = torch.tanh(projected + query)  # (B, N, A)
            scores = self.score[g](hidden).squeeze(2)  # (B, N)
            attention = torch.softmax(scores, dim=1)
            contexts.append(torch.bmm(attention[:, None, :], grid).squeeze(1))  # (B, D + 2)
            masses.append(torch.sigmoid(scores).sum(dim=1, keepdim=True))  # (B, 1)
            if self.count_score is not None:
                counts.append(count_distribution(torch.sigmoid(self.count_score[g](hidden).squeeze(2)), COUNT_BINS))
            positions.append(attention @ coordinates)  # (B, 2)
            weights.append(attention)
        pairs = [(i, j) for i in range(len(weights)) for j in range(len(weights)) if i != j]
        differences = [positions[i] - positions[j] for i, j in pairs if i < j]  # (B, 2) each
        # P(cell of map i <relation> cell of map j) for the 4 relations: (B, 4) per ordered pair
        comparisons = [torch.einsum("bn,rnm,bm->br", weights[i], self.orders.to(grid.dtype), weights[j]) for i, j in pairs]
        choice = torch.softmax(self.relation_choice(question), dim=1)  # (B, 4)
        holds = [4.0 * ((choice * comparison).sum(dim=1, keepdim=True) - 0.5) for comparison in comparisons]  # (B, 1)
        inputs = torch.cat([*contexts, *masses, *differences, *comparisons, *holds, question], dim=1)
        logits = self.classifier(inputs)  # (B, K)
        if self.path_answers is not None:
            paths = []
            if self.config.relation_path:
                paths.append(torch.cat(comparisons, dim=1) - 0.5)  # (B, P * 4): 0 where nothing is known
            if self.config.count_path:
                paths.append(torch.cat(counts, dim=1))  # (B, G * C)
            gate = self.path_query(question)  # (B, Z)
            logits = logits + self.path_answers((gate[:, :, None] * torch.cat(paths, dim=1)[:, None, :]).flatten(1))
        return logits, torch.stack(weights, dim=1)  # (B, G, N)


    def _read_words(self, g: int, features: QuestionFeatures, question: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
        """Glimpse g's attention over the words -> its question focus (B, H), or (B, E) by embeddings.

        Additive attention with the (dropped-out) question summary (B, Q) as query plus
        ``word_order[g] * order`` (B, T), order being each word's relative position in [-1, 1].
        With ``glimpse_query="embeddings"`` the scores see each word's output and embedding and
        the focus is the attended embeddings: a bag of the glimpse's words, free of what the
        core read before them (a late glimpse's "red square" then carries no trace of the
        earlier "circle").
        """
        attention, mask = self.word_attention[g], features.mask
        by_embeddings = self.config.glimpse_query == "embeddings"
        keys = torch.cat([features.words, features.embeddings], dim=2) if by_embeddings else features.words
        scores = attention.score(torch.tanh(attention.feature_projection(keys)
                                            + attention.query_projection(question)[:, None, :])).squeeze(2)  # (B, T)
        scores = (scores + self.word_order[g] * order).masked_fill(~mask, torch.finfo(scores.dtype).min)
        values = features.embeddings if by_embeddings else features.words
        return torch.bmm(torch.softmax(scores, dim=1)[:, None, :], values).squeeze(1)


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

    def __init__(self, config: VQAModelConfig, *, load_encoder_weights: bool = False) -> None:
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


def relu_classifier(inputs: int, config: VQAModelConfig) -> nn.Sequential:
    """Dropout, Linear(inputs -> classifier_size), ReLU, dropout, Linear(-> num_answers): (B, inputs) -> (B, K)."""
    return nn.Sequential(
        nn.Dropout(config.dropout), nn.Linear(inputs, config.classifier_size), nn.ReLU(),
        nn.Dropout(config.dropout), nn.Linear(config.classifier_size, config.num_answers),
    )


def count_distribution(probabilities: torch.Tensor, bins: int) -> torch.Tensor:
    """P(count = c) for c = 0 .. bins - 1 (the last bin: c >= bins - 1) of independent cells.

    ``probabilities`` (B, N): each cell's probability of holding an object. The count is their
    Poisson-binomial sum, computed exactly one cell at a time; returns (B, bins), rows summing
    to 1. Unlike a bump around the expected count, every bin keeps a gradient while the cells
    are uncertain, so a count of 2 learns to become 3.
    """
    if bins < 2:
        raise ValueError(f"count_distribution needs at least 2 bins, got {bins}")
    distribution = F.one_hot(torch.zeros(probabilities.shape[0], dtype=torch.long, device=probabilities.device), bins)
    distribution = distribution.to(probabilities.dtype)  # (B, bins): count 0 before any cell
    for cell in probabilities.unbind(dim=1):  # (B,)
        p = cell[:, None]
        # one more object: c -> c + 1, and the last bin keeps everything at or above it
        shifted = torch.cat([torch.zeros_like(p), distribution[:, :-2], distribution[:, -2:].sum(dim=1, keepdim=True)], dim=1)
        distribution = distribution * (1.0 - p) + shifted * p
    return distribution


def _cell_orders(coordinates: torch.Tensor) -> torch.Tensor:
    """(4, N, N) matrices M_r[i, j] = 1 when cell i is left of / right of / above / below cell j, 1/2 on ties.

    ``coordinates`` (N, 2) are cell centres (x right, y down).
    """
    x, y = coordinates[:, 0], coordinates[:, 1]

    def before(a: torch.Tensor) -> torch.Tensor:
        return (a[:, None] < a[None, :]).float() + 0.5 * (a[:, None] == a[None, :]).float()

    return torch.stack([before(x), before(x).T, before(y), before(y).T])


def _centres(cells: int) -> torch.Tensor:
    """Centres of ``cells`` equal cells spanning [-1, 1]."""
    return (torch.arange(cells, dtype=torch.float32) + 0.5) / cells * 2.0 - 1.0


VQA_MODELS: dict[str, type[VQAModel]] = {
    "lstm_q_norm_i": LSTMQNormI,
    "saaa": ShowAskAttendAnswer,
    "saaa_rel": RelationalSAAA,
    "film": FiLMNet,
}

MODELS = Registry(ModelEntry(name, "vqa", VQAModelConfig, cls) for name, cls in VQA_MODELS.items())
"""The VQA task's registered models."""
