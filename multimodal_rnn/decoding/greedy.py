"""Greedy decoding: the most probable token at every step."""

from __future__ import annotations

from multimodal_rnn.decoding.checks import require
from multimodal_rnn.decoding.loop import decode_rows
from multimodal_rnn.decoding.outputs import DecodeOutput
from multimodal_rnn.decoding.state import Context, State, StepFn


def greedy_decode(
    step: StepFn,
    state: State,
    context: Context = None,
    *,
    batch_size: int,
    bos_id: int,
    eos_id: int,
    max_length: int,
    pad_id: int = 0,
    record: str | None = None,
) -> DecodeOutput:
    """Pick the most probable token at every step until eos or ``max_length``.

    ``state`` and ``context`` hold B = ``batch_size`` items; the first step gets them as given.
    A row that emitted eos leaves the batch: after a step where some row ended, the state and
    the context are gathered to the rows still running, so ``step`` only runs on those (the
    outputs still have B rows, ``pad_id`` after the eos). Call under ``torch.no_grad()`` when no
    gradient is needed.
    """
    require(batch_size >= 1, f"batch_size must be >= 1, got {batch_size}")
    require(max_length >= 1, f"max_length must be >= 1, got {max_length}")
    return decode_rows(
        step,
        state,
        context,
        lambda logprobs: logprobs.argmax(dim=-1),
        rows=batch_size,
        bos_id=bos_id,
        eos_id=eos_id,
        max_length=max_length,
        pad_id=pad_id,
        record=record,
        compact=True,
    )
