"""The types of the step() contract and the helpers that move batch rows of a state or a context.

Decoding never looks inside a state or a context: it only moves whole batch rows with
:func:`expand_state` (once, when samples start) and :func:`select_state` (the recurrent state
at every beam step, the context when the rows being decoded change).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from multimodal_rnn.errors import ConfigError

State = Any
"""Recurrent state: a nested tuple/namedtuple/list/dict of batch-first tensors (other leaves pass through)."""

Context = Any
"""Static per-item context, nested like a state (batch-first tensors), or None."""

StepFn = Callable[[Tensor, State, Context], tuple[Tensor, State]]
"""``step(tokens (R,), state, context) -> (logprobs (R, V), new state)``."""


def map_state(fn: Callable[[Tensor], Tensor], state: State) -> State:
    """Apply ``fn`` to every tensor of a nested tuple/namedtuple/list/dict; other leaves pass through."""
    if isinstance(state, Tensor):
        return fn(state)
    if isinstance(state, dict):
        return {key: map_state(fn, value) for key, value in state.items()}
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return type(state)(*(map_state(fn, value) for value in state))
    if isinstance(state, (tuple, list)):
        return type(state)(map_state(fn, value) for value in state)
    return state


def expand_state(state: State, k: int) -> State:
    """Repeat each batch row ``k`` times: (B, ...) -> (B * k, ...), rows b*k .. b*k+k-1 copy item b.

    ``k == 1`` returns ``state`` itself (nothing is copied).
    """
    if k == 1:
        return state
    return map_state(lambda tensor: tensor.repeat_interleave(k, dim=0), state)


def select_state(state: State, index: Tensor) -> State:
    """Pick batch rows: every tensor (B, ...) becomes (len(index), ...) with ``index_select`` on dim 0."""
    return map_state(lambda tensor: tensor.index_select(0, index), state)


def recorded(state: State, key: str, rows: int) -> Tensor:
    """The (rows, ...) tensor under ``key`` of a dict state, or a ConfigError naming the problem."""
    value = state.get(key) if isinstance(state, dict) else None
    if not isinstance(value, Tensor) or value.dim() == 0 or value.size(0) != rows:
        raise ConfigError(f"record={key!r} does not name a batch-first tensor with {rows} rows in the decoder state")
    return value


def state_device(*structures: State) -> torch.device:
    """Device of the first tensor found in ``structures`` (CPU when they hold none)."""
    for structure in structures:
        tensor = _first_tensor(structure)
        if tensor is not None:
            return tensor.device
    return torch.device("cpu")


def _first_tensor(state: State) -> Tensor | None:
    if isinstance(state, Tensor):
        return state
    children = state.values() if isinstance(state, dict) else state if isinstance(state, (tuple, list)) else ()
    for child in children:
        tensor = _first_tensor(child)
        if tensor is not None:
            return tensor
    return None
