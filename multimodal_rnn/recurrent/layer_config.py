"""The options of :class:`~multimodal_rnn.recurrent.layer.RecurrentLayer`, validated on creation.

Names follow PyTorch (``hidden_size``, ``num_layers``, ``bias``); the Keras ``SimpleRNN``
option each field covers is given in brackets. Every invalid value raises :class:`ConfigError`
(a ``ValueError``) with one line naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass

from multimodal_rnn.errors import ConfigError
from multimodal_rnn.recurrent.cells import ACTIVATIONS, GATES
from multimodal_rnn.recurrent.initializers import BIAS_INITS, WEIGHT_INITS

PATHS = ("auto", "fused", "loop")
"""Execution paths: ``fused`` torch.nn modules, ``loop`` explicit steps, ``auto`` picks."""


@dataclass(frozen=True, kw_only=True)
class RecurrentConfig:
    """Options of :class:`RecurrentLayer` (Keras ``SimpleRNN`` names in brackets).

    Attributes:
        cell: "rnn" (vanilla Elman), "gru" or "lstm".
        input_size: features per input step.
        hidden_size: features of the hidden state [units].
        num_layers: stacked recurrent layers.
        activation: "tanh" or "relu"; the vanilla cell only (gru/lstm must keep "tanh").
        bias: learn biases [use_bias].
        kernel_init: input weights [kernel_initializer]; see :mod:`initializers`.
        recurrent_init: recurrent weights [recurrent_initializer].
        bias_init: biases [bias_initializer].
        dropout: drop probability on the inputs of each layer, in [0, 1).
        recurrent_dropout: drop probability on the fed-back h, one mask per sequence, in [0, 1).
        return_sequences: return all outputs (B, T, D*H) rather than the last one (B, D*H).
        return_state: also return the final state.
        go_backwards: process each sequence reversed; outputs stay in the reversed order.
        stateful: carry the final state into the next call until ``reset_states()``.
        bidirectional: add a backward direction (outputs concatenated on the feature axis).
        path: "auto", "fused" (torch.nn modules) or "loop" (explicit steps).
    """

    cell: str = "rnn"
    input_size: int
    hidden_size: int
    num_layers: int = 1
    activation: str = "tanh"
    bias: bool = True
    kernel_init: str = "xavier_uniform"
    recurrent_init: str = "orthogonal"
    bias_init: str = "zeros"
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    return_sequences: bool = False
    return_state: bool = False
    go_backwards: bool = False
    stateful: bool = False
    bidirectional: bool = False
    path: str = "auto"

    def __post_init__(self) -> None:
        _check_choice("cell", self.cell, tuple(GATES))
        for name in ("input_size", "hidden_size", "num_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"RecurrentConfig.{name} must be a positive integer, got {value!r}")
        _check_choice("activation", self.activation, tuple(ACTIVATIONS))
        if self.cell != "rnn" and self.activation != "tanh":
            raise ConfigError(
                f"RecurrentConfig.activation={self.activation!r} applies to cell='rnn' only; "
                f"cell={self.cell!r} has fixed activations (leave 'tanh')"
            )
        _check_choice("kernel_init", self.kernel_init, WEIGHT_INITS)
        _check_choice("recurrent_init", self.recurrent_init, WEIGHT_INITS)
        _check_choice("bias_init", self.bias_init, BIAS_INITS)
        for name in ("dropout", "recurrent_dropout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ConfigError(f"RecurrentConfig.{name} must be a number in [0, 1), got {value!r}")
        _check_choice("path", self.path, PATHS)
        if self.path == "fused" and self.recurrent_dropout > 0:
            raise ConfigError(
                "RecurrentConfig.path='fused' cannot apply recurrent_dropout > 0; use path='auto' or 'loop'"
            )


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"RecurrentConfig.{name} must be one of {', '.join(choices)}, got {value!r}")
