"""Tiny clip models and clips for the action and frames tests (16 px frames, a two-block CNN)."""

from __future__ import annotations

import numpy as np
import torch

TINY_ENCODER = {"channels": [4, 8], "image_size": 16}
"""A small_cnn of two blocks on 16 x 16 frames: a 4 x 4 grid of 8 features."""


def tiny_options(**options: object) -> dict[str, object]:
    """Model options for a tiny clip model (override any)."""
    return {
        "encoder": dict(TINY_ENCODER),
        "spatial_size": 12,
        "hidden_size": 10,
        "num_frames": 4,
        "dropout": 0.0,
        **options,
    }


def moving_dot_clip(direction: int, frames: int = 4, size: int = 16, start: int = 4) -> np.ndarray:
    """uint8 (T, size, size, 3): a white 3 x 3 dot on black moving 2 pixels per frame to the right
    (``direction`` 1) or to the left (``direction`` -1), the same frames in both but in reverse order."""
    clip = np.zeros((frames, size, size, 3), dtype=np.uint8)
    positions = [start + 2 * t for t in range(frames)]
    for t, x in enumerate(positions if direction > 0 else positions[::-1]):
        clip[t, 6:9, x : x + 3] = 255
    return clip


def padded(frames: torch.Tensor, length: int) -> torch.Tensor:
    """frames (1, T, ...) zero-padded to (1, length, ...)."""
    out = frames.new_zeros((1, length, *frames.shape[2:]))
    out[:, : frames.shape[1]] = frames
    return out
