"""Image captioning heads: one-to-many decoders on the shared recurrent core.

Three registered models, each with its own config class (shared options in
:class:`CaptionModelConfig`), share one contract:

* ``show_tell`` (Vinyals et al. 2015): the pooled image feature sets the core's initial
  state; each step feeds the previous word.
* ``show_attend_tell`` (Xu et al. 2015): at every step, gated soft attention over the grid
  features with the previous hidden state as query; the core reads [word; context]; training
  adds the doubly-stochastic regularizer lambda * sum_i (1 - sum_t alpha_ti)^2.
* ``updown`` (Anderson et al. 2018): a top-down attention LSTM reads [h_language; mean grid
  feature; word], attends over the grid, and a language LSTM reads [context; h_attention].

Everything goes through ``step(tokens, state, context) -> (logprobs, state)``, the contract of
:mod:`multimodal_rnn.decoding`: teacher forcing in :meth:`CaptionModel.forward` loops over it,
and greedy, sampling and beam search call it. :meth:`CaptionModel.start` returns the recurrent
state (dict of batch-first tensors: the cores' states and, for attention models, the last
weights under ``"attention"`` (B, N) for attention maps) and the static context (dict of the
image's ``grid`` features and their attention projection, computed once per image and never
reordered by beam search).
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
from multimodal_rnn.text.vocab import check_special_ids

CaptionState = dict[str, Any]
CaptionContext = dict[str, torch.Tensor]


@dataclass(frozen=True, kw_only=True)
class CaptionModelConfig:
    """Options every caption model has; each registered model has its own subclass.

    Attributes:
        vocab_size: words incl. the special tokens; ``pad_id``/``bos_id``/``eos_id`` come from
            the vocabulary and must be distinct.
        label_smoothing: epsilon of label-smoothed cross-entropy (0 = plain).
        max_length: default maximum generated tokens (eos included) at inference.
    """

    vocab_size: int
    encoder: ImageEncoderConfig = field(default_factory=ImageEncoderConfig)
    cell: str = "lstm"
    embed_size: int = 128
    hidden_size: int = 256
    dropout: float = 0.2
    label_smoothing: float = 0.0
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    max_length: int = 25

    def __post_init__(self) -> None:
        check_special_ids(self.pad_id, self.bos_id, self.eos_id, self.vocab_size)
        if not 0.0 <= self.dropout < 1.0 or not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError("dropout and label_smoothing must lie in [0, 1)")


@dataclass(frozen=True, kw_only=True)
class ShowTellConfig(CaptionModelConfig):
    """``show_tell``: the shared options and the depth of its recurrent core."""

    num_layers: int = 1


@dataclass(frozen=True, kw_only=True)
class AttentionCaptionConfig(CaptionModelConfig):
    """What the attending models add: the soft attention and its doubly-stochastic penalty.

    Attributes:
        attention_size: width of the additive attention's hidden layer.
        gated_attention: scale the context by a learned sigmoid gate of the query (Xu et al.).
        attention_regularization: lambda of the penalty lambda * sum_i (1 - sum_t alpha_ti)^2.
    """

    attention_size: int = 128
    gated_attention: bool = True
    attention_regularization: float = 0.1


@dataclass(frozen=True, kw_only=True)
class ShowAttendTellConfig(AttentionCaptionConfig):
    """``show_attend_tell``: attention options and the depth of its recurrent core."""

    num_layers: int = 1


@dataclass(frozen=True, kw_only=True)
class UpDownConfig(AttentionCaptionConfig):
    """``updown``: attention options; its attention and language LSTMs have one layer each."""


class CaptionModel(nn.Module):
    """Image encoder + word embedding + a decoder defined by :meth:`start` and :meth:`step`."""

    attends = False

    def __init__(self, config: CaptionModelConfig, *, load_encoder_weights: bool = False) -> None:
        super().__init__()
        self.config = config
        self.encoder = ImageEncoder(config.encoder, load_weights=load_encoder_weights)
        self.embedding = nn.Embedding(config.vocab_size, config.embed_size)
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(config.hidden_size, config.vocab_size)

    @property
    def feature_size(self) -> int:
        return self.encoder.feature_size

    def encode(self, images: torch.Tensor) -> EncodedImage:
        """images (B, 3, H, W), normalized -> grid (B, N, D) and pooled (B, D) features."""
        return self.encoder(images)

    def start(self, encoded: EncodedImage) -> tuple[CaptionState, CaptionContext]:
        """The recurrent state before the first word and the static per-image context (B rows each)."""
        raise NotImplementedError

    def step(
        self, tokens: torch.Tensor, state: CaptionState, context: CaptionContext
    ) -> tuple[torch.Tensor, CaptionState]:
        """tokens (B,) -> log-probabilities of the next word (B, V) and the new recurrent state."""
        raise NotImplementedError

    @property
    def attention_penalty_weight(self) -> float:
        """lambda of the doubly-stochastic attention penalty in :meth:`forward` (0: none)."""
        return 0.0

    def _logprobs(self, hidden: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.output(self.dropout(hidden)), dim=-1)  # (B, V)

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Teacher forcing through :meth:`step`.

        Args:
            batch: ``image`` (B, 3, H, W) or precomputed ``grid`` features (B, N, D); ``tokens`` (B, T) with bos ... eos then pad;
                optional ``scheduled_sampling`` probability of feeding the model's own sampled
                word instead of the reference (Bengio et al. 2015).

        Returns:
            ``loss`` (scalar: cross-entropy per real token + attention penalty),
            ``cross_entropy`` and ``logprobs`` (B, T-1, V).
        """
        tokens = batch["tokens"]
        inputs, targets = tokens[:, :-1], tokens[:, 1:]  # (B, T-1) each
        if "grid" in batch:  # precomputed features of a frozen encoder
            grid = batch["grid"]
            state, context = self.start(EncodedImage(grid, grid.mean(dim=1)))
        else:
            state, context = self.start(self.encode(batch["image"]))
        sampling = float(batch.get("scheduled_sampling", 0.0))
        steps: list[torch.Tensor] = []  # (B, V) log-probabilities per step
        attention_sum: torch.Tensor | None = None
        for t in range(inputs.shape[1]):
            current = inputs[:, t]
            if sampling > 0.0 and t > 0:
                use_own = torch.rand(current.shape, device=current.device) < sampling
                own = torch.multinomial(steps[-1].detach().exp(), 1).squeeze(1)
                current = torch.where(use_own, own, current)
            logprobs, state = self.step(current, state, context)
            steps.append(logprobs)
            if self.attends:
                real = (targets[:, t] != self.config.pad_id).to(logprobs.dtype)[:, None]  # (B, 1)
                weights = state["attention"] * real  # (B, N)
                attention_sum = weights if attention_sum is None else attention_sum + weights
        logprobs = torch.stack(steps, dim=1)  # (B, T-1, V)
        cross_entropy = F.cross_entropy(
            logprobs.reshape(-1, logprobs.shape[-1]),
            targets.reshape(-1),
            ignore_index=self.config.pad_id,
            label_smoothing=self.config.label_smoothing,
        )
        loss = cross_entropy
        result = {"cross_entropy": cross_entropy.detach(), "logprobs": logprobs}
        penalty_weight = self.attention_penalty_weight
        if attention_sum is not None and penalty_weight > 0:
            penalty = ((1.0 - attention_sum) ** 2).sum(dim=1).mean()
            loss = loss + penalty_weight * penalty
            result["attention_penalty"] = penalty.detach()
        result["loss"] = loss
        return result


