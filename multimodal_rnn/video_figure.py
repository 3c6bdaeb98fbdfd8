"""Draw a clip's predictions: an animated GIF of its frames, each with its label and/or the caption
written in a band under it (``mmrnn classify-video|label-frames|caption-video --gif OUT`` and the
``"gif"`` of the server's video routes)."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

DEFAULT_MAX_SIDE = 512
"""Longest side of a GIF frame, pixels: larger (or larger once upscaled) clips are shrunk to it."""

_PADDING = 4
_ELLIPSIS = "…"


def annotated_gif(
    frames: np.ndarray,
    labels: Sequence[str] | None = None,
    caption: str | None = None,
    *,
    scale: int = 4,
    fps: float = 8,
    max_side: int = DEFAULT_MAX_SIDE,
) -> bytes:
    """An animated GIF (looping) of ``frames`` with a white text band under each frame.

    Args:
        frames: ``(T, H, W, 3)`` uint8 RGB, ``T >= 1``.
        labels: one label per frame, written on the band's first line (cut with an ellipsis when
            wider than the frame); None: no label line.
        caption: written under the labels on every frame, wrapped at the frame's width; None: none.
        scale: each frame is upscaled this many times (nearest neighbour: the pixels stay sharp),
            ``scale >= 1``.
        fps: frames per second of the animation (GIF stores hundredths of a second), ``fps > 0``.
        max_side: the frames (after ``scale``) are shrunk so that their longer side is at most this
            many pixels; the band's text never shrinks.

    Returns:
        The GIF file's bytes: ``T`` frames of ``W' x (H' + band)`` pixels (``W' = W * scale``,
        ``H' = H * scale`` within ``max_side``), the band as high as the lines of text need (none
        without labels and caption). Consecutive identical frames (same pixels and label) are
        stored once, with their durations added, as GIF encoders do.

    Raises:
        ValueError: frames not ``(T, H, W, 3)`` uint8 with ``T >= 1``, a label count that is not
            ``T``, ``scale < 1``, ``fps <= 0`` or ``max_side < 1``.
    """
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or 0 in frames.shape:
        raise ValueError(f"frames must be (T, H, W, 3) uint8 with T, H, W >= 1, got {frames.shape} {frames.dtype}")
    if labels is not None and len(labels) != len(frames):
        raise ValueError(f"{len(labels)} labels for {len(frames)} frames")
    if scale < 1 or fps <= 0 or max_side < 1:
        raise ValueError(f"scale >= 1, fps > 0 and max_side >= 1 are required (got {scale}, {fps}, {max_side})")
    height, width = int(frames.shape[1]), int(frames.shape[2])
    factor = min(float(scale), max_side / max(height, width))
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    resample = Image.Resampling.NEAREST if factor >= 1 else Image.Resampling.BOX
    font = ImageFont.load_default(size=12 if size[0] >= 160 else 10)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line_height = _line_height(measure, font)
    caption_lines = _wrap(measure, font, caption, size[0] - 2 * _PADDING) if caption else []
    lines = (1 if labels is not None else 0) + len(caption_lines)
    band = lines * line_height + 2 * _PADDING if lines else 0
    pictures = []
    for index, frame in enumerate(frames):
        picture = Image.new("RGB", (size[0], size[1] + band), "white")
        picture.paste(Image.fromarray(frame, "RGB").resize(size, resample), (0, 0))
        draw = ImageDraw.Draw(picture)
        texts = [_fit(measure, font, labels[index], size[0] - 2 * _PADDING)] if labels is not None else []
        for line, text in enumerate(texts + caption_lines):
            draw.text((_PADDING, size[1] + _PADDING + line * line_height), text, fill="black", font=font)
        pictures.append(picture)
    buffer = io.BytesIO()
    pictures[0].save(
        buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=max(20, round(1000 / fps)), loop=0
    )
    return buffer.getvalue()


def _line_height(draw: ImageDraw.ImageDraw, font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> int:
    left, top, right, bottom = draw.textbbox((0, 0), "Ag|", font=font)
    return int(bottom) + 3


def _fit(draw: ImageDraw.ImageDraw, font: ImageFont.ImageFont | ImageFont.FreeTypeFont, text: str, width: int) -> str:
    """``text`` cut (with an ellipsis) to at most ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + _ELLIPSIS, font=font) > width:
        text = text[:-1]
    return text + _ELLIPSIS


def _wrap(
    draw: ImageDraw.ImageDraw, font: ImageFont.ImageFont | ImageFont.FreeTypeFont, text: str, width: int
) -> list[str]:
    """``text`` in lines of at most ``width`` pixels, broken between words (an overlong word is cut)."""
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and draw.textlength(candidate, font=font) <= width:
            lines[-1] = candidate
        else:
            lines.append(_fit(draw, font, word, width))
    return lines


def gif_base64(frames: np.ndarray, labels: Sequence[str] | None = None, caption: str | None = None) -> str:
    """:func:`annotated_gif` (default scale, fps and size) in base64: the ``"gif"`` of a video route's answer."""
    return base64.b64encode(annotated_gif(frames, labels, caption)).decode("ascii")
