"""Explicit recurrent cells: vanilla (Elman) RNN, GRU and LSTM, one time step at a time.

The vanilla cell is the recurrence of the seed lecture, with the same weights at every step::

    h_t = act(W_xh x_t + W_hh h_{t-1} + b)        y_t = W_hy h_t   (optional output)

Parameters follow ``torch.nn.RNN/GRU/LSTM`` exactly: ``weight_ih`` is W_xh, ``weight_hh`` is
W_hh, and the bias b is split in two, ``bias_ih + bias_hh``. Gated cells stack their gates along
dim 0 in PyTorch's order (GRU: reset r, update z, new n; LSTM: input i, forget f, cell g,
output o), so a fused ``nn.GRU`` and these cells can share the very same tensors.

The functional ``*_recurrence`` helpers take the input projection ``W_ih x_t + b_ih`` already
computed (a sequence loop computes it once for all steps) and the state as a tuple: ``(h,)``
for rnn/gru, ``(h, c)`` for lstm, each (B, H). ``recurrent_mask`` (B, H), when given, is a
dropout mask multiplied into the h that feeds ``W_hh`` only (Gal & Ghahramani, as Keras
``recurrent_dropout``); the state carried forward is never masked.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from multimodal_rnn.recurrent.initializers import init_bias, init_weight

State = tuple[torch.Tensor, ...]
"""A cell state: ``(h,)`` for rnn/gru, ``(h, c)`` for lstm; every tensor (B, H)."""

GATES = {"rnn": 1, "gru": 3, "lstm": 4}
"""Number of stacked gate blocks in ``weight_ih``/``weight_hh`` for each cell type."""

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"tanh": torch.tanh, "relu": torch.relu}


def _recurrent_projection(
    h: torch.Tensor, weight_hh: torch.Tensor, bias_hh: torch.Tensor | None, recurrent_mask: torch.Tensor | None
) -> torch.Tensor:
    if recurrent_mask is not None:
        h = h * recurrent_mask
    return F.linear(h, weight_hh, bias_hh)


def rnn_recurrence(
    input_gates: torch.Tensor,
    state: State,
    weight_hh: torch.Tensor,
    bias_hh: torch.Tensor | None,
    *,
    activation: str = "tanh",
    recurrent_mask: torch.Tensor | None = None,
) -> State:
    """Vanilla step: ``h_t = act(input_gates + W_hh h_{t-1} + b_hh)``; input_gates (B, H)."""
    (h,) = state
    return (ACTIVATIONS[activation](input_gates + _recurrent_projection(h, weight_hh, bias_hh, recurrent_mask)),)


def gru_recurrence(
    input_gates: torch.Tensor,
    state: State,
    weight_hh: torch.Tensor,
    bias_hh: torch.Tensor | None,
    *,
    activation: str = "tanh",
    recurrent_mask: torch.Tensor | None = None,
) -> State:
    """GRU step as in ``torch.nn.GRU``; input_gates (B, 3H) in r, z, n order."""
    (h,) = state
    hidden_gates = _recurrent_projection(h, weight_hh, bias_hh, recurrent_mask)  # (B, 3H)
    input_r, input_z, input_n = input_gates.chunk(3, dim=1)
    hidden_r, hidden_z, hidden_n = hidden_gates.chunk(3, dim=1)
    reset = torch.sigmoid(input_r + hidden_r)
    update = torch.sigmoid(input_z + hidden_z)
    candidate = torch.tanh(input_n + reset * hidden_n)
    return ((1.0 - update) * candidate + update * h,)


def lstm_recurrence(
    input_gates: torch.Tensor,
    state: State,
    weight_hh: torch.Tensor,
    bias_hh: torch.Tensor | None,
    *,
    activation: str = "tanh",
    recurrent_mask: torch.Tensor | None = None,
) -> State:
    """LSTM step as in ``torch.nn.LSTM``; input_gates (B, 4H) in i, f, g, o order."""
    h, c = state
    gates = input_gates + _recurrent_projection(h, weight_hh, bias_hh, recurrent_mask)  # (B, 4H)
    input_gate, forget_gate, cell_gate, output_gate = gates.chunk(4, dim=1)
    c_next = torch.sigmoid(forget_gate) * c + torch.sigmoid(input_gate) * torch.tanh(cell_gate)
    h_next = torch.sigmoid(output_gate) * torch.tanh(c_next)
    return (h_next, c_next)


RECURRENCES = {"rnn": rnn_recurrence, "gru": gru_recurrence, "lstm": lstm_recurrence}
"""The step function of each cell type, all with the signature of :func:`rnn_recurrence`."""


class _Cell(nn.Module):
    """Parameters ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H), ``bias_ih``/``bias_hh`` (G*H,)."""

    cell_type = "rnn"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        bias: bool = True,
        kernel_init: str = "xavier_uniform",
        recurrent_init: str = "orthogonal",
        bias_init: str = "zeros",
    ) -> None:
        super().__init__()
        gates = GATES[self.cell_type]
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(gates * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(gates * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(gates * hidden_size)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(gates * hidden_size)) if bias else None
        init_weight(self.weight_ih, kernel_init, hidden_size)
        init_weight(self.weight_hh, recurrent_init, hidden_size)
        for bias_vector in (self.bias_ih, self.bias_hh):
            if bias_vector is not None:
                init_bias(bias_vector, bias_init, hidden_size)

    def _step(self, x: torch.Tensor, state: State, activation: str = "tanh") -> State:
        input_gates = F.linear(x, self.weight_ih, self.bias_ih)  # (B, G*H)
        return RECURRENCES[self.cell_type](input_gates, state, self.weight_hh, self.bias_hh, activation=activation)

    def _zeros(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight_hh.new_zeros(x.shape[0], self.hidden_size)


class VanillaRNNCell(_Cell):
    """Elman cell ``h_t = act(W_xh x_t + W_hh h_{t-1} + b)`` with an optional output ``y_t = W_hy h_t``.

    ``weight_ih`` is W_xh (H, I), ``weight_hh`` is W_hh (H, H); b = ``bias_ih + bias_hh``.
    With ``output_size``, ``weight_hy`` (O, H) is W_hy and :meth:`output` gives y_t (no bias,
    as in the lecture).
    """

    cell_type = "rnn"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        activation: str = "tanh",
        bias: bool = True,
        output_size: int | None = None,
        kernel_init: str = "xavier_uniform",
        recurrent_init: str = "orthogonal",
        bias_init: str = "zeros",
    ) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        super().__init__(
            input_size,
            hidden_size,
            bias=bias,
            kernel_init=kernel_init,
            recurrent_init=recurrent_init,
            bias_init=bias_init,
        )
        self.activation = activation
        self.weight_hy = None
        if output_size is not None:
            self.weight_hy = nn.Parameter(torch.empty(output_size, hidden_size))
            init_weight(self.weight_hy, kernel_init, output_size)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, I), h (B, H) or None for zeros -> h_t (B, H)."""
        state = (self._zeros(x) if h is None else h,)
        return self._step(x, state, self.activation)[0]

    def output(self, h: torch.Tensor) -> torch.Tensor:
        """h (B, H) -> y = W_hy h (B, O); needs ``output_size``."""
        if self.weight_hy is None:
            raise RuntimeError("this VanillaRNNCell was built without output_size, so it has no W_hy")
        return F.linear(h, self.weight_hy)


class GRUCell(_Cell):
    """GRU cell with ``torch.nn.GRUCell``'s parameters and equations (gates r, z, n)."""

    cell_type = "gru"

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, I), h (B, H) or None for zeros -> h_t (B, H)."""
        return self._step(x, (self._zeros(x) if h is None else h,))[0]


class LSTMCell(_Cell):
    """LSTM cell with ``torch.nn.LSTMCell``'s parameters and equations (gates i, f, g, o)."""

    cell_type = "lstm"

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, I), state (h, c) each (B, H) or None for zeros -> (h_t, c_t)."""
        if state is None:
            state = (self._zeros(x), self._zeros(x))
        h_next, c_next = self._step(x, state)
        return h_next, c_next