class ShowTell(CaptionModel):
    """Show and Tell: pooled feature -> initial state; word -> core -> next word."""

    config: ShowTellConfig

    def __init__(self, config: ShowTellConfig, *, load_encoder_weights: bool = False) -> None:
        super().__init__(config, load_encoder_weights=load_encoder_weights)
        self.core = RecurrentCore(_core_config(config, config.embed_size, context_size=self.feature_size,
                                               num_layers=config.num_layers))

    def start(self, encoded: EncodedImage) -> tuple[CaptionState, CaptionContext]:
        pooled = encoded.pooled  # only sets the initial state: no static context
        return {"core": self.core.init_state(pooled.shape[0], context=pooled)}, {}

    def step(
        self, tokens: torch.Tensor, state: CaptionState, context: CaptionContext
    ) -> tuple[torch.Tensor, CaptionState]:
        hidden, core_state = self.core.step(self.dropout(self.embedding(tokens)), state["core"])
        return self._logprobs(hidden), {"core": core_state}


class AttendingCaptionModel(CaptionModel):
    """Base of the caption models that attend over the grid (configs: :class:`AttentionCaptionConfig`)."""

    attends = True
    config: AttentionCaptionConfig

    @property
    def attention_penalty_weight(self) -> float:
        return self.config.attention_regularization


