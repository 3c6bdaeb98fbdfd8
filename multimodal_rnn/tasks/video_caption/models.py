"""Video captioning heads: frames -> words on the shared image encoder and recurrent core.

Two registered models, each with its own config class (shared options in
:class:`VideoCaptionConfig`):

* ``s2vt`` (Venugopalan et al. 2015, "Sequence to Sequence -- Video to Text"): two stacked
  recurrent cores. During the encoding stage the first reads the T frame features and the
  second reads [h1; no word]; during decoding the first reads no frame and the second reads
  [h1; word] and predicts the next word. The clip reaches the words only through the state.
* ``temporal_attention`` (after Yao et al. 2015, "Describing Videos by Exploiting Temporal
  Structure"): an optional recurrent core over the frames, then a decoder core that attends at
  every word over the grid cells of every frame (or over the T encoded frames). By default it
  reads [word; previous attended; clip summary], attends with its new hidden state and predicts
  the word from both (``query="current"``); each cell carries how much it changes over the clip
  (``cell_changes``). Together these bind what happens to the object that does it: on the
  moving-shapes world they took validation faithfulness from 70 % to 99 % (``weights/README.md``).

Every frame goes through the shared :class:`~multimodal_rnn.encoders.image.ImageEncoder`
(padded frames never do) and a learned projection of its grid (``frame_features="grid"``: the
flattened grid keeps where things are, which motion needs) or of its pooled feature to
``frame_size`` features; with ``differences`` (the default) a second learned projection of the
change of those inputs since the previous frame is put beside it, which is what tells "moves left"
from "moves right" (on the frozen features of the moving-shapes world a recurrent classifier of
the 12 actions goes from 80 % to 99 % validation accuracy with it). Decoding goes through
``step(tokens, state, context) -> (logprobs, state)`` (:mod:`multimodal_rnn.decoding`): teacher
forcing in :meth:`VideoCaptionModel.forward`
loops over it, greedy, sampling and beam search call it. The recurrent state is a dict of
batch-first tensors (the cores' states; with attention the last weights under ``"attention"``
(B, T) or (B, T * N), which ``record="attention"`` traces, and with ``query="current"`` the last
attended memory); the context holds what is computed once per clip (the attention memory, its
projection, the frame mask and the clip summary), never reordered by beam search.

Changes between frames (``differences``, ``cell_changes``) are measured on the clean encoder
outputs and dropout applies to the features only: dropped-out features would differ between two
identical frames and teach the model motion that is not there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from multimodal_rnn.decoding import select_state
from multimodal_rnn.encoders.image import ImageEncoder, ImageEncoderConfig
from multimodal_rnn.errors import ConfigError, InputError
from multimodal_rnn.recurrent import AdditiveAttention, CoreConfig, RecurrentCore
from multimodal_rnn.registry import ModelEntry, Registry
from multimodal_rnn.text.vocab import check_special_ids

VideoState = dict[str, Any]
VideoContext = dict[str, torch.Tensor]
FRAME_FEATURES = ("grid", "pooled")
ATTEND = ("frames", "cells")
QUERIES = ("previous", "current")


@dataclass(frozen=True, kw_only=True)
class VideoCaptionConfig:
    """Options every video caption model has; each registered model has its own subclass.

    Attributes:
        vocab_size: words incl. the special tokens; ``pad_id``/``bos_id``/``eos_id`` come from
            the vocabulary and must be distinct.
        encoder: the per-frame image encoder (its ``image_size``, ``mean`` and ``std`` make the
            clip transform).
        frame_features: "grid" (the encoder's grid flattened, N * D values, projected) or
            "pooled" (its spatial mean, D values, projected).
        frame_size: features per frame after the projection (twice that with ``differences``).
        differences: also project each frame's input change since the previous frame (0 for the
            first frame) and put it beside the frame's features.
        num_frames: frames sampled uniformly from a clip at inference.
        label_smoothing: epsilon of label-smoothed cross-entropy (0 = plain).
        max_length: default maximum generated tokens (eos included) at inference.
    """

    vocab_size: int
    encoder: ImageEncoderConfig = field(default_factory=ImageEncoderConfig)
    frame_features: str = "grid"
    frame_size: int = 128
    differences: bool = True
    num_frames: int = 16
    cell: str = "lstm"
    embed_size: int = 64
    hidden_size: int = 256
    dropout: float = 0.2
    label_smoothing: float = 0.0
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    max_length: int = 30

    def __post_init__(self) -> None:
        check_special_ids(self.pad_id, self.bos_id, self.eos_id, self.vocab_size)
        if self.frame_features not in FRAME_FEATURES:
            raise ConfigError(f"frame_features must be one of {', '.join(FRAME_FEATURES)}, got {self.frame_features!r}")
        if not 0.0 <= self.dropout < 1.0 or not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError("dropout and label_smoothing must lie in [0, 1)")
        for name in ("frame_size", "num_frames", "embed_size", "hidden_size", "max_length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class S2VTConfig(VideoCaptionConfig):
    """``s2vt``: the shared options; its two stacked cores have ``hidden_size`` each."""


@dataclass(frozen=True, kw_only=True)
class TemporalAttentionConfig(VideoCaptionConfig):
    """``temporal_attention``: what attention over the frames adds.

    Attributes:
        attention_size: width of the additive attention's hidden layer.
        gated_attention: scale the attended frame feature by a learned sigmoid gate of the query.
        encode_frames: run a recurrent core over the frame features and attend over its outputs
            (each then knows what came before it); False attends over the projected features.
        attend: "frames" (T positions) or "cells" (T * N: every grid cell of every frame, its own
            projected feature beside its frame's; needs ``frame_features="grid"``), which lets a
            word look at one object of one frame, as the image captioners attend over the grid.
        cell_changes: with ``attend="cells"``, each cell's projection also reads how much that
            cell changes: the norm of its change since the previous frame and the mean of that
            norm over the clip (two values), so the words about what moves can find the cells
            where something happens (and the still object's cells, which never change, are told
            apart).
        summary: also give the decoder, at every word, a summary of the whole clip beside the
            attended memory: the frame core's output at the clip's last frame (the mean of the
            frame features without ``encode_frames``). Attention picks *where* to look; the
            summary keeps *what happens* in view whatever it picks.
        query: what attention is queried with: "previous" (the decoder's hidden state before it
            reads the current word, as in Show, Attend and Tell) or "current" (after it: the
            word just read, e.g. the shape that completes an object's name, already steers where
            to look; Luong et al. 2015), then the next word is predicted from the hidden state
            and the attended memory together, and the attended memory is fed to the next step.
    """

    attention_size: int = 128
    gated_attention: bool = False
    encode_frames: bool = True
    attend: str = "cells"
    cell_changes: bool = True
    summary: bool = True
    query: str = "current"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.attend not in ATTEND:
            raise ConfigError(f"attend must be one of {', '.join(ATTEND)}, got {self.attend!r}")
        if self.query not in QUERIES:
            raise ConfigError(f"query must be one of {', '.join(QUERIES)}, got {self.query!r}")
        if self.attend == "cells" and self.frame_features != "grid":
            raise ConfigError(
                'attend="cells" (the default) needs frame_features="grid"; with pooled features set attend="frames"'
            )


class EncodedClip(NamedTuple):
    """frames (B, T, F): projected features per frame, 0 on padding; mask (B, T) bool: real frames;
    cells (B, T, N, D): the encoder's grid of every frame with ``frame_features="grid"`` (before
    dropout), else None."""

    frames: torch.Tensor
    mask: torch.Tensor
    cells: torch.Tensor | None = None


class VideoCaptionModel(nn.Module):
    """Frame encoder + projection + word embedding + a decoder defined by :meth:`start` and :meth:`step`."""

    attends = False

    def __init__(self, config: VideoCaptionConfig, *, load_encoder_weights: bool = False) -> None:
        super().__init__()
        self.config = config
        self.encoder = ImageEncoder(config.encoder, load_weights=load_encoder_weights)
        positions = self.encoder.grid_shape[0] * self.encoder.grid_shape[1]
        inputs = self.encoder.feature_size * (positions if config.frame_features == "grid" else 1)
        self.frame_projection = nn.Linear(inputs, config.frame_size)
        self.change_projection = nn.Linear(inputs, config.frame_size) if config.differences else None
        self.embedding = nn.Embedding(config.vocab_size, config.embed_size)
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(config.hidden_size, config.vocab_size)

    @property
    def frame_feature_size(self) -> int:
        """Features per encoded frame: ``frame_size``, twice that with ``differences``."""
        return self.config.frame_size * (2 if self.config.differences else 1)

    def frame_inputs(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """frames (B, T, 3, H, W) normalized, mask (B, T) -> what the frame projection reads, (B, T, F):
        the encoder's grid flattened (F = N * D) or pooled (F = D), per ``frame_features``; 0 on padding.

        Padded frames go through the encoder too and are zeroed after it: in eval mode (and with a
        frozen encoder) they change nothing; the clip pipeline samples the same T from every clip,
        so training batches hold none."""
        if frames.dim() != 5 or frames.shape[2] != 3 or tuple(mask.shape) != tuple(frames.shape[:2]):
            raise InputError(
                f"clips must be (B, T, 3, H, W) with a (B, T) mask, got {tuple(frames.shape)} and {tuple(mask.shape)}"
            )
        encoded = self.encoder(frames.flatten(0, 1))  # every frame: grid (B*T, N, D), pooled (B*T, D)
        values = encoded.grid.flatten(1) if self.config.frame_features == "grid" else encoded.pooled
        return values.view(*mask.shape, values.shape[1]) * mask[..., None]

    def encode_inputs(self, inputs: torch.Tensor, mask: torch.Tensor) -> EncodedClip:
        """:meth:`frame_inputs` (B, T, F) (or the same from a frame cache), mask (B, T) -> :class:`EncodedClip`."""
        frames = torch.relu(self.frame_projection(self.dropout(inputs)))
        if self.change_projection is not None:
            # the change of the clean inputs: dropped-out features would "change" on a still frame
            change = torch.cat([torch.zeros_like(inputs[:, :1]), inputs[:, 1:] - inputs[:, :-1]], dim=1)  # (B, T, F)
            frames = torch.cat([frames, self.change_projection(self.dropout(change))], dim=2)
        cells = None
        if self.config.frame_features == "grid":
            cells = inputs.view(*inputs.shape[:2], -1, self.encoder.feature_size)  # (B, T, N, D)
        return EncodedClip(frames * mask[..., None], mask, cells)

    def encode(self, frames: torch.Tensor, mask: torch.Tensor | None = None) -> EncodedClip:
        """frames (B, T, 3, H, W) normalized, mask (B, T) (None: every frame real) -> :class:`EncodedClip`."""
        if mask is None:
            mask = torch.ones(frames.shape[:2], dtype=torch.bool, device=frames.device)
        return self.encode_inputs(self.frame_inputs(frames, mask), mask)

    def encode_batch(self, batch: dict[str, Any]) -> EncodedClip:
        """A batch's clips: cached ``features`` (B, T, F) (see :meth:`frame_inputs`) or ``frames``
        (B, T, 3, H, W), and ``mask`` (B, T)."""
        if "features" in batch:
            return self.encode_inputs(batch["features"], batch["mask"])
        return self.encode(batch["frames"], batch["mask"])

    def start(self, encoded: EncodedClip) -> tuple[VideoState, VideoContext]:
        """The recurrent state before the first word and the static per-clip context (B rows each)."""
        raise NotImplementedError

    def step(self, tokens: torch.Tensor, state: VideoState, context: VideoContext) -> tuple[torch.Tensor, VideoState]:
        """tokens (B,) -> log-probabilities of the next word (B, V) and the new recurrent state."""
        raise NotImplementedError

    def _logprobs(self, hidden: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.output(self.dropout(hidden)), dim=-1)  # (B, V)

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Teacher forcing through :meth:`step`.

        Args:
            batch: the clips (see :meth:`encode_batch`); ``tokens`` (C, L) captions with bos ... eos
                then pad; optional ``caption_clip`` (C,) the clip of each caption (default: caption
                i describes clip i), so a clip is encoded once for all its captions.

        Returns:
            ``loss`` (scalar cross-entropy per real token), ``cross_entropy`` and ``logprobs`` (C, L-1, V).
        """
        tokens = batch["tokens"]
        inputs, targets = tokens[:, :-1], tokens[:, 1:]  # (C, L-1) each
        state, context = self.start(self.encode_batch(batch))
        if "caption_clip" in batch:
            state, context = select_state(state, batch["caption_clip"]), select_state(context, batch["caption_clip"])
        steps: list[torch.Tensor] = []
        for t in range(inputs.shape[1]):
            logprobs, state = self.step(inputs[:, t], state, context)
            steps.append(logprobs)
        logprobs = torch.stack(steps, dim=1)  # (C, L-1, V)
        cross_entropy = F.cross_entropy(
            logprobs.reshape(-1, logprobs.shape[-1]),
            targets.reshape(-1),
            ignore_index=self.config.pad_id,
            label_smoothing=self.config.label_smoothing,
        )
        return {"loss": cross_entropy, "cross_entropy": cross_entropy.detach(), "logprobs": logprobs}


