"""Clips, their limits and the choice of frames (see :mod:`multimodal_rnn.video`)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from multimodal_rnn.errors import VideoError

if TYPE_CHECKING:
    import numpy as np

VIDEO_EXTENSIONS = (".mp4", ".webm", ".avi", ".mkv", ".mov", ".gif")
"""File extensions read as video."""

FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
"""Extensions of the frame images a folder clip holds."""


@dataclass(frozen=True)
class VideoLimits:
    """What a clip may cost; a clip over any limit is a ``"too_large"`` :class:`VideoError`.

    Attributes:
        max_file_bytes: largest video file or upload (bytes).
        max_duration_s: longest duration the header may declare (seconds).
        max_frames: most frames a clip may have (declared by the header, counted while decoding,
            or frame images in a folder); also the most frames ever decoded.
        max_pixels: largest width x height of a frame.
        max_clip_bytes: largest clip returned (T x H x W x 3 bytes), checked before decoding
            (every frame of a long video is far more than its T sampled frames).
    """

    max_file_bytes: int = 2 * 1024**3
    max_duration_s: float = 600.0
    max_frames: int = 20_000
    max_pixels: int = 3840 * 2160
    max_clip_bytes: int = 2 * 1024**3


DEFAULT_LIMITS = VideoLimits()
"""2 GiB files, 10 minutes, 20,000 frames, 3840 x 2160 pixels (4K UHD), 2 GiB clips: far above
UCF-101 (7 s of 320 x 240), Kinetics (10 s) or MSR-VTT (10-30 s), and a bound on what one clip
can cost."""


def check_clip_bytes(frames: int, width: int, height: int, limits: VideoLimits, name: str) -> None:
    """Refuse a clip of ``frames`` RGB frames of ``width`` x ``height`` over ``limits.max_clip_bytes``."""
    size = frames * width * height * 3
    if size > limits.max_clip_bytes:
        raise VideoError(
            f"{name}: {frames} frames of {width}x{height} take {size} bytes, over the limit of "
            f"{limits.max_clip_bytes} bytes of a clip (sample fewer frames)",
            "too_large",
        )


class VideoClip(NamedTuple):
    """Sampled frames of a clip and where they came from.

    Attributes:
        frames: ``(T, H, W, 3)`` uint8 RGB.
        indices: the source frame index of each of the ``T`` frames (per-frame labels follow them).
        fps: the source's frame rate, frames per second (a folder of frames: None).
        total_frames: how many frames the source has.
    """

    frames: np.ndarray
    indices: tuple[int, ...]
    fps: float | None
    total_frames: int


class VideoInfo(NamedTuple):
    """What a clip's header says: ``total_frames``, ``fps`` (None for a folder of frames),
    ``width`` and ``height`` (pixels), ``duration_s`` (seconds; None when unknown)."""

    total_frames: int
    fps: float | None
    width: int
    height: int
    duration_s: float | None


def sample_indices(total: int, num_frames: int, *, rng: random.Random | None = None) -> list[int]:
    """``num_frames`` frame indices spread uniformly over ``total`` frames: the centre of each of
    ``num_frames`` equal segments, or with ``rng`` a random place in each segment; frames repeat
    when the clip is shorter than ``num_frames``."""
    if total <= 0:
        raise ValueError("a clip without frames has no indices")
    if rng is None:
        return [min(total - 1, int((i + 0.5) * total / num_frames)) for i in range(num_frames)]
    return [min(total - 1, int((i + rng.random()) * total / num_frames)) for i in range(num_frames)]


def rate_indices(
    total: int, source_fps: float, fps: float, *, num_frames: int | None = None, rng: random.Random | None = None
) -> list[int]:
    """Indices of frames ``fps`` times a second of a ``total``-frame source at ``source_fps``;
    with ``num_frames``, a window of that many consecutive ones (centred, or at a random start
    with ``rng``); fewer when the clip is shorter (frames never repeat)."""
    if total <= 0:
        raise ValueError("a clip without frames has no indices")
    if fps <= 0 or source_fps <= 0:
        raise ValueError(f"frame rates must be positive, got {fps} and {source_fps}")
    step = source_fps / fps
    every = [int(k * step + 1e-6) for k in range(int((total - 1) / step + 1e-6) + 1)]
    if num_frames is None or len(every) <= num_frames:
        return every
    spare = len(every) - num_frames
    start = rng.randint(0, spare) if rng is not None else spare // 2
    return every[start : start + num_frames]


def clip_indices(
    total: int,
    source_fps: float | None,
    num_frames: int | None,
    fps: float | None,
    rng: random.Random | None,
    name: str,
) -> list[int]:
    """The frames to take of a ``total``-frame clip at ``source_fps``: at ``fps`` when given
    (:func:`rate_indices`), else ``num_frames`` spread over it (:func:`sample_indices`), else all."""
    if fps is not None:
        if source_fps is None:
            raise VideoError(f"{name}: no frame rate to sample {fps:g} frames a second from", "corrupt")
        return rate_indices(total, source_fps, fps, num_frames=num_frames, rng=rng)
    return sample_indices(total, num_frames, rng=rng) if num_frames is not None else list(range(total))
