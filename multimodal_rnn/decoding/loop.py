"""The token-by-token loop shared by greedy decoding and sampling (one row per sequence, no beams)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from multimodal_rnn.decoding.checks import check_eos
from multimodal_rnn.decoding.outputs import DecodeOutput
from multimodal_rnn.decoding.state import Context, State, StepFn, recorded, select_state, state_device


def decode_rows(
    step: StepFn,
    state: State,
    context: Context,
    choose: Callable[[Tensor], Tensor],
    *,
    rows: int,
    bos_id: int,
    eos_id: int,
    max_length: int,
    pad_id: int,
    record: str | None,
    compact: bool,
) -> DecodeOutput:
    """Run ``step`` on ``rows`` rows until every row emitted eos or ``max_length`` steps ran.

    ``choose`` maps (A, V) log-probabilities to the (A,) next tokens. ``state`` and ``context``
    start with R = ``rows`` rows. With ``compact``, a row that emitted eos leaves: the state and
    the context are gathered to the rows still running whenever some row ended, so ``step`` and
    ``choose`` only see those. Without it every row runs to the end, the ended ones fed
    ``pad_id``, and ``context`` goes unchanged to every step (sampling keeps every row so that a
    seeded generator draws the same numbers as with a fixed batch).
    """
    tokens = torch.full((rows,), bos_id, dtype=torch.long, device=state_device(state, context))
    active: Tensor | None = None  # the rows ``step`` runs on, as output rows; None: all of them in order
    finished = torch.zeros(rows, dtype=torch.bool, device=tokens.device)
    scores = torch.zeros(rows, device=tokens.device)
    chosen, chosen_logprobs, masks, traces = [], [], [], []
    for t in range(max_length):
        logprobs, state = step(tokens, state, context)  # (A, V)
        if t == 0:
            check_eos(eos_id, logprobs.size(-1))
        alive = ~finished if active is None else ~finished[active]
        tokens = torch.where(alive, choose(logprobs), pad_id)
        token_logprobs = logprobs.gather(1, tokens[:, None]).squeeze(1).float()
        token_logprobs = torch.where(alive, token_logprobs, 0.0)
        step_tokens = _spread(tokens, active, rows, pad_id)
        step_logprobs = _spread(token_logprobs, active, rows, 0.0)
        scores = scores + step_logprobs
        chosen.append(step_tokens)
        chosen_logprobs.append(step_logprobs)
        masks.append(_spread(alive, active, rows, False))
        if record is not None:
            traces.append(_spread(recorded(state, record, len(tokens)), active, rows, 0.0))
        finished = finished | (step_tokens == eos_id)
        if bool(finished.all()):
            break
        ending = tokens == eos_id  # (A,)
        if compact and bool(ending.any()):
            running = (~ending).nonzero().squeeze(1)
            state, context = select_state(state, running), select_state(context, running)
            tokens = tokens[running]
            active = running if active is None else active[running]
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


def _spread(values: Tensor, active: Tensor | None, rows: int, fill: float | bool) -> Tensor:
    """(A, ...) values of the ``active`` rows -> (R, ...), ``fill`` elsewhere (autograd kept)."""
    if active is None:
        return values
    return values.new_full((rows, *values.shape[1:]), fill).index_copy(0, active, values)
