"""Rendering moving-shapes clips: frames of flat, anti-aliased shapes on a light gray background.

The shapes are drawn as in the image world (:mod:`multimodal_rnn.datasets.shapes.scene`): a
circle, an axis-aligned square, a triangle pointing up. The background carries a mild noise
pattern that is the same in every frame of a clip, so only the objects change between frames.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw

from multimodal_rnn.datasets.moving_shapes.clips import Clip, extent
from multimodal_rnn.datasets.shapes.scene import COLORS

if TYPE_CHECKING:
    import numpy as np

_SUPERSAMPLE = 2  # draw at 2x and average 2x2 blocks down: anti-aliased edges


def render_clip(clip: Clip, size: int) -> np.ndarray:
    """The frames of ``clip`` as a ``(T, size, size, 3)`` uint8 RGB array."""
    import numpy as np

    side = size * _SUPERSAMPLE
    noise = np.random.default_rng(clip.noise_seed).integers(-3, 4, size=(size, size, 1), dtype=np.int16)
    frames = np.empty((len(clip.actor.states), size, size, 3), dtype=np.uint8)
    for t, state in enumerate(clip.actor.states):
        canvas = Image.new("RGB", (side, side), clip.background)
        draw = ImageDraw.Draw(canvas)
        if clip.still is not None:
            still = clip.still
            _draw(draw, still.shape, still.x, still.y, still.radius, COLORS[still.color], side)
        if state.visible:
            _draw(draw, clip.actor.shape, state.x, state.y, state.radius, _fill(state.color), side)
        image = canvas.resize((size, size), Image.Resampling.BOX)
        frames[t] = np.clip(np.asarray(image, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
    return frames


def _fill(color: tuple[float, ...]) -> tuple[int, int, int]:
    return (round(color[0]), round(color[1]), round(color[2]))


def _draw(
    draw: ImageDraw.ImageDraw, shape: str, x: float, y: float, radius: float, fill: tuple[int, int, int], side: int
) -> None:
    if shape == "circle":
        draw.ellipse(((x - radius) * side, (y - radius) * side, (x + radius) * side, (y + radius) * side), fill=fill)
        return
    if shape == "square":
        half = 0.88 * radius
        corners = [(-half, -half), (half, -half), (half, half), (-half, half)]
    else:
        reach = extent(shape, radius)
        corners = [(reach * math.cos(a), reach * math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
    draw.polygon([((x + dx) * side, (y + dy) * side) for dx, dy in corners], fill=fill)
