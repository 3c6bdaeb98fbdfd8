"""Where the shipped weights live and how the CLI finds a checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

from multimodal_rnn.errors import InputError

DEFAULT_WEIGHTS = {
    "caption": "caption_shapes.safetensors",
    "vqa": "vqa_shapes.safetensors",
    "dialog": "dialog_shapes.safetensors",
}


NAVIGATION_WEIGHTS = {
    "BabyAI-GoToRedBall-v0": "navigation_gotoredball.safetensors",
    "BabyAI-GoToLocal-v0": "navigation_gotolocal.safetensors",
}
"""Shipped navigation agents, by BabyAI level id."""


def resolve_navigation_weights(path: str | None, level: str) -> Path:
    """The navigation checkpoint to load: ``path`` if given, else the shipped agent of ``level``."""
    if path:
        return Path(path)
    if level not in NAVIGATION_WEIGHTS:
        raise InputError(f"no shipped navigation agent for {level} (shipped: {', '.join(NAVIGATION_WEIGHTS)}); "
                         "pass --weights FILE")
    default = weights_dir() / NAVIGATION_WEIGHTS[level]
    if not default.exists():
        raise InputError(f"{default}: shipped navigation weights for {level} not found; pass --weights FILE")
    return default


def weights_dir() -> Path:
    """``$MMRNN_WEIGHTS_DIR`` if set, else the repository's ``weights/`` folder."""
    env = os.environ.get("MMRNN_WEIGHTS_DIR")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "weights"


def resolve_weights(path: str | None, task: str) -> Path:
    """The checkpoint to load: ``path`` if given, else the shipped weights of ``task``."""
    if path:
        return Path(path)
    default = weights_dir() / DEFAULT_WEIGHTS[task]
    if not default.exists():
        raise InputError(f"{default}: shipped {task} weights not found; pass --weights FILE")
    return default
