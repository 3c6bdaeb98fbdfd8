"""Video clips through the shared image encoder, one frame at a time.

A clip of T frames is T images: :class:`ClipEncoder` runs the :class:`ImageEncoder` on the
(B*T, 3, H, W) frames of a batch at once and gives one pooled feature per frame, (B, T, D).
:func:`build_clip_transform` is the image transform of :func:`build_transform` for a whole clip:
uint8 frames (T, H, W, 3) -> normalized float (T, 3, S, S), resized with the encoder's config.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from multimodal_rnn.encoders.image import ImageEncoder, ImageEncoderConfig
from multimodal_rnn.errors import InputError

if TYPE_CHECKING:
    from multimodal_rnn.video import VideoClip

CLIP_ENCODER = ImageEncoderConfig(channels=(16, 32, 64), image_size=32)
"""The video models' default per-frame encoder: a three-block small CNN on frames resized to 32 x 32
(a 4 x 4 grid of 64 features); at that size the moving shapes still move about a pixel per frame,
and a 2-core CPU trains a clip model in minutes."""

ClipFrames = Union["VideoClip", np.ndarray, torch.Tensor]
"""A clip's frames: a :class:`~multimodal_rnn.video.VideoClip` or its (T, H, W, 3) uint8 array."""


class ClipEncoder(nn.Module):
    """Per-frame features of clips: frames (B, T, 3, H, W) -> (B, T, F).

    With ``spatial_size`` None, F is the encoder's feature size D and each frame's feature is its
    grid mean (what the frame holds, not where). With ``spatial_size`` S, each frame's whole grid
    (N positions x D, flattened) goes through a linear layer and a ReLU to F = S features, which
    keeps where things are (motion is a change of place). Padded frames (beyond a clip's length)
    are encoded too (cheap, and BatchNorm sees batches of one shape); the heads mask them.
    """

    def __init__(
        self, config: ImageEncoderConfig, *, spatial_size: int | None = None, load_weights: bool = False
    ) -> None:
        super().__init__()
        self.image = ImageEncoder(config, load_weights=load_weights)
        grid = self.image.grid_shape[0] * self.image.grid_shape[1]
        self.spatial = nn.Linear(grid * self.image.feature_size, spatial_size) if spatial_size is not None else None
        self.feature_size = spatial_size if spatial_size is not None else self.image.feature_size

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, T, 3, H, W), normalized, H = W = the encoder's image size -> features (B, T, F)."""
        if frames.dim() != 5 or frames.shape[2] != 3:
            raise InputError(f"clip frames must be (B, T, 3, H, W), got {tuple(frames.shape)}")
        batch, steps = frames.shape[:2]
        encoded = self.image(frames.reshape(batch * steps, *frames.shape[2:]))
        if self.spatial is None:
            return encoded.pooled.reshape(batch, steps, -1)  # (B, T, D)
        return torch.relu(self.spatial(encoded.grid.reshape(batch, steps, -1)))  # (B, T, S)


class ClipTransform:
    """uint8 frames (T, H, W, 3) (or a VideoClip) -> normalized float (T, 3, S, S).

    small_cnn: every frame resized to S x S (bilinear, antialiased; a no-op when the frames are
    S x S already); torchvision backbones: the shorter side to S * 8/7, then the centre S x S, as
    :func:`~multimodal_rnn.encoders.image.build_transform` does for images. With ``max_shift`` (training), the whole
    clip is shifted by one random offset of up to that many pixels (edges repeated), the same for
    every frame, so motion between frames is untouched.
    """

    def __init__(self, config: ImageEncoderConfig, *, max_shift: int = 0) -> None:
        self.size = int(config.image_size)  # type: ignore[arg-type]
        self.crop = config.backbone != "small_cnn"
        self.mean = torch.tensor(config.mean, dtype=torch.float32)[:, None, None]
        self.std = torch.tensor(config.std, dtype=torch.float32)[:, None, None]
        self.max_shift = max_shift

    def __call__(self, clip: ClipFrames) -> torch.Tensor:
        frames = clip if isinstance(clip, (np.ndarray, torch.Tensor)) else clip.frames
        pixels = torch.as_tensor(np.ascontiguousarray(frames)) if isinstance(frames, np.ndarray) else frames
        if pixels.dim() != 4 or pixels.shape[3] != 3 or pixels.dtype != torch.uint8:
            raise InputError(f"clip frames must be uint8 (T, H, W, 3), got {pixels.dtype} {tuple(pixels.shape)}")
        tensor = pixels.permute(0, 3, 1, 2).float() / 255.0  # (T, 3, H, W)
        tensor = self._resize(tensor)
        tensor = (tensor - self.mean) / self.std
        if self.max_shift:
            pad, size = self.max_shift, self.size
            padded = F.pad(tensor, (pad, pad, pad, pad), mode="replicate")  # (T, 3, S+2p, S+2p)
            top, left = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,)))
            tensor = padded[:, :, top : top + size, left : left + size]
        return tensor.contiguous()

    def _resize(self, tensor: torch.Tensor) -> torch.Tensor:
        size = self.size
        height, width = tensor.shape[2:]
        if not self.crop:
            if (height, width) == (size, size):
                return tensor
            return F.interpolate(tensor, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        short = round(size * 8 / 7)
        scale = short / min(height, width)
        resized = (max(short, round(height * scale)), max(short, round(width * scale)))
        if resized != (height, width):
            tensor = F.interpolate(tensor, size=resized, mode="bilinear", antialias=True, align_corners=False)
        top, left = (resized[0] - size) // 2, (resized[1] - size) // 2
        return tensor[:, :, top : top + size, left : left + size]


def build_clip_transform(config: ImageEncoderConfig, *, train: bool = False) -> ClipTransform:
    """The clip transform of an encoder config; ``train`` adds a random shift of up to S/16 pixels
    per clip (small_cnn only, like the image transform)."""
    shift = max(1, int(config.image_size) // 16) if train and config.backbone == "small_cnn" else 0  # type: ignore[arg-type]
    return ClipTransform(config, max_shift=shift)


def stack_clips(clips: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Transformed clips, each (T_i, 3, S, S), as one right-padded batch (B, max T_i, 3, S, S) (zeros
    after each clip's frames) and their lengths (B,) int64."""
    if not clips:
        raise InputError("no clips to stack")
    longest = max(clip.shape[0] for clip in clips)
    frames = clips[0].new_zeros((len(clips), longest, *clips[0].shape[1:]))
    for row, clip in enumerate(clips):
        frames[row, : clip.shape[0]] = clip
    return frames, torch.tensor([clip.shape[0] for clip in clips], dtype=torch.long)


def with_differences(features: torch.Tensor) -> torch.Tensor:
    """features (B, T, F) -> (B, T, 2F): each frame's features and their change since the previous
    frame (zero at the first), the motion a recurrent core would otherwise have to work out."""
    previous = torch.cat([features[:, :1], features[:, :-1]], dim=1)
    return torch.cat([features, features - previous], dim=2)