class ShowAttendTell(AttendingCaptionModel):
    """Show, Attend and Tell: gated soft attention over the grid at every step."""

    config: ShowAttendTellConfig

    def __init__(self, config: ShowAttendTellConfig, *, load_encoder_weights: bool = False) -> None:
        super().__init__(config, load_encoder_weights=load_encoder_weights)
        size = self.feature_size
        self.core = RecurrentCore(_core_config(config, config.embed_size + size, context_size=size,
                                               num_layers=config.num_layers))
        self.attention = AdditiveAttention(config.hidden_size, size, config.attention_size, gated=config.gated_attention)

    def start(self, encoded: EncodedImage) -> tuple[CaptionState, CaptionContext]:
        grid = encoded.grid  # (B, N, D)
        state = {
            "core": self.core.init_state(grid.shape[0], context=grid.mean(dim=1)),
            "attention": grid.new_zeros(grid.shape[:2]),  # (B, N)
        }
        return state, {"grid": grid, "grid_projected": self.attention.project_features(grid)}  # (B, N, A)

    def step(
        self, tokens: torch.Tensor, state: CaptionState, context: CaptionContext
    ) -> tuple[torch.Tensor, CaptionState]:
        query = state["core"][0][:, -1]  # top layer's h_{t-1}: (B, H)
        attended, weights = self.attention(context["grid"], query, projected_features=context["grid_projected"])
        x = torch.cat([self.dropout(self.embedding(tokens)), attended], dim=1)  # (B, E + D)
        hidden, core_state = self.core.step(x, state["core"])
        return self._logprobs(hidden), {"core": core_state, "attention": weights}


class UpDown(AttendingCaptionModel):
    """Bottom-up/top-down captioner: attention LSTM, soft attention, language LSTM."""

    config: UpDownConfig

    def __init__(self, config: UpDownConfig, *, load_encoder_weights: bool = False) -> None:
        super().__init__(config, load_encoder_weights=load_encoder_weights)
        size, hidden = self.feature_size, config.hidden_size
        self.attention_core = RecurrentCore(
            _core_config(config, hidden + size + config.embed_size, context_size=size, num_layers=1)
        )
        self.language_core = RecurrentCore(_core_config(config, size + hidden, context_size=size, num_layers=1))
        self.attention = AdditiveAttention(hidden, size, config.attention_size, gated=config.gated_attention)

    def start(self, encoded: EncodedImage) -> tuple[CaptionState, CaptionContext]:
        grid = encoded.grid  # (B, N, D)
        mean = grid.mean(dim=1)  # (B, D)
        state = {
            "attention_core": self.attention_core.init_state(grid.shape[0], context=mean),
            "language_core": self.language_core.init_state(grid.shape[0], context=mean),
            "attention": grid.new_zeros(grid.shape[:2]),  # (B, N)
        }
        context = {"grid": grid, "grid_mean": mean, "grid_projected": self.attention.project_features(grid)}
        return state, context

    def step(
        self, tokens: torch.Tensor, state: CaptionState, context: CaptionContext
    ) -> tuple[torch.Tensor, CaptionState]:
        language_h = state["language_core"][0][:, -1]  # (B, H)
        x = torch.cat([language_h, context["grid_mean"], self.dropout(self.embedding(tokens))], dim=1)
        attention_h, attention_state = self.attention_core.step(x, state["attention_core"])
        attended, weights = self.attention(context["grid"], attention_h, projected_features=context["grid_projected"])
        hidden, language_state = self.language_core.step(torch.cat([attended, attention_h], dim=1), state["language_core"])
        new_state = {"attention_core": attention_state, "language_core": language_state, "attention": weights}
        return self._logprobs(hidden), new_state


def _core_config(config: CaptionModelConfig, input_size: int, *, context_size: int, num_layers: int) -> CoreConfig:
    return CoreConfig(
        cell=config.cell,
        input_size=input_size,
        hidden_size=config.hidden_size,
        num_layers=num_layers,
        dropout=config.dropout if num_layers > 1 else 0.0,
        context_size=context_size,
    )


ATTENTION_OPTIONS = ("attention_size", "gated_attention", "attention_regularization")
"""What :class:`AttentionCaptionConfig` adds to the shared options."""


def _upgrade_show_tell(data: dict[str, Any]) -> dict[str, Any]:
    """A stored show_tell config from before the per-model configs (one flat config for the three
    models) holds the attention options; show_tell never read them, whatever their value."""
    return {key: value for key, value in data.items() if key not in ATTENTION_OPTIONS}


def _upgrade_updown(data: dict[str, Any]) -> dict[str, Any]:
    """A stored updown config from before the per-model configs holds ``num_layers``: dropped at
    its default 1; any other value gave the one-layer cores input dropout, so it stays (an error)."""
    return {key: value for key, value in data.items() if not (key == "num_layers" and value == 1 and type(value) is int)}


MODELS = Registry([
    ModelEntry("show_tell", "caption", ShowTellConfig, ShowTell, upgrade=_upgrade_show_tell),
    ModelEntry("show_attend_tell", "caption", ShowAttendTellConfig, ShowAttendTell),
    ModelEntry("updown", "caption", UpDownConfig, UpDown, upgrade=_upgrade_updown),
])
"""The caption task's registered models, each with its own config class; checkpoints written with
the older flat config load through each entry's ``upgrade`` (show_attend_tell has every old field)."""
