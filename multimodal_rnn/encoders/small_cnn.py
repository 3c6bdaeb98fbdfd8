"""A small CNN for low-resolution images (the 64x64 synthetic shapes world), trained from scratch."""

from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """Blocks of Conv(3x3, same padding)-BatchNorm-ReLU-MaxPool(2x2).

    Each block halves the resolution, so a 64x64 image and four blocks give a 4x4 grid. With the
    default widths (32, 64, 96, 128) it has about 185K parameters.

    Attributes:
        out_channels: width of the last block (the encoder's feature size D).
    """

    def __init__(self, channels: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous = 3
        for width in channels:
            layers += [nn.Conv2d(previous, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            previous = width
        self.features = nn.Sequential(*layers)
        self.out_channels = previous

    def blocks(self) -> list[tuple[str, list[nn.Module]]]:
        """("block1", its layers), ... in order (for partial fine-tuning)."""
        layers = list(self.features)
        return [(f"block{i // 4 + 1}", layers[i:i + 4]) for i in range(0, len(layers), 4)]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) -> feature maps (B, C, H / 2^k, W / 2^k), k = number of blocks."""
        return self.features(images)


def pooled_size(size: int, blocks: int) -> int:
    """Output side of ``blocks`` 2x2 max poolings applied to ``size`` pixels (floor division)."""
    for _ in range(blocks):
        size //= 2
    return size