class S2VT(VideoCaptionModel):
    """Sequence to sequence, video to text: a frame core under a word core (see the module docstring)."""

    config: S2VTConfig

    def __init__(self, config: S2VTConfig, *, load_encoder_weights: bool = False) -> None:
        super().__init__(config, load_encoder_weights=load_encoder_weights)
        hidden = config.hidden_size
        self.frame_core = RecurrentCore(_core_config(config, self.frame_feature_size))
        self.word_core = RecurrentCore(_core_config(config, hidden + config.embed_size))

    def start(self, encoded: EncodedClip) -> tuple[VideoState, VideoContext]:
        lengths = encoded.mask.sum(dim=1)  # (B,)
        frame_outputs, frame_state = self.frame_core(encoded.frames, lengths)  # (B, T, H)
        no_word = frame_outputs.new_zeros((*frame_outputs.shape[:2], self.config.embed_size))
        _, word_state = self.word_core(torch.cat([frame_outputs, no_word], dim=2), lengths)
        return {"frame_core": frame_state, "word_core": word_state}, {}

    def step(self, tokens: torch.Tensor, state: VideoState, context: VideoContext) -> tuple[torch.Tensor, VideoState]:
        no_frame = state["frame_core"][0].new_zeros((tokens.shape[0], self.frame_feature_size))
        frame_h, frame_state = self.frame_core.step(no_frame, state["frame_core"])
        x = torch.cat([frame_h, self.dropout(self.embedding(tokens))], dim=1)  # (B, H + E)
        hidden, word_state = self.word_core.step(x, state["word_core"])
        return self._logprobs(hidden), {"frame_core": frame_state, "word_core": word_state}


