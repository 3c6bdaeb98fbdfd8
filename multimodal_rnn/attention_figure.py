"""Draw a caption's attention: one tile per word, the image tinted where the model looked."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont


def attention_figure(
    image: Image.Image,
    words: Sequence[str],
    attention: torch.Tensor,
    *,
    tile_size: int = 160,
    columns: int = 5,
) -> Image.Image:
    """A grid of tiles: the image first, then one per word with its attention as a heat overlay.

    Args:
        image: the RGB input image.
        words: the caption's words.
        attention: (len(words), grid_h, grid_w) attention weights.
    """
    base = image.convert("RGB").resize((tile_size, tile_size), Image.Resampling.BICUBIC)
    base_pixels = np.asarray(base, dtype=np.float32) / 255.0
    tiles = [(base, "image")]
    for word, weights in zip(words, attention):
        heat = F.interpolate(weights[None, None].float(), size=(tile_size, tile_size), mode="bilinear",
                             align_corners=False)[0, 0].numpy()
        heat = (heat - heat.min()) / max(float(heat.max() - heat.min()), 1e-8)  # (S, S) in [0, 1]
        tinted = base_pixels * (0.25 + 0.75 * heat[..., None])
        tinted[..., 0] = np.clip(tinted[..., 0] + 0.35 * heat, 0, 1)
        tiles.append((Image.fromarray((tinted * 255).astype(np.uint8)), word))
    label_height = 18
    columns = min(columns, len(tiles))  # no empty tiles on the right of a short figure
    rows = (len(tiles) + columns - 1) // columns
    figure = Image.new("RGB", (columns * tile_size, rows * (tile_size + label_height)), "white")
    draw = ImageDraw.Draw(figure)
    font = ImageFont.load_default()
    for index, (tile, label) in enumerate(tiles):
        x, y = (index % columns) * tile_size, (index // columns) * (tile_size + label_height)
        figure.paste(tile, (x, y))
        draw.text((x + 4, y + tile_size + 2), label, fill="black", font=font)
    return figure
