"""The one policy for unreadable images in datasets: count, skip, give up past a limit.

Every dataset that reads image files (captions, VQA, VisDial, ...) reads them through an
:class:`ImageReader`: an image that cannot be read is recorded in :attr:`ImageReader.bad_images`
with its one-line reason and the item is skipped (the dataset yields ``None``, which the collate
functions drop); more than ``max_bad_images`` of them raise an :class:`InputError` naming the
last one. With DataLoader worker processes each worker keeps its own count.
"""

from __future__ import annotations

from typing import Callable

import torch
from PIL import Image

from multimodal_rnn.errors import ConfigError, InputError


class ImageReader:
    """``read(path) -> (3, H, W) tensor or None``: load, transform, and apply the skip policy."""

    def __init__(
        self,
        load_image: Callable[[str], Image.Image],
        transform: Callable[[Image.Image], torch.Tensor],
        *,
        max_bad_images: int = 100,
    ) -> None:
        if max_bad_images < 0:
            raise ConfigError(f"max_bad_images must be >= 0, got {max_bad_images}")
        self.load_image = load_image
        self.transform = transform
        self.max_bad_images = max_bad_images
        self.bad_images: dict[str, str] = {}

    def read(self, path: str) -> torch.Tensor | None:
        """The transformed image at ``path``, or ``None`` if it cannot be read (recorded).

        Raises:
            InputError: this was unreadable image number ``max_bad_images + 1``.
        """
        try:
            return self.transform(self.load_image(path))
        except InputError as exc:
            self.bad_images[path] = str(exc)
            if len(self.bad_images) > self.max_bad_images:
                raise InputError(f"more than {self.max_bad_images} unreadable images; last: {exc}") from None
            return None