class TemporalAttention(VideoCaptionModel):
    """A decoder core that attends over the T encoded frames at every word (see the module docstring)."""

    attends = True
    config: TemporalAttentionConfig

    def __init__(self, config: TemporalAttentionConfig, *, load_encoder_weights: bool = False) -> None:
        super().__init__(config, load_encoder_weights=load_encoder_weights)
        memory = config.hidden_size if config.encode_frames else self.frame_feature_size
        self.frame_core = RecurrentCore(_core_config(config, self.frame_feature_size)) if config.encode_frames else None
        cell_inputs = self.encoder.feature_size + (2 if config.cell_changes else 0)
        self.cell_projection = nn.Linear(cell_inputs, config.frame_size) if config.attend == "cells" else None
        memory += config.frame_size if self.cell_projection is not None else 0
        self.summary_size = (config.hidden_size if config.encode_frames else self.frame_feature_size) * config.summary
        self.core = RecurrentCore(
            _core_config(config, config.embed_size + memory + self.summary_size, context_size=memory)
        )
        self.combine = nn.Linear(config.hidden_size + memory, config.hidden_size) if config.query == "current" else None
        self.attention = AdditiveAttention(
            config.hidden_size, memory, config.attention_size, gated=config.gated_attention
        )

    def start(self, encoded: EncodedClip) -> tuple[VideoState, VideoContext]:
        mask = encoded.mask
        lengths = mask.sum(dim=1)  # (B,)
        memory = encoded.frames  # (B, T, F)
        if self.frame_core is not None:
            memory, _ = self.frame_core(memory, lengths)  # (B, T, H), 0 on padding
            summary = memory[torch.arange(memory.shape[0], device=memory.device), (lengths - 1).clamp(min=0)]  # (B, H)
        else:
            summary = memory.sum(dim=1) / lengths.clamp(min=1)[:, None].to(memory.dtype)  # (B, F)
        if self.cell_projection is not None:
            assert encoded.cells is not None
            cells = self.dropout(encoded.cells)  # (B, T, N, D)
            if self.config.cell_changes:  # measured on the clean cells (see encode_inputs)
                cells = torch.cat([cells, *_cell_changes(encoded.cells, mask)], dim=3)  # (B, T, N, D + 2)
            cells = torch.relu(self.cell_projection(cells))  # (B, T, N, C)
            positions = cells.shape[2]
            beside = memory[:, :, None].expand(-1, -1, positions, -1)  # the frame's feature beside each cell
            mask = mask[:, :, None].expand(-1, -1, positions).flatten(1)  # (B, T * N)
            memory = torch.cat([cells, beside], dim=3).flatten(1, 2) * mask[..., None]  # (B, T * N, C + M)
        mean = memory.sum(dim=1) / mask.sum(dim=1, keepdim=True).to(memory.dtype)  # (B, M) over real positions
        state = {
            "core": self.core.init_state(memory.shape[0], context=mean),
            "attention": memory.new_zeros(mask.shape),  # (B, T) or (B, T * N)
        }
        if self.combine is not None:
            state["attended"] = mean  # what the first word reads as the previous step's attended memory
        context = {"memory": memory, "memory_projected": self.attention.project_features(memory), "mask": mask}
        if self.summary_size:
            context["summary"] = summary
        return state, context

    def step(self, tokens: torch.Tensor, state: VideoState, context: VideoContext) -> tuple[torch.Tensor, VideoState]:
        if self.combine is not None:
            return self._step_current(tokens, state, context)
        query = state["core"][0][:, -1]  # h_{t-1}: (B, H)
        attended, weights = self._attend(query, context)
        hidden, core_state = self.core.step(self._core_input(tokens, attended, context), state["core"])
        return self._logprobs(hidden), {"core": core_state, "attention": weights}

    def _step_current(
        self, tokens: torch.Tensor, state: VideoState, context: VideoContext
    ) -> tuple[torch.Tensor, VideoState]:
        """``query="current"``: read the word (with the previous attended memory), attend with h_t, predict."""
        assert self.combine is not None
        hidden, core_state = self.core.step(self._core_input(tokens, state["attended"], context), state["core"])
        attended, weights = self._attend(hidden, context)  # (B, M), (B, P)
        combined = torch.tanh(self.combine(torch.cat([hidden, attended], dim=1)))  # (B, H)
        return self._logprobs(combined), {"core": core_state, "attention": weights, "attended": attended}

    def _attend(self, query: torch.Tensor, context: VideoContext) -> tuple[torch.Tensor, torch.Tensor]:
        """query (B, H) -> the attended memory (B, M) and the weights (B, P) over its positions."""
        return self.attention(
            context["memory"], query, mask=context["mask"], projected_features=context["memory_projected"]
        )

    def _core_input(self, tokens: torch.Tensor, attended: torch.Tensor, context: VideoContext) -> torch.Tensor:
        """[word embedding; attended memory; clip summary (with ``summary``)]: (B, E + M [+ S])."""
        inputs = [self.dropout(self.embedding(tokens)), attended]
        if self.summary_size:
            inputs.append(context["summary"])
        return torch.cat(inputs, dim=1)


