"""The image transform of an exported model, in numpy: PIL image -> normalized (3, S, S) float32.

It is :func:`multimodal_rnn.encoders.image.build_transform` (inference mode) without torch. For the
small CNN (the shipped models) it is the same computation, bit for bit: a bicubic resize to S x S
when the image is not already that size, pixels / 255, then (x - mean) / std per channel in float32.
For torchvision backbones the resize of the shorter side to round(S * 8 / 7) is PIL's antialiased
bilinear resize, where torchvision resizes a tensor: pixel values can differ by one level in 255,
so features differ slightly from the PyTorch model's; the center crop of S x S is the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from multimodal_rnn.errors import CheckpointError


class ImageTransform:
    """``transform(image) -> (3, S, S)`` float32 array, from the manifest's ``transform`` entry.

    Attributes:
        size: S, the side of the square network input in pixels.
    """

    def __init__(self, spec: Mapping[str, Any]) -> None:
        try:
            self.backbone = str(spec["backbone"])
            self.size = int(spec["image_size"])
            self.mean = np.asarray(spec["mean"], dtype=np.float32)[:, None, None]  # (3, 1, 1)
            self.std = np.asarray(spec["std"], dtype=np.float32)[:, None, None]
        except (KeyError, TypeError, ValueError):
            raise CheckpointError("export manifest: 'transform' needs backbone, image_size, mean and std") from None

    def __call__(self, image: Image.Image) -> np.ndarray:
        size = self.size
        if self.backbone == "small_cnn":
            if image.size != (size, size):
                image = image.resize((size, size), Image.Resampling.BICUBIC)
        else:
            width, height = image.size
            short = round(size * 8 / 7)
            if width <= height:
                scaled = (short, max(1, int(short * height / width)))
            else:
                scaled = (max(1, int(short * width / height)), short)
            image = image.convert("RGB").resize(scaled, Image.Resampling.BILINEAR)
            left, top = int(round((scaled[0] - size) / 2.0)), int(round((scaled[1] - size) / 2.0))
            image = image.crop((left, top, left + size, top + size))
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0  # (S, S, 3)
        return np.ascontiguousarray((pixels.transpose(2, 0, 1) - self.mean) / self.std)  # (3, S, S)

    def batch(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(B, 3, S, S) of ``images``."""
        return np.stack([self(image) for image in images])
