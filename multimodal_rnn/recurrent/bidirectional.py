"""Sequences read both ways with the shared core: a forward :class:`RecurrentCore` and, optionally,
a backward one that reads each sequence reversed within its length.

Many-to-one and many-to-many heads over per-frame features (action recognition, frame labeling)
run whole padded sequences (B, T, I) through :meth:`SequenceCores.forward`; the outputs are
(B, T, D * H), D = 2 directions when bidirectional (forward features first, then backward, as
``torch.nn.LSTM`` orders them), and the backward outputs are put back in time order, so output t
of either direction belongs to input step t. Each direction is its own stack of ``num_layers``
layers (the backward stack never reads the forward one's outputs). Padded steps output zeros.
"""

from __future__ import annotations

import torch
from torch import nn

from multimodal_rnn.recurrent.core import CoreConfig, RecurrentCore
from multimodal_rnn.recurrent.sequences import reverse_padded, step_mask


class SequenceCores(nn.Module):
    """One or two :class:`RecurrentCore` built from ``config``: (B, T, I) -> (B, T, D*H) and the last states.

    Attributes:
        forward_core: reads steps 0 .. length-1.
        backward_core: reads steps length-1 .. 0 (None when not bidirectional).
        output_size: D * H.
    """

    def __init__(self, config: CoreConfig, *, bidirectional: bool = False) -> None:
        super().__init__()
        self.forward_core = RecurrentCore(config)
        self.backward_core = RecurrentCore(config) if bidirectional else None
        self.num_directions = 2 if bidirectional else 1
        self.output_size = self.num_directions * config.hidden_size

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, I), lengths (B,) in 1..T or None (all T) -> outputs (B, T, D*H) in time order,
        and summary (B, D*H): the forward core's output at the last real step, concatenated with
        the backward core's output at step 0 (the one that has read the whole sequence)."""
        outputs, _ = self.forward_core(x, lengths)  # (B, T, H)
        last = _at_last_step(outputs, lengths)  # (B, H)
        if self.backward_core is None:
            return outputs, last
        backward, _ = self.backward_core(reverse_padded(x, lengths), lengths)  # (B, T, H), reversed time
        backward = reverse_padded(backward, lengths)  # time order: step t read steps t .. length-1
        return torch.cat([outputs, backward], dim=2), torch.cat([last, backward[:, 0]], dim=1)


def _at_last_step(outputs: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    if lengths is None:
        return outputs[:, -1]
    index = (lengths.to(outputs.device) - 1).clamp(min=0)  # (B,)
    return outputs[torch.arange(outputs.shape[0], device=outputs.device), index]


def masked_mean(values: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """values (B, T, F) -> their mean over each sequence's real steps (B, F)."""
    if lengths is None:
        return values.mean(dim=1)
    mask = step_mask(lengths.to(values.device), values.shape[1]).to(values.dtype)[:, :, None]  # (B, T, 1)
    return (values * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