def _cell_changes(cells: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cells (B, T, N, D), mask (B, T) -> how much each cell changes: the norm of its change since
    the previous frame (0 at the first frame and where either frame is padding) and the mean of
    that norm over the clip's real frame pairs, broadcast to every frame; both (B, T, N, 1)."""
    pairs = (mask[:, 1:] & mask[:, :-1]).to(cells.dtype)  # (B, T-1): both frames real
    change = (cells[:, 1:] - cells[:, :-1]).norm(dim=3, keepdim=True) * pairs[:, :, None, None]  # (B, T-1, N, 1)
    count = pairs.sum(dim=1).clamp(min=1.0)[:, None, None, None]  # (B, 1, 1, 1)
    activity = change.sum(dim=1, keepdim=True) / count  # (B, 1, N, 1)
    change = torch.cat([change.new_zeros((change.shape[0], 1, *change.shape[2:])), change], dim=1)  # (B, T, N, 1)
    return change, activity.expand_as(change)


def _core_config(config: VideoCaptionConfig, input_size: int, *, context_size: int | None = None) -> CoreConfig:
    return CoreConfig(
        cell=config.cell, input_size=input_size, hidden_size=config.hidden_size, num_layers=1, context_size=context_size
    )


MODELS = Registry(
    [
        ModelEntry("s2vt", "video_caption", S2VTConfig, S2VT),
        ModelEntry("temporal_attention", "video_caption", TemporalAttentionConfig, TemporalAttention),
    ]
)
"""The video caption task's registered models, each with its own config class."""
