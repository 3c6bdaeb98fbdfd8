"""Weight initializers for recurrent cells, applied gate by gate.

A GRU or LSTM weight stacks its gates along dim 0 in PyTorch's order (GRU: r, z, n; LSTM:
i, f, g, o), so ``weight_ih`` is ``(gates * hidden_size, input_size)``. Every scheme here treats
each ``(hidden_size, ·)`` gate block as its own matrix: an orthogonal recurrent weight has
``W W^T = I`` for each gate block, and a Glorot bound is ``sqrt(6 / (fan_in + hidden_size))``.
The Keras defaults of ``SimpleRNN`` are ``xavier_uniform`` kernels (Keras: glorot_uniform),
``orthogonal`` recurrent kernels and ``zeros`` biases.
"""

from __future__ import annotations

import math

import torch
from torch import nn

WEIGHT_INITS = ("xavier_uniform", "xavier_normal", "orthogonal", "uniform")
"""Schemes for weight matrices. ``uniform`` is PyTorch's default U(-1/sqrt(H), 1/sqrt(H))."""

BIAS_INITS = ("zeros", "uniform")
"""Schemes for bias vectors. ``uniform`` is PyTorch's default U(-1/sqrt(H), 1/sqrt(H))."""


@torch.no_grad()
def init_weight(weight: torch.Tensor, scheme: str, hidden_size: int) -> None:
    """Fill ``weight`` (gates * hidden_size, fan_in) in place, one gate block at a time."""
    if scheme not in WEIGHT_INITS:
        raise ValueError(f"unknown weight initializer {scheme!r} (known: {', '.join(WEIGHT_INITS)})")
    for block in weight.split(hidden_size, dim=0):  # views (hidden_size, fan_in)
        if scheme == "xavier_uniform":
            nn.init.xavier_uniform_(block)
        elif scheme == "xavier_normal":
            nn.init.xavier_normal_(block)
        elif scheme == "orthogonal":
            nn.init.orthogonal_(block)
        else:
            bound = 1.0 / math.sqrt(hidden_size)
            nn.init.uniform_(block, -bound, bound)


@torch.no_grad()
def init_bias(bias: torch.Tensor, scheme: str, hidden_size: int) -> None:
    """Fill ``bias`` (gates * hidden_size,) in place."""
    if scheme not in BIAS_INITS:
        raise ValueError(f"unknown bias initializer {scheme!r} (known: {', '.join(BIAS_INITS)})")
    if scheme == "zeros":
        bias.zero_()
    else:
        bound = 1.0 / math.sqrt(hidden_size)
        bias.uniform_(-bound, bound)
