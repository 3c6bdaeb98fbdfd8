"""Greedy decoding and batched beam search in numpy over an exported step: the library's algorithms.

These are :func:`multimodal_rnn.decoding.greedy_decode` and
:func:`multimodal_rnn.decoding.beam_search` for an onnxruntime session instead of a PyTorch
``step``, with the same conventions and the same results: ``max_length`` counts the eos; a score
is the float32 sum of the natural-log probabilities of the generated tokens (eos included when
emitted), divided by the GNMT penalty ``((5 + length) / 6) ** alpha`` with ``length_penalty``;
ranks break ties by position (the lower candidate index first). Both compact: the step runs only
on rows that can still change an answer (see :mod:`multimodal_rnn.decoding`): a greedy row until
its eos, a beam while it can beat its item's ``n_best``-th finished hypothesis. The context is
gathered only when the items of the rows change.

``step(tokens (R,) int64, state, context) -> (logprobs (R, V) float32, state)``, where ``state``
and ``context`` map names to batch-first arrays (rows = R). ``record`` names a state array read
after every step, returned per sequence as a (len(sequence), ...) array (the attention weights).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from multimodal_rnn.errors import ConfigError
from multimodal_rnn.runtime.hypotheses import BeamResult, HypothesisPool

Arrays = dict[str, np.ndarray]
StepFn = Callable[[np.ndarray, Arrays, Arrays], tuple[np.ndarray, Arrays]]


@dataclass(frozen=True)
class GreedyResult:
    """Per row: ``sequences`` (token ids without bos and eos), ``scores`` (B,) float32, ``ended``
    (B,) bool (False: cut at ``max_length``) and, with ``record``, ``traces`` ((len, ...) arrays)."""

    sequences: list[list[int]]
    scores: np.ndarray
    ended: np.ndarray
    traces: list[np.ndarray] | None


def select(arrays: Arrays, index: np.ndarray) -> Arrays:
    """The rows ``index`` of every array."""
    return {name: array[index] for name, array in arrays.items()}


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def greedy_search(
    step: StepFn,
    state: Arrays,
    context: Arrays,
    *,
    batch_size: int,
    bos_id: int,
    eos_id: int,
    max_length: int,
    pad_id: int = 0,
    record: str | None = None,
) -> GreedyResult:
    """The most probable token at every step until eos or ``max_length``; an ended row leaves the batch."""
    _require(batch_size >= 1, f"batch_size must be >= 1, got {batch_size}")
    _require(max_length >= 1, f"max_length must be >= 1, got {max_length}")
    rows = batch_size
    tokens = np.full(rows, bos_id, dtype=np.int64)
    active: np.ndarray | None = None  # output rows of the rows the step runs on; None: all, in order
    finished = np.zeros(rows, dtype=bool)
    scores = np.zeros(rows, dtype=np.float32)
    chosen, masks, traces = [], [], []
    for t in range(max_length):
        logprobs, state = step(tokens, state, context)  # (A, V)
        if t == 0:
            _check_eos(eos_id, logprobs.shape[-1])
        alive = ~finished if active is None else ~finished[active]
        tokens = np.where(alive, logprobs.argmax(axis=-1), pad_id).astype(np.int64)
        token_logprobs = np.take_along_axis(logprobs, tokens[:, None], axis=1)[:, 0].astype(np.float32)
        token_logprobs = np.where(alive, token_logprobs, np.float32(0.0))
        step_tokens = _spread(tokens, active, rows, pad_id)
        scores = scores + _spread(token_logprobs, active, rows, 0.0)
        chosen.append(step_tokens)
        masks.append(_spread(alive, active, rows, False))
        if record is not None:
            traces.append(_spread(state[record], active, rows, 0.0))
        finished = finished | (step_tokens == eos_id)
        if bool(finished.all()):
            break
        ending = tokens == eos_id
        if bool(ending.any()):
            running = np.flatnonzero(~ending)
            state, context = select(state, running), select(context, running)
            tokens = tokens[running]
            active = running if active is None else active[running]
    token_table, mask = np.stack(chosen, axis=1), np.stack(masks, axis=1)  # (B, T)
    ended = ((token_table == eos_id) & mask).any(axis=1)
    lengths = (mask.sum(axis=1) - ended).tolist()
    sequences = [row[:length] for row, length in zip(token_table.tolist(), lengths)]
    trace_list = None
    if record is not None:
        stacked = np.stack(traces, axis=1)  # (B, T, ...)
        trace_list = [stacked[row, :length] for row, length in enumerate(lengths)]
    return GreedyResult(sequences, scores, ended, trace_list)


def beam_search(
    step: StepFn,
    state: Arrays,
    context: Arrays,
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
) -> BeamResult:
    """Beam search over all items at once, on the live beams only (rows grouped by item, in item order).

    Each step scores every continuation of an item's live beams and keeps the best ``beam_size``
    that do not end in eos; an eos continuation ranking among the best ``beam_size`` is pooled as
    a finished hypothesis; at ``max_length`` the live beams are pooled unfinished. A beam is
    dropped once its item's ``n_best``-th pooled score is at least the best its descendants can
    reach, an item with its last beam. The first step runs one beam per item.
    """
    _require(batch_size >= 1, f"batch_size must be >= 1, got {batch_size}")
    _require(max_length >= 1, f"max_length must be >= 1, got {max_length}")
    _require(beam_size >= 1, f"beam_size must be >= 1, got {beam_size}")
    _require(1 <= n_best <= beam_size, f"n_best must be in [1, beam_size={beam_size}], got {n_best}")
    _require(length_penalty >= 0, f"length_penalty must be >= 0, got {length_penalty}")
    width = beam_size
    pool = HypothesisPool(batch_size, n_best, max_length, pad_id)
    items = np.arange(batch_size)  # (I,) the live items
    counts = np.ones(batch_size, dtype=np.int64)  # (I,) live beams per live item; rows item-major, slots in rank order
    scores = np.zeros(batch_size, dtype=np.float32)  # (R,)
    words = np.zeros((batch_size, 0), dtype=np.int64)  # (R, t)
    trace: np.ndarray | None = None  # (R, t, ...) with record
    tokens = np.full(batch_size, bos_id, dtype=np.int64)
    for t in range(max_length):
        logprobs, state = step(tokens, state, context)
        logprobs = logprobs.astype(np.float32, copy=False)  # (R, V)
        rows, vocab_size = logprobs.shape
        if t == 0:
            _check_eos(eos_id, vocab_size)
        if block_repeated_trigrams:
            logprobs = _block_repeated_trigrams(logprobs, words)
        step_trace = None
        if record is not None:
            step_trace = state[record][:, None]  # (R, 1, ...)
            trace = step_trace[:, :0] if trace is None else trace
        live, per_item = len(items), int(counts.max())
        offsets = np.cumsum(counts) - counts  # (I,) first row of each live item
        position = np.repeat(np.arange(live), counts)  # (R,) the live item of each row
        slot = np.arange(rows) - offsets[position]
        # candidates (I, c * V): continuation v of the beam in slot j of live item i at j * V + v
        grid = np.full((live, per_item, vocab_size), -np.inf, dtype=np.float32)
        grid[position, slot] = scores[:, None] + logprobs
        candidates = grid.reshape(live, per_item * vocab_size)
        top_index = _top_indices(candidates, min(2 * width, candidates.shape[1]))  # (I, M), best first
        top_scores = np.take_along_axis(candidates, top_index, axis=1)
        top_slot, top_token = top_index // vocab_size, top_index % vocab_size
        top_parent = np.where(top_slot < counts[:, None], offsets[:, None] + top_slot, 0)  # junk where -inf
        top_is_eos = top_token == eos_id

        ends = top_is_eos[:, :width]  # (I, K)
        if bool(ends.any()):
            parents = top_parent[:, :width]
            end_scores = _penalised(top_scores[:, :width], t + 1, length_penalty)
            pool.add(
                items,
                np.where(ends, end_scores, -np.inf).astype(np.float32),
                words[parents],
                None if trace is None else trace[parents],
                ended=True,
            )

        order = np.argsort(top_is_eos, axis=1, kind="stable")[:, :width]  # the best K not ending in eos
        parents = np.take_along_axis(top_parent, order, axis=1)
        next_tokens = np.take_along_axis(top_token, order, axis=1)
        next_scores = np.where(
            next_tokens == eos_id, np.float32(-np.inf), np.take_along_axis(top_scores, order, axis=1)
        )
        bounds = _penalised(next_scores, max_length, length_penalty)  # the best any descendant can reach
        if trace is not None and step_trace is not None:
            trace = np.concatenate([trace, step_trace], axis=1)
        if t == max_length - 1:
            grown = np.concatenate([words[parents], next_tokens[:, :, None]], axis=2)  # (I, K, t+1)
            pool.add(items, bounds, grown, None if trace is None else trace[parents], ended=False)
            break
        keep = bounds > pool.threshold(items)[:, None]  # (I, K), a prefix of each row
        kept_position, kept_slot = np.nonzero(keep)  # item-major, slots in rank order
        if len(kept_position) == 0:
            break
        parent_rows = parents[kept_position, kept_slot]
        if len(parent_rows) != rows or bool((position[parent_rows] != position).any()):
            context = select(context, parent_rows)  # the row set changed: some row has another item
        item_alive = keep.any(axis=1)
        counts, items = keep.sum(axis=1)[item_alive], items[item_alive]
        tokens, scores = next_tokens[kept_position, kept_slot], next_scores[kept_position, kept_slot]
        state = select(state, parent_rows)
        words = np.concatenate([words[parent_rows], tokens[:, None]], axis=1)
        if trace is not None:
            trace = trace[parent_rows]
    return pool.best(eos_id=eos_id)


def _top_indices(values: np.ndarray, count: int) -> np.ndarray:
    """(I, count) column indices of the ``count`` largest values of each row, best first, ties by index."""
    if count < values.shape[1]:
        part = np.argpartition(-values, count - 1, axis=1)[:, :count]
        order = np.lexsort((part, -np.take_along_axis(values, part, axis=1)), axis=1)
        return np.take_along_axis(part, order, axis=1)
    return np.argsort(-values, axis=1, kind="stable")


def _block_repeated_trigrams(logprobs: np.ndarray, history: np.ndarray) -> np.ndarray:
    """-inf for each token v whose trigram (h[-2], h[-1], v) already occurs in ``history`` (R, t)."""
    length = history.shape[1]
    if length < 3:
        return logprobs
    matches = (history[:, : length - 2] == history[:, -2:-1]) & (history[:, 1 : length - 1] == history[:, -1:])
    rows, starts = np.nonzero(matches)
    banned = np.zeros(logprobs.shape, dtype=bool)
    banned[rows, history[rows, starts + 2]] = True
    return np.where(banned, np.float32(-np.inf), logprobs)


def _penalised(scores: np.ndarray, length: int, alpha: float) -> np.ndarray:
    """``scores`` divided by the GNMT penalty ((5 + length) / 6) ** alpha (themselves when alpha is 0), float32."""
    return scores if alpha == 0 else (scores / np.float32(((5 + length) / 6) ** alpha)).astype(np.float32)


def _spread(values: np.ndarray, active: np.ndarray | None, rows: int, fill: float | bool) -> np.ndarray:
    """(A, ...) values of the ``active`` rows -> (rows, ...), ``fill`` elsewhere."""
    if active is None:
        return values
    spread = np.full((rows, *values.shape[1:]), fill, dtype=values.dtype)
    spread[active] = values
    return spread


def _check_eos(eos_id: int, vocab_size: int) -> None:
    _require(0 <= eos_id < vocab_size, f"eos_id={eos_id} is outside the decoder vocabulary of size {vocab_size}")
