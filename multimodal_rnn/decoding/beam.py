"""Batched beam search that compacts: the step runs only on the live beams of unfinished items.

Rows are the live beams, grouped by item in item order; a beam lives on while it can still beat
its item's ``n_best``-th finished hypothesis, an item while it has a live beam. The recurrent
state is gathered from the parent beams after every step with
:func:`~multimodal_rnn.decoding.state.select_state`; the static context only when the row set
changes (a beam or an item left, or the first step's single beam per item branched out):
reordering beams within an item never touches it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from multimodal_rnn.decoding.checks import check_eos, require
from multimodal_rnn.decoding.hypotheses import HypothesisPool
from multimodal_rnn.decoding.outputs import BeamOutput
from multimodal_rnn.decoding.state import (
    Context,
    State,
    StepFn,
    recorded,
    select_state,
    state_device,
)


def beam_search(
    step: StepFn,
    state: State,
    context: Context = None,
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
    """Beam search over all items at once, on the live beams only.

    Each step scores every continuation of an item's live beams (at most ``beam_size``, K) and
    keeps the best K that do not end in eos; a continuation ending in eos that ranks among the
    best K is pooled as a finished hypothesis. At ``max_length`` the live beams are pooled
    unfinished, so a model that never emits eos still gets answers. A live beam is dropped once
    its item's ``n_best``-th pooled score is at least the best its descendants can reach
    (log-probabilities only add negative terms; the bound divides by the largest penalty, that
    of ``max_length``), and an item stops with its last beam. Dropping such beams changes no
    answer: every hypothesis they (or the candidates they outrank) could still produce scores
    at most that threshold. The first step runs one beam per item, so the beams start distinct.

    ``state`` and ``context`` hold B = ``batch_size`` items, one row each: the first step runs
    on them as given. After every step the state's rows are gathered from the parent beams; the
    context's rows only when the row set changes.

    Args:
        length_penalty: alpha >= 0 of the GNMT penalty ((5 + length) / 6) ** alpha dividing the
            final scores; 0 keeps the plain sum of log-probabilities.
        n_best: hypotheses returned per item, 1 <= n_best <= beam_size.
        block_repeated_trigrams: forbid a token that would repeat a trigram of its beam.
    """
    require(batch_size >= 1, f"batch_size must be >= 1, got {batch_size}")
    require(max_length >= 1, f"max_length must be >= 1, got {max_length}")
    require(beam_size >= 1, f"beam_size must be >= 1, got {beam_size}")
    require(1 <= n_best <= beam_size, f"n_best must be in [1, beam_size={beam_size}], got {n_best}")
    require(length_penalty >= 0, f"length_penalty must be >= 0, got {length_penalty}")
    width = beam_size
    device = state_device(state, context)
    pool = HypothesisPool(batch_size, n_best, max_length, pad_id, device)
    # One row per live beam, grouped by item. Row r is the beam in slot[r] (its rank when chosen:
    # an item's beams are always slots 0 .. c-1) of the live item items[position[r]]. When every
    # live item has the same number c of beams, ``per_item`` is c and slot j of item position i is
    # row i * c + j (position and slot are then implied, None).
    items = torch.arange(batch_size, device=device)  # (I,) the live items
    per_item: int | None = 1
    position: Tensor | None = None  # (R,)
    slot: Tensor | None = None  # (R,)
    scores = torch.zeros(batch_size, device=device)  # (R,)
    words = torch.empty((batch_size, 0), dtype=torch.long, device=device)  # (R, t)
    trace: Tensor | None = None  # (R, t, ...) with record
    tokens = torch.full((batch_size,), bos_id, dtype=torch.long, device=device)
    for t in range(max_length):
        logprobs, state = step(tokens, state, context)
        logprobs = logprobs.float()  # (R, V)
        rows, vocab_size = logprobs.shape
        if t == 0:
            check_eos(eos_id, vocab_size)
        if block_repeated_trigrams:
            logprobs = _block_repeated_trigrams(logprobs, words)
        if record is not None:
            step_trace = recorded(state, record, rows)[:, None]  # (R, 1, ...)
            trace = step_trace[:, :0] if trace is None else trace

        # candidates (I, c * V) or (I, K * V): continuation v of the beam in slot j of live item i at j * V + v
        live = len(items)
        if per_item is not None:
            candidates = (scores[:, None] + logprobs).reshape(live, per_item * vocab_size)
        else:
            assert position is not None and slot is not None
            grid_rows = position * width + slot
            candidates = logprobs.new_full((live * width, vocab_size), float("-inf"))
            candidates.index_copy_(0, grid_rows, scores[:, None] + logprobs)
            candidates = candidates.reshape(live, width * vocab_size)
            row_of = torch.zeros(live * width, dtype=torch.long, device=device)
            row_of = row_of.index_copy_(0, grid_rows, torch.arange(rows, device=device)).reshape(live, width)
        num_candidates = min(2 * width, candidates.shape[1])  # >= K candidates without eos, if there are K
        top_scores, top_index = candidates.topk(num_candidates, dim=1)  # (I, M), best first
        top_slot = top_index // vocab_size
        if live == 1:  # parent rows (I, M); junk where the score is -inf
            top_parent = top_slot
        elif per_item is not None:
            top_parent = top_slot + torch.arange(0, rows, per_item, device=device)[:, None]
        else:
            top_parent = row_of.gather(1, top_slot)
        top_token = top_index % vocab_size
        top_is_eos = top_token == eos_id

        ends = top_is_eos[:, :width]  # (I, K); an end scored -inf changes nothing in the pool
        if bool(ends.any()):
            parents = top_parent[:, :width]
            end_scores = _penalised(top_scores[:, :width], t + 1, length_penalty)
            pool.add(
                items,
                torch.where(ends, end_scores, float("-inf")),
                words[parents],
                None if trace is None else trace[parents],
                ended=True,
            )

        # the best K candidates not ending in eos, in rank order: slots 0 .. K-1 of the next step
        order = top_is_eos.byte().argsort(dim=1, stable=True)[:, :width]  # (I, K)
        parents = top_parent.gather(1, order)
        next_tokens = top_token.gather(1, order)
        next_scores = top_scores.gather(1, order).masked_fill(next_tokens == eos_id, float("-inf"))
        bounds = _penalised(next_scores, max_length, length_penalty)  # the best any descendant can reach
        if trace is not None:
            trace = torch.cat([trace, step_trace], dim=1)
        if t == max_length - 1:
            grown = torch.cat([words[parents], next_tokens[:, :, None]], dim=2)  # (I, K, t+1)
            pool.add(items, bounds, grown, None if trace is None else trace[parents], ended=False)
            break
        keep = bounds > pool.threshold(items)  # (I, K); never a -inf score
        if bool(keep.all()):  # every live item keeps the same number of beams
            parent_rows = parents.reshape(-1)
            if per_item != keep.shape[1]:
                context = select_state(context, parent_rows)  # the row set changed: c rows per item now
            per_item, position, slot = keep.shape[1], None, None
            kept_tokens, scores = next_tokens.reshape(-1), next_scores.reshape(-1)
        else:
            kept_position, kept_slot = keep.nonzero(as_tuple=True)  # (R',) item-major, slots in rank order
            if len(kept_position) == 0:
                break
            parent_rows = parents[kept_position, kept_slot]
            if live == 1:
                changed = len(parent_rows) != rows
            else:
                if position is None:
                    position = torch.arange(live, device=device).repeat_interleave(rows // live)
                changed = len(parent_rows) != rows or not bool((position[parent_rows] == position).all())
            if changed:
                context = select_state(context, parent_rows)  # the row set changed: some row has another item
            item_alive = keep.any(dim=1)
            counts = keep.sum(dim=1)[item_alive]  # (I',) beams per live item
            items = items[item_alive]
            if len(items) == 1 or bool((counts == counts[0]).all()):
                per_item, position, slot = int(counts[0]), None, None
            else:
                per_item, position, slot = None, (item_alive.cumsum(0) - 1)[kept_position], kept_slot
            kept_tokens, scores = next_tokens[kept_position, kept_slot], next_scores[kept_position, kept_slot]
        state = select_state(state, parent_rows)
        words = torch.cat([words[parent_rows], kept_tokens[:, None]], dim=1)
        if trace is not None:
            trace = trace[parent_rows]
        tokens = kept_tokens
    return pool.best(eos_id=eos_id)


def _block_repeated_trigrams(logprobs: Tensor, history: Tensor) -> Tensor:
    """Set to -inf each token v whose trigram (h[-2], h[-1], v) already occurs in ``history`` (R, t)."""
    length = history.size(1)
    if length < 3:
        return logprobs
    # position i matches when (h[i], h[i+1]) equals the last two words; h[i+2] is then banned
    matches = (history[:, : length - 2] == history[:, -2:-1]) & (history[:, 1 : length - 1] == history[:, -1:])
    banned = torch.zeros_like(logprobs).scatter_add_(1, history[:, 2:], matches.to(logprobs.dtype)) > 0
    return logprobs.masked_fill(banned, float("-inf"))


def _penalised(scores: Tensor, length: int, alpha: float) -> Tensor:
    """``scores`` divided by the GNMT length penalty ((5 + length) / 6) ** alpha (themselves when alpha is 0)."""
    return scores if alpha == 0 else scores / ((5 + length) / 6) ** alpha
