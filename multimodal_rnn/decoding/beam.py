"""Batched beam search: all items at once, B * beam_size rows per step.

Only the recurrent state follows the beams: it is gathered at every step with
:func:`~multimodal_rnn.decoding.state.select_state`. The static context is expanded once to
B * beam_size rows and handed, the same object, to every step: the beams of one item always
live on that item's rows, so they share its context without any reordering.
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
    expand_state,
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
    """Beam search over all items at once (the step runs on B * beam_size rows).

    Each step scores every continuation of the ``beam_size`` live beams of an item and keeps the
    best ``beam_size`` that do not end in eos; a continuation ending in eos that ranks among the
    best ``beam_size`` is moved to the item's pool of finished hypotheses and stops growing. At
    ``max_length`` the live beams join the pool unfinished, so a model that never emits eos
    still gets answers. An item stops once its ``beam_size``-th finished score beats anything its
    live beams can still reach (log-probabilities only add negative terms; the bound divides by
    the largest penalty, that of ``max_length``). Only beam 0 is live at the first step, so the
    beams start distinct.

    ``state`` and ``context`` hold B = ``batch_size`` items. Both are expanded once to B * K
    rows (K = ``beam_size``); after every step the state's rows are gathered from the parent
    beams, while the context is never touched again: every step receives the same object.

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
    items, width = batch_size, beam_size
    rows = items * width
    device = state_device(state, context)
    state = expand_state(state, width)  # (B * K, ...): gathered along the beams at every step
    context = expand_state(context, width)  # (B * K, ...) once: beam j of item b reads row b*K + j
    tokens = torch.full((rows,), bos_id, dtype=torch.long, device=device)
    item_index = torch.arange(items, device=device)[:, None]  # (B, 1)
    live_scores = torch.full((items, width), float("-inf"), device=device)
    live_scores[:, 0] = 0.0
    live_words = torch.empty((items, width, 0), dtype=torch.long, device=device)
    live_trace: Tensor | None = None
    pool = HypothesisPool(items, width, device)
    done = torch.zeros(items, dtype=torch.bool, device=device)
    final_penalty = _penalty(max_length, length_penalty)
    for t in range(max_length):
        logprobs, state = step(tokens, state, context)
        logprobs = logprobs.float()  # (B * K, V)
        vocab_size = logprobs.size(-1)
        if t == 0:
            check_eos(eos_id, vocab_size)
        if block_repeated_trigrams:
            logprobs = _block_repeated_trigrams(logprobs, live_words.reshape(rows, t))
        if record is not None:
            step_trace = recorded(state, record, rows)
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
