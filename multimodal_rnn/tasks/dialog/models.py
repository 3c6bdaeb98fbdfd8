"""Visual dialog heads: an encoder of (image, question, history) and a decoder that ranks 100 answers.

Encoders (Das et al. 2017, "Visual Dialog"), both producing one vector per round (D, R, H):

* **late fusion** (``lf_*``): the question and the history (caption + previous question-answer
  pairs, concatenated) each run through their own recurrent core; their final top-layer states
  and the image feature are concatenated and fused by a linear layer with tanh;
* **hierarchical recurrent encoder** (``hre_*``): each history fact (the caption, then one
  question-answer pair per round) runs through a fact core; a dialog-level core then reads, at
  round r, the fusion of the image, question r and fact r (the most recent one), so its output at
  r has seen the whole history in order.

The image feature is question-guided attention over the grid features (each position carrying
its (x, y) centre in [-1, 1], so "to the left of" can be told apart), queried by the question
and the history; with ``attend_image=False`` it is the pooled feature, as in the paper.

Decoders:

* **discriminative** (``*_disc``): each distinct answer of the batch is read by an answer core
  once; a round's score of option k is the dot product of the round's encoding with option k's
  final state; trained with cross-entropy over the 100 options;
* **generative** (``*_gen``): a language model whose initial state comes from the round's
  encoding; options are scored by their log-likelihood (sum over their words and ``<eos>``), it
  is trained on the ground-truth answer and generates free answers through :meth:`step`
  (``step(tokens, state, context) -> (logprobs, state)``, the contract of :mod:`multimodal_rnn.decoding`;
  the round's encoding only sets the initial state, so the static context is empty).

Each registered model has its own config class (:class:`LFDiscConfig`, :class:`HREDiscConfig`,
:class:`LFGenConfig`, :class:`HREGenConfig`) on the shared :class:`DialogModelConfig`; only the
generative ones (:class:`GenerativeDialogConfig`) take ``max_answer_length``, so an override a
model does not use is an error naming the model and the key.

Every recurrent part is a :class:`~multimodal_rnn.recurrent.RecurrentCore`; the word embedding
is shared by questions, history and answers. Batches are
:func:`~multimodal_rnn.datasets.visdial_batches.collate_visdial`'s.
"""

from __future__ import annotations

import functools

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from multimodal_rnn.encoders.image import ImageEncoder, ImageEncoderConfig
from multimodal_rnn.errors import ConfigError
from multimodal_rnn.recurrent import AdditiveAttention, CoreConfig, RecurrentCore
from multimodal_rnn.registry import ModelEntry, Registry, drop_retired_defaults
from multimodal_rnn.text.vocab import check_special_ids

HISTORY_ENCODERS = ("late_fusion", "hierarchical")
DECODERS = ("discriminative", "generative")
DialogState = dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class DialogModelConfig:
    """Options every dialog model uses (the base of the four models' configs).

    Attributes:
        num_words: vocabulary size, special tokens included; ``pad_id``/``bos_id``/``eos_id``
            come from the vocabulary and must be distinct.
        embed_size: word embedding size.
        hidden_size: H, every core's hidden size and the size of a round's encoding.
        attention_size: hidden units of the image attention.
        attend_image: question-guided attention over the grid (else the pooled feature).
    """

    num_words: int
    encoder: ImageEncoderConfig = field(default_factory=ImageEncoderConfig)
    cell: str = "lstm"
    embed_size: int = 128
    hidden_size: int = 256
    num_layers: int = 1
    attention_size: int = 128
    attend_image: bool = True
    dropout: float = 0.1
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2

    def __post_init__(self) -> None:
        check_special_ids(self.pad_id, self.bos_id, self.eos_id, self.num_words, size_name="num_words")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must lie in [0, 1), got {self.dropout}")


