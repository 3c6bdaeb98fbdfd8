"""Sampling: each token drawn from the (tempered, top-k restricted) model distribution."""

from __future__ import annotations

import torch
from torch import Tensor

from multimodal_rnn.decoding.checks import require
from multimodal_rnn.decoding.loop import decode_rows
from multimodal_rnn.decoding.outputs import DecodeOutput
from multimodal_rnn.decoding.state import Context, State, StepFn, expand_state


def sample_decode(
    step: StepFn,
    state: State,
    context: Context = None,
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

    Every item of ``state`` and ``context`` is expanded ``num_samples`` times, once: output row
    b * num_samples + j is sample j of item b, and every step gets the same expanded context.
    ``generator`` (on the device of the logprobs) makes runs reproducible. The returned
    ``logprobs``/``scores`` are those of the model itself (before temperature and top-k), with
    the autograd graph of ``step`` kept: self-critical training backpropagates through ``scores``.
    """
    require(batch_size >= 1, f"batch_size must be >= 1, got {batch_size}")
    require(max_length >= 1, f"max_length must be >= 1, got {max_length}")
    require(temperature > 0, f"temperature must be > 0, got {temperature}")
    require(top_k is None or top_k >= 1, f"top_k must be >= 1 or None, got {top_k}")
    require(num_samples >= 1, f"num_samples must be >= 1, got {num_samples}")

    def choose(logprobs: Tensor) -> Tensor:
        scaled = logprobs.detach().float() / temperature  # (R, V)
        if top_k is not None and top_k < scaled.size(-1):
            kth_best = scaled.topk(top_k, dim=-1).values[:, -1:]  # (R, 1)
            scaled = scaled.masked_fill(scaled < kth_best, float("-inf"))
        probs = torch.softmax(scaled, dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)

    return decode_rows(
        step,
        expand_state(state, num_samples),
        expand_state(context, num_samples),
        choose,
        rows=batch_size * num_samples,
        bos_id=bos_id,
        eos_id=eos_id,
        max_length=max_length,
        pad_id=pad_id,
        record=record,
        compact=False,
    )
