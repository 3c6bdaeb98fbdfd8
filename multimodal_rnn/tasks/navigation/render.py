"""An episode as an animated GIF: the full-grid frames (``env.render()``) under the mission text."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from multimodal_rnn.errors import InputError
from multimodal_rnn.files import atomic_write

CAPTION_HEIGHT = 24


def captioned_frames(frames: Sequence[np.ndarray], caption: str) -> list[Image.Image]:
    """RGB frames (H, W, 3) uint8 -> PIL images (H + CAPTION_HEIGHT, W) with ``caption`` on a white strip."""
    if not frames:
        raise InputError("no frames to render")
    font = ImageFont.load_default()
    images = []
    for frame in frames:
        height, width = frame.shape[:2]
        canvas = Image.new("RGB", (width, height + CAPTION_HEIGHT), "white")
        canvas.paste(Image.fromarray(np.asarray(frame, dtype=np.uint8)), (0, CAPTION_HEIGHT))
        ImageDraw.Draw(canvas).text((4, 5), caption, fill="black", font=font)
        images.append(canvas)
    return images


def save_gif(path: str | os.PathLike[str], frames: Sequence[np.ndarray], caption: str, *,
             frame_ms: int = 250) -> None:
    """Write the captioned frames as a looping GIF (atomic); the last frame is held 4x longer."""
    images = captioned_frames(frames, caption)
    durations = [frame_ms] * (len(images) - 1) + [frame_ms * 4]

    def write(tmp: str) -> None:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)

    atomic_write(Path(path), write)
