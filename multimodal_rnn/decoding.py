"""Decoding algorithms over the one-step decoder contract: greedy, sampling and batched beam search.

A decoder is any callable ``step(tokens, state) -> (logprobs, state)``:

- ``tokens``: (B,) LongTensor, the token fed at this step (``bos_id`` first, then the previous output);
- ``logprobs``: (B, V) log-probabilities of the next token;
- ``state``: a nested tuple/list/dict of tensors, every tensor batch-first (dim 0 = B); other leaves
  (None, ints, strings) are passed through untouched.

The algorithms never look inside a state: they only call ``step`` and move batch rows with
:func:`expand_state` and :func:`select_state`. Conventions shared by every function here:

- ``max_length`` counts generated tokens, the end-of-sentence token included;
- a sequence is a list of token ids without bos and without eos;
- a score is the sum of the log-probabilities (natural log) of the generated tokens, the eos
  included when it was emitted; beam search with ``length_penalty > 0`` divides it by the
  GNMT penalty ``((5 + length) / 6) ** length_penalty`` where ``length`` counts the eos too;
- ``record`` names a key of a dict state whose (B, ...) tensor is read after every step and
  returned, per sequence, as a (len(sequence), ...) tensor: row i is the value at the step that
  produced word i (for example the attention weights used to choose that word).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from multimodal_rnn.errors import ConfigError

State = Any
StepFn = Callable[[Tensor, State], tuple[Tensor, State]]


def map_state(fn: Callable[[Tensor], Tensor], state: State) -> State:
    """Apply ``fn`` to every tensor of a nested tuple/namedtuple/list/dict; other leaves pass through."""
    if isinstance(state, Tensor):
        return fn(state)
    if isinstance(state, dict):
        return {key: map_state(fn, value) for key, value in state.items()}
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return type(state)(*(map_state(fn, value) for value in state))
    if isinstance(state, (tuple, list)):
        return type(state)(map_state(fn, value) for value in state)
    return state


def expand_state(state: State, k: int) -> State:
    """Repeat each batch row ``k`` times: (B, ...) -> (B * k, ...), rows b*k .. b*k+k-1 copy item b."""
    return map_state(lambda tensor: tensor.repeat_interleave(k, dim=0), state)


def select_state(state: State, index: Tensor) -> State:
    """Pick batch rows: every tensor (B, ...) becomes (len(index), ...) with ``index_select`` on dim 0."""
    return map_state(lambda tensor: tensor.index_select(0, index), state)


@dataclass(frozen=True)
class DecodeOutput:
    """Result of :func:`greedy_decode` or :func:`sample_decode` for R rows (R = B * num_samples).

    Attributes:
        sequences: per row, the generated token ids without bos and eos.
        tokens: (R, T) LongTensor of generated tokens, the eos included, then ``pad_id``;
            T is the number of steps run (at most ``max_length``).
        logprobs: (R, T) float32 log-probability under the model of each token in ``tokens``
            (0 where ``mask`` is False); keeps the autograd graph of ``step``.
        mask: (R, T) BoolTensor, True for generated tokens (eos included).
        scores: (R,) float32 sum of ``logprobs`` over the row.
        ended: (R,) BoolTensor, True where the row emitted eos (False: cut at ``max_length``).
        traces: with ``record``, per row a (len(sequence), ...) tensor; else None.
    """

    sequences: list[list[int]]
    tokens: Tensor
    logprobs: Tensor
    mask: Tensor
    scores: Tensor
    ended: Tensor
    traces: list[Tensor] | None


@dataclass(frozen=True)
class BeamOutput:
    """Result of :func:`beam_search` for B items, ``n_best`` hypotheses each, best first.

    Attributes:
        hypotheses: per item, ``n_best`` token-id lists without bos and eos.
        hypothesis_scores: (B, n_best) float32 scores (length-normalised when a penalty is used),
            sorted descending; -inf fills items with fewer than ``n_best`` possible hypotheses.
        hypothesis_ended: (B, n_best) BoolTensor, True where the hypothesis emitted eos.
        tokens: (B, n_best, T) LongTensor of each hypothesis, its eos included, then ``pad_id``.
        hypothesis_traces: with ``record``, per item ``n_best`` (len(hypothesis), ...) tensors.
    """

    hypotheses: list[list[list[int]]]
    hypothesis_scores: Tensor
    hypothesis_ended: Tensor
    tokens: Tensor
    hypothesis_traces: list[list[Tensor]] | None

    @property
    def sequences(self) -> list[list[int]]:
        """The best hypothesis of each item."""
        return [item[0] for item in self.hypotheses]

    @property
    def scores(self) -> Tensor:
        """(B,) score of the best hypothesis of each item."""
        return self.hypothesis_scores[:, 0]

    @property
    def traces(self) -> list[Tensor] | None:
        """The trace of the best hypothesis of each item, or None without ``record``."""
        if self.hypothesis_traces is None:
            return None
        return [item[0] for item in self.hypothesis_traces]


def greedy_decode(
    step: StepFn,
    state: State,
    *,
    batch_size: int,
    bos_id: int,
    eos_id: int,
    max_length: int,
    pad_id: int = 0,
    record: str | None = None,
) -> DecodeOutput:
    """Pick the most probable token at every step until eos or ``max_length``.

    ``state`` holds B = ``batch_size`` items; rows that ended are fed ``pad_id`` while the others
    go on. Call under ``torch.no_grad()`` when no gradient is needed.
    """
    _require(batch_size >= 1, f"batch_size must be >= 1, got {batch_size}")
    _require(max_length >= 1, f"max_length must be >= 1, got {max_length}")
    return _decode(
        step, state, lambda logprobs: logprobs.argmax(dim=-1),
        batch_size=batch_size, bos_id=bos_id, eos_id=eos_id, max_length=max_length,
        pad_id=pad_id, record=record,
    )


def sample_decode(
    step: StepFn,
    state: State,
    *,
    batch_size: int,
    bos_id: int,
    eos_id: int,
    max_length: int,
    pad_id: int = 0,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
    num_samples: int = 1,
    record: str | None = None,
) -> DecodeOutput:
    """Sample each token from softmax(logprobs / temperature), restricted to the ``top_k`` best.

    Every item of ``state`` is expanded ``num_samples`` times: output row b * num_samples + j is
    sample j of item b. ``generator`` (on the device of the logprobs) makes runs reproducible.
    The returned ``logprobs``/``scores`` are those of the model itself (before temperature and
    top-k), with the autograd graph of ``step`` kept: self-critical training backpropagates
    through ``scores``.
    """
    _require(batch_size >= 1, f"batch_size must be >= 1, got {batch_size}")
    _require(max_length >= 1, f"max_length must be >= 1, got {max_length}")
    _require(temperature > 0, f"temperature must be > 0, got {temperature}")
    _require(top_k is None or top_k >= 1, f"top_k must be >= 1 or None, got {top_k}")
    _require(num_samples >= 1, f"num_samples must be >= 1, got {num_samples}")

    def choose(logprobs: Tensor) -> Tensor:
        scaled = logprobs.detach().float() / temperature  # (R, V)
        if top_k is not None and top_k < scaled.size(-1):
            kth_best = scaled.topk(top_k, dim=-1).values[:, -1:]  # (R, 1)
            scaled = scaled.masked_fill(scaled < kth_best, float("-inf"))
        probs = torch.softmax(scaled, dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)

    if num_samples > 1:
        state = expand_state(state, num_samples)
    return _decode(
        step, state, choose,
        batch_size=batch_size * num_samples, bos_id=bos_id, eos_id=eos_id,
        max_length=max_length, pad_id=pad_id, record=record,
    )


def beam_search(
    step: StepFn,
    state: State,
    *,
    batch_size: int,
    bos_id: int,
    eos_id: int,
    beam_size: int,
    max_length: int,
    length_penalty: float = 0.0,
    n_best: int = 1,
    block_repeated_trigrams: bool = False,
    pad_id: int = 0,
    record: str | None = None,
) -> BeamOutput:
    """Beam search over all items at once (the step runs on B * beam_size rows).

    Each step scores every continuation of the ``beam_size`` live beams of an item and keeps the
    best ``beam_size`` that do not end in eos; a continuation ending in eos that ranks among the
    best ``beam_size`` is moved to the item's pool of finished hypotheses and stops growing. At
    ``max_length`` the live beams join the pool unfinished, so a model that never emits eos
    still gets answers. An item stops once its ``beam_size``-th finished score beats anything its
    live beams can still reach (log-probabilities only add negative terms; the bound divides by
    the largest penalty, that of ``max_length``). Only beam 0 is live at the first step, so the
    beams start distinct.

    Args:
        length_penalty: alpha >= 0 of the GNMT penalty ((5 + length) / 6) ** alpha dividing the
            final scores; 0 keeps the plain sum of log-probabilities.
        n_best: hypotheses returned per item, 1 <= n_best <= beam_size.
        block_repeated_trigrams: forbid a token that would repeat a trigram of its beam.
    """
    _require(batch_size >= 1, f"batch_size must be >= 1, got {batch_size}")
    _require(max_length >= 1, f"max_length must be >= 1, got {max_length}")
    _require(beam_size >= 1, f"beam_size must be >= 1, got {beam_size}")
    _require(1 <= n_best <= beam_size, f"n_best must be in [1, beam_size={beam_size}], got {n_best}")
    _require(length_penalty >= 0, f"length_penalty must be >= 0, got {length_penalty}")
    items, width = batch_size, beam_size
    rows = items * width
    device = _state_device(state)
    state = expand_state(state, width)
    tokens = torch.full((rows,), bos_id, dtype=torch.long, device=device)
    item_index = torch.arange(items, device=device)[:, None]  # (B, 1)
    live_scores = torch.full((items, width), float("-inf"), device=device)
    live_scores[:, 0] = 0.0
    live_words = torch.empty((items, width, 0), dtype=torch.long, device=device)
    live_trace: Tensor | None = None
    pool = _HypothesisPool(items, width, device)
    done = torch.zeros(items, dtype=torch.bool, device=device)
    final_penalty = _penalty(max_length, length_penalty)
    for t in range(max_length):
        logprobs, state = step(tokens, state)
        logprobs = logprobs.float()  # (B * K, V)
        vocab_size = logprobs.size(-1)
        if t == 0:
            _check_eos(eos_id, vocab_size)
        if block_repeated_trigrams:
            logprobs = _block_repeated_trigrams(logprobs, live_words.reshape(rows, t))
        if record is not None:
            step_trace = _recorded(state, record, rows)
            step_trace = step_trace.reshape(items, width, 1, *step_trace.shape[1:])  # (B, K, 1, ...)
            if live_trace is None:
                live_trace = step_trace[:, :, :0]

        candidates = (live_scores.reshape(rows, 1) + logprobs).reshape(items, width * vocab_size)
        num_candidates = min(2 * width, width * vocab_size)  # >= K candidates without eos
        top_scores, top_index = candidates.topk(num_candidates, dim=1)  # (B, M), best first
        top_parent = top_index // vocab_size
        top_token = top_index % vocab_size
        top_is_eos = top_token == eos_id

        ends = top_is_eos[:, :width] & top_scores[:, :width].isfinite() & ~done[:, None]  # (B, K)
        if bool(ends.any()):
            parents = top_parent[:, :width]
            end_scores = top_scores[:, :width] / _penalty(t + 1, length_penalty)
            pool.add(
                torch.where(ends, end_scores, float("-inf")),
                live_words[item_index, parents],
                None if live_trace is None else live_trace[item_index, parents],
                ended=True,
            )

        # keep the best K candidates not ending in eos, in rank order
        order = (torch.arange(num_candidates, device=device) + top_is_eos * num_candidates).argsort(dim=1)
        order = order[:, :width]  # (B, K)
        parents = top_parent.gather(1, order)
        next_tokens = top_token.gather(1, order)
        live_scores = top_scores.gather(1, order).masked_fill((next_tokens == eos_id) | done[:, None], float("-inf"))
        live_words = torch.cat([live_words[item_index, parents], next_tokens[:, :, None]], dim=2)  # (B, K, t+1)
        if live_trace is not None:
            live_trace = torch.cat([live_trace, step_trace], dim=2)[item_index, parents]  # (B, K, t+1, ...)
        state = select_state(state, (item_index * width + parents).reshape(rows))
        tokens = next_tokens.reshape(rows)

        if t == max_length - 1:
            pool.add(live_scores / final_penalty, live_words, live_trace, ended=False)
        done = done | (pool.kth_best >= live_scores.max(dim=1).values / final_penalty)
        if bool(done.all()):
            break
    return pool.best(n_best, eos_id=eos_id, pad_id=pad_id, trace_template=live_trace)


class _HypothesisPool:
    """Finished hypotheses of every item, kept as chunks of (B, K) candidates.

    Starts with K empty hypotheses scored -inf per item, so that ``best`` always has enough
    candidates; ``kth_best`` (B,) is the K-th best score pooled so far.
    """

    def __init__(self, items: int, width: int, device: torch.device) -> None:
        self.width = width
        self.scores: list[Tensor] = []
        self.words: list[Tensor] = []
        self.traces: list[Tensor | None] = []
        self.ended: list[bool] = []
        self._top_scores = torch.full((items, width), float("-inf"), device=device)  # (B, K) best first
        self.add(
            self._top_scores,
            torch.empty((items, width, 0), dtype=torch.long, device=device),
            None,
            ended=False,
        )

    @property
    def kth_best(self) -> Tensor:
        """(B,) the K-th best pooled score of each item."""
        return self._top_scores[:, -1]

    def add(self, scores: Tensor, words: Tensor, traces: Tensor | None, *, ended: bool) -> None:
        """Pool (B, K) hypotheses: scores (B, K), words (B, K, L), traces (B, K, L, ...) or None."""
        self.scores.append(scores)
        self.words.append(words)
        self.traces.append(traces)
        self.ended.append(ended)
        self._top_scores = torch.cat([self._top_scores, scores], dim=1).topk(self.width, dim=1).values

    def best(self, n_best: int, *, eos_id: int, pad_id: int, trace_template: Tensor | None) -> BeamOutput:
        """The ``n_best`` highest-scoring pooled hypotheses of each item, best first.

        ``trace_template`` (B, K, L, ...) is any recorded trace (None without ``record``); it gives
        the shape and dtype of the empty traces of the -inf placeholders.
        """
        with_traces = trace_template is not None
        all_scores = torch.cat(self.scores, dim=1)  # (B, C)
        best_scores, best_index = all_scores.topk(n_best, dim=1)  # (B, n)
        chunk_starts = [chunk * self.width for chunk in range(len(self.scores))]
        words = [chunk.tolist() for chunk in self.words]
        hypotheses: list[list[list[int]]] = []
        traces: list[list[Tensor]] = []
        ended = []
        for item, choices in enumerate(best_index.tolist()):
            item_hypotheses, item_traces, item_ended = [], [], []
            for choice in choices:
                chunk = bisect_right(chunk_starts, choice) - 1
                beam = choice - chunk_starts[chunk]
                item_hypotheses.append(words[chunk][item][beam])
                item_ended.append(self.ended[chunk])
                if with_traces:
                    chunk_trace = self.traces[chunk]
                    item_traces.append(
                        chunk_trace[item, beam] if chunk_trace is not None
                        else trace_template.new_empty((0, *trace_template.shape[3:]))
                    )
            hypotheses.append(item_hypotheses)
            traces.append(item_traces)
            ended.append(item_ended)
        ended_tensor = torch.tensor(ended, dtype=torch.bool, device=best_scores.device)
        return BeamOutput(
            hypotheses=hypotheses,
            hypothesis_scores=best_scores,
            hypothesis_ended=ended_tensor,
            tokens=_pad_hypotheses(hypotheses, ended, eos_id, pad_id, best_scores.device),
            hypothesis_traces=traces if with_traces else None,
        )


def _decode(
    step: StepFn,
    state: State,
    choose: Callable[[Tensor], Tensor],
    *,
    batch_size: int,
    bos_id: int,
    eos_id: int,
    max_length: int,
    pad_id: int,
    record: str | None,
) -> DecodeOutput:
    """The loop shared by greedy and sampling: ``choose`` maps (R, V) logprobs to (R,) tokens."""
    tokens = torch.full((batch_size,), bos_id, dtype=torch.long, device=_state_device(state))
    finished = torch.zeros(batch_size, dtype=torch.bool, device=tokens.device)
    scores = torch.zeros(batch_size, device=tokens.device)
    chosen, chosen_logprobs, masks, traces = [], [], [], []
    for t in range(max_length):
        logprobs, state = step(tokens, state)  # (R, V)
        if t == 0:
            _check_eos(eos_id, logprobs.size(-1))
        alive = ~finished
        tokens = torch.where(alive, choose(logprobs), pad_id)
        token_logprobs = logprobs.gather(1, tokens[:, None]).squeeze(1).float()
        token_logprobs = torch.where(alive, token_logprobs, 0.0)
        scores = scores + token_logprobs
        chosen.append(tokens)
        chosen_logprobs.append(token_logprobs)
        masks.append(alive)
        if record is not None:
            traces.append(_recorded(state, record, batch_size))
        finished = finished | (tokens == eos_id)
        if bool(finished.all()):
            break
    tokens_tensor = torch.stack(chosen, dim=1)  # (R, T)
    mask = torch.stack(masks, dim=1)
    ended = ((tokens_tensor == eos_id) & mask).any(dim=1)
    lengths = (mask.sum(dim=1) - ended.long()).tolist()
    sequences = [row[:length] for row, length in zip(tokens_tensor.tolist(), lengths)]
    trace_list = None
    if record is not None:
        stacked = torch.stack(traces, dim=1)  # (R, T, ...)
        trace_list = [stacked[row, :length] for row, length in enumerate(lengths)]
    return DecodeOutput(
        sequences=sequences,
        tokens=tokens_tensor,
        logprobs=torch.stack(chosen_logprobs, dim=1),
        mask=mask,
        scores=scores,
        ended=ended,
        traces=trace_list,
    )


def _block_repeated_trigrams(logprobs: Tensor, history: Tensor) -> Tensor:
    """Set to -inf each token v whose trigram (h[-2], h[-1], v) already occurs in ``history`` (R, t)."""
    length = history.size(1)
    if length < 3:
        return logprobs
    # position i matches when (h[i], h[i+1]) equals the last two words; h[i+2] is then banned
    matches = (history[:, : length - 2] == history[:, -2:-1]) & (history[:, 1 : length - 1] == history[:, -1:])
    banned = torch.zeros_like(logprobs).scatter_add_(1, history[:, 2:], matches.to(logprobs.dtype)) > 0
    return logprobs.masked_fill(banned, float("-inf"))


def _penalty(length: int, alpha: float) -> float:
    """GNMT length penalty ((5 + length) / 6) ** alpha; 1 when alpha is 0."""
    return ((5 + length) / 6) ** alpha


def _pad_hypotheses(
    hypotheses: list[list[list[int]]], ended: list[list[bool]], eos_id: int, pad_id: int, device: torch.device
) -> Tensor:
    """(B, n, T) LongTensor of the hypotheses followed by eos where they ended, then ``pad_id``."""
    rows = [
        [words + [eos_id] if hypothesis_ended else words for words, hypothesis_ended in zip(item, item_ended)]
        for item, item_ended in zip(hypotheses, ended)
    ]
    width = max(len(row) for item in rows for row in item)
    padded = [[row + [pad_id] * (width - len(row)) for row in item] for item in rows]
    return torch.tensor(padded, dtype=torch.long, device=device).reshape(len(rows), len(rows[0]), width)


def _recorded(state: State, key: str, rows: int) -> Tensor:
    """The (rows, ...) tensor under ``key`` of a dict state, or a ConfigError naming the problem."""
    value = state.get(key) if isinstance(state, dict) else None
    if not isinstance(value, Tensor) or value.dim() == 0 or value.size(0) != rows:
        raise ConfigError(f"record={key!r} does not name a batch-first tensor with {rows} rows in the decoder state")
    return value


def _check_eos(eos_id: int, vocab_size: int) -> None:
    _require(0 <= eos_id < vocab_size, f"eos_id={eos_id} is outside the decoder vocabulary of size {vocab_size}")


def _state_device(state: State) -> torch.device:
    """Device of the first tensor found in ``state`` (CPU when it holds none)."""
    tensor = _first_tensor(state)
    return torch.device("cpu") if tensor is None else tensor.device


def _first_tensor(state: State) -> Tensor | None:
    if isinstance(state, Tensor):
        return state
    children = state.values() if isinstance(state, dict) else state if isinstance(state, (tuple, list)) else ()
    for child in children:
        tensor = _first_tensor(child)
        if tensor is not None:
            return tensor
    return None


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)
