"""Resume: load a run's last checkpoint pair into a freshly built model, optimizer and grad scaler,
after checking that the pair fits this run (config, data size, number of processes)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch

from multimodal_rnn.errors import CheckpointError, ConfigError
from multimodal_rnn.training.state import TrainingState, checkpoint_pair_paths, resolve_checkpoint_pair
from multimodal_rnn.training.trainer_config import check_resumed_config


def restore_checkpoint_pair(
    location: str | os.PathLike[str],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    grad_scaler: torch.amp.GradScaler,
    *,
    config: Mapping[str, Any],
    dataset_size: int,
    world_size: int,
) -> TrainingState:
    """Load weights, optimizer and grad-scaler state from the pair at ``location`` (a run folder or
    a ``last[.trainer].safetensors`` file) and return its :class:`TrainingState` (position,
    progress, one RNG state per process) for the trainer to continue from.

    Raises:
        ConfigError: ``config`` (the current trainer config as JSON) changes more than
            :data:`~multimodal_rnn.training.trainer_config.RESUME_MAY_CHANGE`, or the run had
            another dataset size or number of processes (the data position cannot be restored).
        CheckpointError: a missing or corrupt pair, or one whose tensors do not fit the model.
    """
    checkpoint, state = resolve_checkpoint_pair(location)
    model_path, where = checkpoint_pair_paths(location)
    check_resumed_config(state.config, config, where)
    progress = state.progress
    if progress.get("dataset_size") != dataset_size or progress.get("world_size") != world_size:
        raise ConfigError(
            f"{where}: run had {progress.get('dataset_size')} samples on {progress.get('world_size')} process(es), "
            f"now {dataset_size} on {world_size}; the data position cannot be restored"
        )
    if len(state.rng) != world_size:
        raise CheckpointError(f"{where}: holds RNG states of {len(state.rng)} process(es), expected {world_size}")
    try:
        model.load_state_dict(checkpoint.tensors, strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:300]
        raise CheckpointError(f"{model_path}: weights do not fit the model: {detail}") from None
    try:
        optimizer.load_state_dict(state.optimizer)
    except (ValueError, KeyError, RuntimeError) as exc:
        detail = " ".join(str(exc).split())[:300]
        raise CheckpointError(f"{where}: optimizer state does not fit the model's parameters: {detail}") from None
    if state.grad_scaler is not None:
        grad_scaler.load_state_dict(state.grad_scaler)
    return state
