"""The recurrent core shared by every task head: one step function, one state convention.

Heads feed the core embedded tokens (plus whatever they fuse in) and read its top-layer output.
Teacher forcing calls :meth:`RecurrentCore.forward` over a whole padded batch; greedy decoding,
sampling and beam search call :meth:`RecurrentCore.step` once per token. Both compute the same
function from the same weights (a unidirectional :class:`RecurrentLayer`).

State convention (decoding relies on it): a tuple of BATCH-FIRST tensors of shape
(B, num_layers, hidden_size): ``(h,)`` for rnn/gru and ``(h, c)`` for lstm. Beam search can
therefore reorder or repeat any state with ``s.index_select(0, ...)`` without knowing the cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from multimodal_rnn.errors import ConfigError, InputError
from multimodal_rnn.recurrent.cells import State
from multimodal_rnn.recurrent.layer import RecurrentLayer
from multimodal_rnn.recurrent.layer_config import RecurrentConfig


@dataclass(frozen=True, kw_only=True)
class CoreConfig:
    """Options of :class:`RecurrentCore`; see :class:`RecurrentConfig` for the shared fields.

    Attributes:
        context_size: features of an optional context vector (e.g. a pooled image feature,
            (B, C)) from which :meth:`RecurrentCore.init_state` learns the initial state;
            None for zero initial states only.
    """

    cell: str = "lstm"
    input_size: int
    hidden_size: int
    num_layers: int = 1
    activation: str = "tanh"
    bias: bool = True
    dropout: float = 0.0
    kernel_init: str = "xavier_uniform"
    recurrent_init: str = "orthogonal"
    bias_init: str = "zeros"
    context_size: int | None = None
    path: str = "auto"

    def __post_init__(self) -> None:
        try:
            self.layer_config()  # validates the shared fields
        except ConfigError as error:
            raise ConfigError(str(error).replace("RecurrentConfig.", "CoreConfig.")) from None
        size = self.context_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ConfigError(f"CoreConfig.context_size must be a positive integer or null, got {size!r}")

    def layer_config(self) -> RecurrentConfig:
        """The unidirectional, sequence-returning :class:`RecurrentConfig` the core runs on."""
        return RecurrentConfig(
            cell=self.cell,
            input_size=self.input_size,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            activation=self.activation,
            bias=self.bias,
            dropout=self.dropout,
            kernel_init=self.kernel_init,
            recurrent_init=self.recurrent_init,
            bias_init=self.bias_init,
            return_sequences=True,
            return_state=True,
            path=self.path,
        )


class RecurrentCore(nn.Module):
    """Unidirectional multi-layer rnn/gru/lstm with ``step`` and ``forward`` and a learned initial state.

    Attributes:
        hidden_size: H, the features of every output h_t.
        num_layers: L.
        state_size: per-example shape of each state tensor: ``((L, H),)`` or ``((L, H), (L, H))``.
    """

    def __init__(self, config: CoreConfig) -> None:
        super().__init__()
        self.config = config
        self.hidden_size = config.hidden_size
        self.num_layers = config.num_layers
        count = 2 if config.cell == "lstm" else 1
        self.state_size = tuple((config.num_layers, config.hidden_size) for _ in range(count))
        self.layer = RecurrentLayer(config.layer_config())
        self.context_to_state = nn.ModuleList()
        if config.context_size is not None:
            for _ in range(count):  # h0, then c0 for lstm
                self.context_to_state.append(nn.Linear(config.context_size, config.num_layers * config.hidden_size))

    def init_state(self, batch_size: int, context: torch.Tensor | None = None) -> State:
        """Initial state for a batch: zeros, or ``tanh(W context + b)`` per state tensor.

        Args:
            context: (B, context_size), only for a core built with ``context_size``.

        Returns:
            ``(h0,)`` or ``(h0, c0)``, each (B, num_layers, hidden_size).
        """
        if context is None:
            return self.layer.zero_state(batch_size)
        if self.config.context_size is None:
            raise ConfigError("RecurrentCore.init_state got a context but the core has no context_size")
        if tuple(context.shape) != (batch_size, self.config.context_size):
            raise InputError(
                f"RecurrentCore context must be ({batch_size}, {self.config.context_size}), got {tuple(context.shape)}"
            )
        shape = (batch_size, self.num_layers, self.hidden_size)
        return tuple(torch.tanh(project(context)).view(shape) for project in self.context_to_state)

    def step(self, x_t: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """One step: x_t (B, input_size), state (zeros if None) -> (h_t (B, H) of the top layer, new state)."""
        return self.layer.step(x_t, state)

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None, state: State | None = None
    ) -> tuple[torch.Tensor, State]:
        """Whole sequences: x (B, T, input_size), lengths (B,) -> (outputs (B, T, H), final state).

        Padded outputs are zeros; the final state is taken at each sequence's last real step.
        """
        outputs, final_state = self.layer(x, lengths=lengths, state=state)
        return outputs, final_state
