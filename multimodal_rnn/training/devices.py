"""The trainer's device: resolving ``TrainerConfig.device`` and moving a batch onto it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from multimodal_rnn.errors import ConfigError


def resolve_device(requested: str) -> torch.device:
    """``auto`` (CUDA if available), ``cpu``, ``cuda`` (the current CUDA device) or ``cuda:<index>`` as a device."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"TrainerConfig: device {requested!r} but CUDA is not available")
        return torch.device(requested) if ":" in requested else torch.device("cuda", torch.cuda.current_device())
    return torch.device(requested)


def to_device(value: Any, device: torch.device) -> Any:
    """Tensors of a (nested) batch moved to ``device``; everything else as is."""
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, Mapping):
        return {k: to_device(v, device) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and any(isinstance(v, torch.Tensor) for v in value):
        return type(value)(to_device(v, device) for v in value)
    return value
