"""The token-by-token loop shared by greedy decoding and sampling (one row per sequence, no beams)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from multimodal_rnn.decoding.checks import check_eos
from multimodal_rnn.decoding.outputs import DecodeOutput
from multimodal_rnn.decoding.state import Context, State, StepFn, recorded, state_device


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
) -> DecodeOutput:
    """Run ``step`` on ``rows`` rows until every row emitted eos or ``max_length`` steps ran.

    ``choose`` maps (R, V) log-probabilities to the (R,) next tokens; rows that ended are fed
    ``pad_id``. ``state`` and ``context`` already have R rows; ``context`` goes unchanged to
    every step.
    """
    tokens = torch.full((rows,), bos_id, dtype=torch.long, device=state_device(state, context))
    finished = torch.zeros(rows, dtype=torch.bool, device=tokens.device)
    scores = torch.zeros(rows, device=tokens.device)
    chosen, chosen_logprobs, masks, traces = [], [], [], []
    for t in range(max_length):
        logprobs, state = step(tokens, state, context)  # (R, V)
        if t == 0:
            check_eos(eos_id, logprobs.size(-1))
        alive = ~finished
        tokens = torch.where(alive, choose(logprobs), pad_id)
        token_logprobs = logprobs.gather(1, tokens[:, None]).squeeze(1).float()
        token_logprobs = torch.where(alive, token_logprobs, 0.0)
        scores = scores + token_logprobs
        chosen.append(tokens)
        chosen_logprobs.append(token_logprobs)
        masks.append(alive)
        if record is not None:
            traces.append(recorded(state, record, rows))
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