@dataclass(frozen=True, kw_only=True)
class GenerativeDialogConfig(DialogModelConfig):
    """Options of the generative models: the shared ones and the length of generated answers.

    Attributes:
        max_answer_length: generated answers stop after this many tokens (eos included).
    """

    max_answer_length: int = 12

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_answer_length < 1:
            raise ConfigError(f"max_answer_length must be >= 1, got {self.max_answer_length}")


@dataclass(frozen=True, kw_only=True)
class LFDiscConfig(DialogModelConfig):
    """``lf_disc``: late fusion encoder, discriminative decoder."""


@dataclass(frozen=True, kw_only=True)
class HREDiscConfig(DialogModelConfig):
    """``hre_disc``: hierarchical recurrent encoder, discriminative decoder."""


@dataclass(frozen=True, kw_only=True)
class LFGenConfig(GenerativeDialogConfig):
    """``lf_gen``: late fusion encoder, generative decoder."""


@dataclass(frozen=True, kw_only=True)
class HREGenConfig(GenerativeDialogConfig):
    """``hre_gen``: hierarchical recurrent encoder, generative decoder."""


class DialogModel(nn.Module):
    """Image encoder + word embedding + a history encoder + an answer decoder.

    Attributes:
        history_encoder: "late_fusion" or "hierarchical".
        decoder: "discriminative" or "generative".
    """

    coordinates: torch.Tensor
    """(N, 2) buffer: each grid position's (x, y) centre in [-1, 1]."""

    def __init__(self, config: DialogModelConfig, *, history_encoder: str, decoder: str,
                 load_encoder_weights: bool = False) -> None:
        super().__init__()
        if history_encoder not in HISTORY_ENCODERS or decoder not in DECODERS:
            raise ConfigError(f"unknown dialog encoder/decoder {history_encoder!r}/{decoder!r}")
        if decoder == "generative" and not isinstance(config, GenerativeDialogConfig):
            raise ConfigError(f"a generative dialog model takes a GenerativeDialogConfig, got {type(config).__name__}")
        self.config, self.history_encoder, self.decoder = config, history_encoder, decoder
        hidden = config.hidden_size
        self.encoder = ImageEncoder(config.encoder, load_weights=load_encoder_weights)
        self.embedding = nn.Embedding(config.num_words, config.embed_size, padding_idx=config.pad_id)
        self.dropout = nn.Dropout(config.dropout)
        self.question_core = RecurrentCore(self._core_config(config.embed_size))
        self.history_core = RecurrentCore(self._core_config(config.embed_size))  # history (LF) or facts (HRE)
        height, width = self.encoder.grid_shape
        ys, xs = torch.meshgrid(_centres(height), _centres(width), indexing="ij")
        self.register_buffer("coordinates", torch.stack([xs, ys], dim=-1).reshape(height * width, 2), persistent=False)
        image_size = self.encoder.feature_size + (2 if config.attend_image else 0)
        self.image_attention = (AdditiveAttention(2 * hidden, image_size, config.attention_size)
                                if config.attend_image else None)
        self.fusion = nn.Linear(image_size + 2 * hidden, hidden)
        if history_encoder == "hierarchical":
            self.dialog_core = RecurrentCore(self._core_config(hidden))
        if decoder == "discriminative":
            self.answer_core = RecurrentCore(self._core_config(config.embed_size))
        else:
            self.answer_core = RecurrentCore(self._core_config(config.embed_size, context_size=hidden))
            self.output = nn.Linear(hidden, config.num_words)

    def _core_config(self, input_size: int, *, context_size: int | None = None) -> CoreConfig:
        c = self.config
        return CoreConfig(cell=c.cell, input_size=input_size, hidden_size=c.hidden_size, num_layers=c.num_layers,
                          dropout=c.dropout if c.num_layers > 1 else 0.0, context_size=context_size)

    def _read(self, core: RecurrentCore, words: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """words (B, T), lengths (B,) -> the top layer's final h (B, H)."""
        _, state = core(self.dropout(self.embedding(words)), lengths=lengths)
        return state[0][:, -1]

    def encode(self, batch: dict[str, Any]) -> torch.Tensor:
        """One vector per round (D, R, H) from ``image``, ``question``, ``history`` or ``facts``."""
        question = batch["question"]
        dialogs, rounds = question.shape[:2]
        flat = dialogs * rounds
        question_feature = self._read(self.question_core, question.reshape(flat, -1),
                                      batch["question_lengths"].reshape(flat))  # (D * R, H)
        words, lengths = ("history", "history_lengths") if self.history_encoder == "late_fusion" else ("facts", "fact_lengths")
        history_feature = self._read(self.history_core, batch[words].reshape(flat, -1), batch[lengths].reshape(flat))
        image_feature = self._image_feature(batch["image"], question_feature, history_feature, rounds)
        fused = torch.tanh(self.fusion(self.dropout(torch.cat([image_feature, question_feature, history_feature], 1))))
        fused = fused.view(dialogs, rounds, -1)  # (D, R, H)
        if self.history_encoder == "late_fusion":
            return fused
        outputs, _ = self.dialog_core(fused, lengths=batch["num_rounds"])  # (D, R, H), round r saw facts 0..r
        return outputs

    def _image_feature(self, images: torch.Tensor, question: torch.Tensor, history: torch.Tensor,
                       rounds: int) -> torch.Tensor:
        """(D * R, F) per round: attended grid (query = [question; history]) or the pooled feature."""
        encoded = self.encoder(images)
        if self.image_attention is None:
            return encoded.pooled.repeat_interleave(rounds, dim=0)  # (D * R, F)
        grid = encoded.grid  # (D, N, F)
        coordinates = self.coordinates.to(grid.dtype).expand(grid.shape[0], -1, -1)  # (D, N, 2)
        grid = torch.cat([grid, coordinates], dim=2).repeat_interleave(rounds, dim=0)  # (D * R, N, F + 2)
        context, _ = self.image_attention(grid, torch.cat([question, history], dim=1))
        return context

    def score(self, encoded: torch.Tensor, batch: dict[str, Any]) -> torch.Tensor:
        """Scores (D, R, 100) of every option of every round (higher is better)."""
        if self.decoder == "discriminative":
            answers = self.encode_answers(batch["answers"], batch["answer_lengths"])  # (U, H)
            options = answers[batch["options"]]  # (D, R, 100, H)
            return torch.einsum("drh,drkh->drk", encoded, options)
        dialogs, rounds, count = batch["options"].shape
        words = batch["answers"][batch["options"]].reshape(dialogs * rounds * count, -1)  # (D * R * 100, T)
        lengths = batch["answer_lengths"][batch["options"]].reshape(-1)
        context = encoded.reshape(dialogs * rounds, -1).repeat_interleave(count, dim=0)  # (D * R * 100, H)
        return self.sequence_logprob(context, words, lengths).view(dialogs, rounds, count)

    def encode_answers(self, words: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Discriminative decoder: answers (U, T) with ``<bos>``/``<eos>``, lengths (U,) -> vectors (U, H).

        A round's score of an answer is the dot product of the round's encoding with its vector.
        """
        return self._read(self.answer_core, words, lengths)

    def sequence_logprob(self, context: torch.Tensor, words: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Generative decoder: log p(words[1:] | context) summed per sequence (B,).

        ``words`` (B, T) start with ``<bos>`` and end with ``<eos>`` within ``lengths`` (B,).
        """
        state = self.answer_core.init_state(words.shape[0], context=context)
        steps = int(lengths.max()) - 1
        inputs, targets = words[:, :steps], words[:, 1: steps + 1]  # (B, T-1) each
        outputs, _ = self.answer_core(self.dropout(self.embedding(inputs)), lengths=lengths - 1, state=state)
        logprobs = F.log_softmax(self.output(self.dropout(outputs)), dim=-1)  # (B, T-1, V)
        picked = logprobs.gather(2, targets[:, :, None]).squeeze(2)  # (B, T-1)
        real = torch.arange(steps, device=words.device)[None, :] < (lengths - 1)[:, None]
        return (picked * real).sum(dim=1)

    def start(self, encoded: torch.Tensor) -> tuple[DialogState, dict[str, torch.Tensor]]:
        """Generative decoder: (state before ``<bos>``, static context) for round encodings (B, H).

        The context is empty: the encoding only sets the initial state of the answer core.
        """
        return {"core": self.answer_core.init_state(encoded.shape[0], context=encoded)}, {}

    def step(self, tokens: torch.Tensor, state: DialogState,
             context: dict[str, torch.Tensor]) -> tuple[torch.Tensor, DialogState]:
        """Generative decoder: tokens (B,) -> log-probabilities of the next word (B, V) and the new state."""
        hidden, core_state = self.answer_core.step(self.dropout(self.embedding(tokens)), state["core"])
        return F.log_softmax(self.output(self.dropout(hidden)), dim=-1), {"core": core_state}

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Score every option of every round; with ``gt_index`` rounds to learn from, add a loss.

        Returns:
            ``scores`` (D, R, 100) (option log-likelihoods for a generative model) and, when some
            ``gt_index`` >= 0, ``loss``: cross-entropy over the options (discriminative) or the
            ground-truth answer's negative log-likelihood per word (generative).
        """
        encoded = self.encode(batch)
        if self.decoder == "generative" and self.training:  # scoring 100 options per round teaches nothing here
            return self._generative_loss(encoded, batch)
        gt_index = batch.get("gt_index")
        scores = self.score(encoded, batch)
        result = {"scores": scores}
        if gt_index is not None and bool((gt_index >= 0).any()):
            known = gt_index >= 0  # (D, R)
            if self.decoder == "discriminative":
                result["loss"] = F.cross_entropy(scores[known], gt_index[known])
            else:
                result["loss"] = self._generative_loss(encoded, batch)["loss"]
        return result

    def _generative_loss(self, encoded: torch.Tensor, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        known = batch["gt_index"] >= 0  # (D, R)
        rows = batch["options"][known].gather(1, batch["gt_index"][known][:, None]).squeeze(1)  # (N,) answer rows
        words, lengths = batch["answers"][rows], batch["answer_lengths"][rows]
        logprob = self.sequence_logprob(encoded[known], words, lengths)  # (N,)
        return {"loss": -logprob.sum() / (lengths - 1).sum()}


def _centres(cells: int) -> torch.Tensor:
    """Centres of ``cells`` equal cells spanning [-1, 1]."""
    return (torch.arange(cells, dtype=torch.float32) + 0.5) / cells * 2.0 - 1.0


DIALOG_MODELS: dict[str, tuple[str, str]] = {
    "lf_disc": ("late_fusion", "discriminative"),
    "hre_disc": ("hierarchical", "discriminative"),
    "lf_gen": ("late_fusion", "generative"),
    "hre_gen": ("hierarchical", "generative"),
}
"""Registered name -> (history encoder, decoder), named as in Das et al. (LF-D, HRE-D, LF-G, HRE-G)."""

DIALOG_CONFIGS: dict[str, type[DialogModelConfig]] = {
    "lf_disc": LFDiscConfig, "hre_disc": HREDiscConfig, "lf_gen": LFGenConfig, "hre_gen": HREGenConfig,
}
"""Registered name -> its config class."""

MODELS = Registry(
    ModelEntry(name, "dialog", DIALOG_CONFIGS[name],
               functools.partial(DialogModel, history_encoder=history, decoder=decoder),
               upgrade=drop_retired_defaults(DIALOG_CONFIGS[name], {"max_answer_length": 12}))
    for name, (history, decoder) in DIALOG_MODELS.items()
)
"""The dialog task's registered models. Checkpoints of the release that shared one config among
the four models carry ``max_answer_length`` for the discriminative ones too; reading them drops it."""
