"""A recurrent layer with the options of Keras ``SimpleRNN`` under PyTorch names, for rnn/gru/lstm.

Two execution paths compute the same function from the same parameters:

- **fused**: one call to ``torch.nn.RNN/GRU/LSTM`` (cuDNN on GPU), with ``pack_padded_sequence``
  for variable lengths;
- **loop**: an explicit loop over time steps with the cells of :mod:`cells`, reading the fused
  module's ``weight_ih_l{k}``/``weight_hh_l{k}``/``bias_*`` tensors (no second copy of weights).

``path="auto"`` picks fused unless recurrent dropout is active (training with
``recurrent_dropout > 0``), which needs one dropout mask on h reused at every step.

Conventions:

- tensors are batch-first: inputs (B, T, input_size), outputs (B, T, D * hidden_size) where D is
  2 when bidirectional (forward then backward features), else 1;
- the state is a tuple ``(h,)`` (rnn/gru) or ``(h, c)`` (lstm) of (B, num_layers * D, hidden_size)
  tensors, index ``layer * D + direction`` as in ``torch.nn.LSTM`` but with batch first;
- padding (``lengths`` or a right-padded ``mask``) never changes a real step: padded outputs are
  zeros and the final state is the state at each sequence's last real step;
- ``go_backwards`` (Keras semantics) reverses each sequence within its length before the layer
  and does NOT restore the order: ``outputs[:, 0]`` is the step that read the last real input;
- ``dropout`` drops the inputs of every layer (independently at each step); ``recurrent_dropout``
  drops the h fed back to ``W_hh`` with ONE mask per sequence (Gal & Ghahramani); training only;
- ``stateful``: the final state (detached: truncated backpropagation) is the initial state of
  the next call until :meth:`RecurrentLayer.reset_states`; an explicit ``state`` argument wins.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from multimodal_rnn.errors import ConfigError, InputError
from multimodal_rnn.recurrent.cells import RECURRENCES, State
from multimodal_rnn.recurrent.initializers import init_bias, init_weight
from multimodal_rnn.recurrent.layer_config import RecurrentConfig
from multimodal_rnn.recurrent.sequences import resolve_lengths, reverse_padded, step_mask

FUSED_MODULES = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


class RecurrentLayer(nn.Module):
    """Stacked (optionally bidirectional) rnn/gru/lstm over a batch-first padded batch.

    The parameters live in ``self.rnn`` (a ``torch.nn.RNN/GRU/LSTM``), whatever the path.
    """

    def __init__(self, config: RecurrentConfig) -> None:
        super().__init__()
        self.config = config
        self.num_directions = 2 if config.bidirectional else 1
        self.hidden_size = config.hidden_size
        self.output_size = self.num_directions * config.hidden_size
        extra = {"nonlinearity": config.activation} if config.cell == "rnn" else {}
        self.rnn = FUSED_MODULES[config.cell](
            config.input_size,
            config.hidden_size,
            num_layers=config.num_layers,
            bias=config.bias,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            bidirectional=config.bidirectional,
            **extra,
        )
        self._carried_state: State | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialize weights and biases with the config's schemes."""
        for name, parameter in self.rnn.named_parameters():
            if name.startswith("weight_ih"):
                init_weight(parameter, self.config.kernel_init, self.hidden_size)
            elif name.startswith("weight_hh"):
                init_weight(parameter, self.config.recurrent_init, self.hidden_size)
            else:
                init_bias(parameter, self.config.bias_init, self.hidden_size)

    @property
    def carried_state(self) -> State | None:
        """The state a stateful layer will start its next call from (None after a reset)."""
        return self._carried_state

    def reset_states(self) -> None:
        """Forget the carried state: the next call of a stateful layer starts from zeros."""
        self._carried_state = None

    def zero_state(self, batch_size: int) -> State:
        """Zeros of the state's shape: tuple of (B, num_layers * D, H) on the weights' device/dtype."""
        weight = self.rnn.weight_hh_l0
        count = 2 if self.config.cell == "lstm" else 1
        shape = (batch_size, self.config.num_layers * self.num_directions, self.hidden_size)
        return tuple(weight.new_zeros(shape) for _ in range(count))

    def uses_loop(self) -> bool:
        """Whether a call now (given ``self.training``) runs the explicit loop path."""
        recurrent_dropout_active = self.training and self.config.recurrent_dropout > 0
        return self.config.path == "loop" or (self.config.path == "auto" and recurrent_dropout_active)

    def forward(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        state: State | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, State]:
        """Run the layer over x (B, T, input_size).

        Args:
            lengths: (B,) integer lengths in 1..T, or ``mask`` (B, T) bool right-padded; not both.
            state: initial state (see module docstring); default zeros (or the carried state).

        Returns:
            outputs (B, T, D*H) if ``return_sequences`` else the last output (B, D*H) (for each
            direction, its final h of the top layer); with ``return_state`` a pair
            ``(outputs, final_state)``.
        """
        if x.dim() != 3 or x.shape[2] != self.config.input_size:
            raise InputError(
                f"RecurrentLayer input must be (B, T, {self.config.input_size}), got {tuple(x.shape)}"
            )
        batch_size, steps, _ = x.shape
        lengths = resolve_lengths(batch_size, steps, lengths, mask)
        state = self._initial_state(batch_size, state)
        if self.config.go_backwards:
            x = reverse_padded(x, lengths)
        x = F.dropout(x, self.config.dropout, self.training)
        run = self._loop if self.uses_loop() else self._fused
        outputs, final_state = run(x, lengths, state)
        if self.config.stateful:
            self._carried_state = tuple(s.detach() for s in final_state)
        if not self.config.return_sequences:
            top = final_state[0][:, -self.num_directions :]  # (B, D, H)
            outputs = top.reshape(batch_size, self.output_size)  # (B, D*H)
        return (outputs, final_state) if self.config.return_state else outputs

    def step(self, x_t: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """One time step of a unidirectional layer: x_t (B, input_size) -> (h_t (B, H), state).

        ``h_t`` is the top layer's output; ``dropout`` applies as in :meth:`forward`.
        """
        if self.config.bidirectional:
            raise ConfigError("RecurrentLayer.step needs a unidirectional layer (bidirectional=False)")
        if self.training and self.config.recurrent_dropout > 0:
            raise ConfigError("RecurrentLayer.step cannot apply recurrent_dropout (one mask per sequence)")
        if x_t.dim() != 2 or x_t.shape[1] != self.config.input_size:
            raise InputError(f"RecurrentLayer.step input must be (B, {self.config.input_size}), got {tuple(x_t.shape)}")
        if state is None:
            state = self.zero_state(x_t.shape[0])
        else:
            self._check_state(x_t.shape[0], state)
        layer_input = x_t
        layer_states = []
        for layer in range(self.config.num_layers):
            weight_ih, weight_hh, bias_ih, bias_hh = self._weights(layer, 0)
            layer_input = F.dropout(layer_input, self.config.dropout, self.training)
            new_state = RECURRENCES[self.config.cell](
                F.linear(layer_input, weight_ih, bias_ih),
                tuple(s[:, layer] for s in state),
                weight_hh,
                bias_hh,
                activation=self.config.activation,
            )
            layer_states.append(new_state)
            layer_input = new_state[0]
        stacked = tuple(torch.stack(parts, dim=1) for parts in zip(*layer_states))  # (B, L, H) each
        return layer_input, stacked

    def _initial_state(self, batch_size: int, state: State | None) -> State | None:
        if state is not None:
            self._check_state(batch_size, state)
            return state
        carried = self._carried_state
        if self.config.stateful and carried is not None:
            if carried[0].shape[0] != batch_size:
                raise InputError(
                    f"stateful RecurrentLayer: batch size {batch_size} differs from the carried state's "
                    f"{carried[0].shape[0]}; call reset_states() first"
                )
            return carried
        return None

    def _check_state(self, batch_size: int, state: State) -> None:
        count = 2 if self.config.cell == "lstm" else 1
        shape = (batch_size, self.config.num_layers * self.num_directions, self.hidden_size)
        if not isinstance(state, tuple) or len(state) != count or any(tuple(s.shape) != shape for s in state):
            got = [tuple(s.shape) for s in state] if isinstance(state, (tuple, list)) else type(state).__name__
            raise InputError(f"RecurrentLayer state must be a tuple of {count} tensor(s) of shape {shape}, got {got}")

    def _weights(
        self, layer: int, direction: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        suffix = f"l{layer}" + ("_reverse" if direction else "")
        biases = (
            (getattr(self.rnn, f"bias_ih_{suffix}"), getattr(self.rnn, f"bias_hh_{suffix}"))
            if self.config.bias
            else (None, None)
        )
        return getattr(self.rnn, f"weight_ih_{suffix}"), getattr(self.rnn, f"weight_hh_{suffix}"), *biases

    def _fused(self, x: torch.Tensor, lengths: torch.Tensor | None, state: State | None) -> tuple[torch.Tensor, State]:
        initial: torch.Tensor | tuple[torch.Tensor, ...] | None = None
        if state is not None:
            initial = tuple(s.transpose(0, 1).contiguous() for s in state)  # (L*D, B, H)
        if initial is not None and self.config.cell != "lstm":
            initial = initial[0]
        if lengths is None:
            outputs, final = self.rnn(x, initial)
        else:
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            packed_outputs, final = self.rnn(packed, initial)
            outputs, _ = pad_packed_sequence(packed_outputs, batch_first=True, total_length=x.shape[1])
        final = final if self.config.cell == "lstm" else (final,)
        return outputs, tuple(s.transpose(0, 1) for s in final)  # (B, L*D, H) each

    def _loop(self, x: torch.Tensor, lengths: torch.Tensor | None, state: State | None) -> tuple[torch.Tensor, State]:
        state = self.zero_state(x.shape[0]) if state is None else state
        real_steps = None if lengths is None else step_mask(lengths.to(x.device), x.shape[1])  # (B, T)
        finals = []
        layer_input = x
        for layer in range(self.config.num_layers):
            if layer > 0:
                layer_input = F.dropout(layer_input, self.config.dropout, self.training)
            direction_outputs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                sequence = layer_input if direction == 0 else reverse_padded(layer_input, lengths)
                outputs, final = self._scan(sequence, tuple(s[:, index] for s in state), real_steps, layer, direction)
                direction_outputs.append(outputs if direction == 0 else reverse_padded(outputs, lengths))
                finals.append(final)
            layer_input = torch.cat(direction_outputs, dim=2)  # (B, T, D*H)
        return layer_input, tuple(torch.stack(parts, dim=1) for parts in zip(*finals))

    def _scan(
        self, sequence: torch.Tensor, state: State, real_steps: torch.Tensor | None, layer: int, direction: int
    ) -> tuple[torch.Tensor, State]:
        """One direction of one layer: sequence (B, T, in) -> outputs (B, T, H), final state."""
        weight_ih, weight_hh, bias_ih, bias_hh = self._weights(layer, direction)
        input_gates = F.linear(sequence, weight_ih, bias_ih)  # (B, T, G*H), all steps at once
        recurrent_mask = None
        if self.training and self.config.recurrent_dropout > 0:
            ones = state[0].new_ones(state[0].shape)  # (B, H)
            recurrent_mask = F.dropout(ones, self.config.recurrent_dropout, training=True)
        recurrence = RECURRENCES[self.config.cell]
        outputs = []
        for t in range(sequence.shape[1]):
            new_state = recurrence(
                input_gates[:, t],
                state,
                weight_hh,
                bias_hh,
                activation=self.config.activation,
                recurrent_mask=recurrent_mask,
            )
            if real_steps is None:
                state = new_state
                outputs.append(new_state[0])
            else:
                real = real_steps[:, t, None]  # (B, 1)
                state = tuple(torch.where(real, new, old) for new, old in zip(new_state, state))
                outputs.append(new_state[0].masked_fill(~real, 0.0))
        return torch.stack(outputs, dim=1), state
