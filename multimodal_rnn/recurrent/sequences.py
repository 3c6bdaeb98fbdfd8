"""Variable-length batches: lengths, masks and per-sequence reversal.

A padded batch is (B, T, ·) with each sequence left-aligned: sequence b occupies steps
``0 .. lengths[b] - 1`` and the rest is padding. A mask is the boolean (B, T) form of the same
information (True on real steps) and must therefore be a prefix of each row.
"""

from __future__ import annotations

import torch

from multimodal_rnn.errors import InputError


def resolve_lengths(
    batch_size: int, steps: int, lengths: torch.Tensor | None, mask: torch.Tensor | None
) -> torch.Tensor | None:
    """Return validated integer lengths (B,) from ``lengths`` or ``mask``, or None for full length.

    Raises:
        InputError: both given, wrong shape or dtype, a length outside 1..T, or a mask that is
            not True on a prefix of each row. The range of the lengths is not checked while
            ``torch.export`` traces (ONNX export): a graph cannot branch on values; its caller
            (:mod:`multimodal_rnn.runtime`) keeps them in range.
    """
    if lengths is not None and mask is not None:
        raise InputError("recurrent input: pass lengths or mask, not both")
    if mask is not None:
        if mask.dtype != torch.bool or tuple(mask.shape) != (batch_size, steps):
            raise InputError(
                f"recurrent input: mask must be a bool tensor of shape ({batch_size}, {steps}), "
                f"got {mask.dtype} {tuple(mask.shape)}"
            )
        lengths = mask.sum(dim=1)
        if not torch.equal(mask, step_mask(lengths, steps)):
            raise InputError("recurrent input: mask must be True on a prefix of each row (right padding only)")
    if lengths is None:
        return None
    if lengths.dtype.is_floating_point or lengths.dtype == torch.bool or tuple(lengths.shape) != (batch_size,):
        raise InputError(
            f"recurrent input: lengths must be an integer tensor of shape ({batch_size},), "
            f"got {lengths.dtype} {tuple(lengths.shape)}"
        )
    if batch_size and not _exporting() and (int(lengths.min()) < 1 or int(lengths.max()) > steps):
        raise InputError(
            f"recurrent input: lengths must lie in 1..{steps} (the padded length), "
            f"got min {int(lengths.min())}, max {int(lengths.max())}"
        )
    return lengths


def _exporting() -> bool:
    """Whether ``torch.export`` is tracing (``torch.compiler.is_exporting``, torch 2.5 and later)."""
    is_exporting = getattr(torch.compiler, "is_exporting", None)
    return bool(is_exporting()) if is_exporting is not None else False


def step_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """lengths (B,) -> bool (B, T), True where step t < length."""
    return torch.arange(steps, device=lengths.device) < lengths[:, None]


def reverse_padded(sequence: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Reverse each sequence of ``sequence`` (B, T, D) within its length; padding stays at the end.

    ``out[b, t] = sequence[b, lengths[b] - 1 - t]`` for t < lengths[b], else ``sequence[b, t]``.
    The operation is its own inverse.
    """
    if lengths is None:
        return sequence.flip(1)
    steps = sequence.shape[1]
    positions = torch.arange(steps, device=sequence.device)  # (T,)
    lengths = lengths.to(sequence.device)[:, None]  # (B, 1)
    source = torch.where(positions < lengths, lengths - 1 - positions, positions)  # (B, T)
    return sequence.gather(1, source[:, :, None].expand_as(sequence))
