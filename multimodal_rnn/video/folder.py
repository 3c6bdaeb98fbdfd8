"""Clips stored as a folder of frame images."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

from multimodal_rnn.errors import ImageError, InputError, VideoError
from multimodal_rnn.video.clips import FRAME_EXTENSIONS, VideoClip, VideoLimits, check_clip_bytes, clip_indices


def read_folder(
    path: Path, num_frames: int | None, fps: float | None, rng: random.Random | None, limits: VideoLimits
) -> VideoClip:
    import numpy as np

    files = frame_files(path, limits)
    indices = clip_indices(len(files), None, num_frames, fps, rng, str(path))
    first = np.asarray(load_frame(files[indices[0]], limits))
    check_clip_bytes(len(indices), first.shape[1], first.shape[0], limits, str(path))
    loaded = {i: np.asarray(load_frame(files[i], limits)) if i != indices[0] else first for i in sorted(set(indices))}
    shapes = {array.shape for array in loaded.values()}
    if len(shapes) > 1:
        sizes = ", ".join(f"{s[1]}x{s[0]}" for s in sorted(shapes))
        raise VideoError(f"{path}: frame images of different sizes ({sizes})", "corrupt")
    return VideoClip(np.stack([loaded[i] for i in indices]), tuple(indices), None, len(files))


def frame_files(path: Path, limits: VideoLimits) -> list[Path]:
    try:
        files = sorted((p for p in path.iterdir() if p.suffix.lower() in FRAME_EXTENSIONS), key=_natural)
    except OSError as exc:
        raise VideoError(f"{path}: cannot list the frame folder ({exc.strerror or exc})", "unreadable") from None
    if not files:
        raise VideoError(f"{path}: no frame images ({', '.join(FRAME_EXTENSIONS)}) in the folder", "not_video")
    if len(files) > limits.max_frames:
        raise VideoError(
            f"{path}: {len(files)} frame images are over the limit of {limits.max_frames} frames", "too_large"
        )
    return files


def load_frame(path: Path, limits: VideoLimits) -> Any:
    from multimodal_rnn.images import load_image

    try:
        return load_image(path, max_pixels=limits.max_pixels)
    except ImageError as exc:
        raise VideoError(str(exc), "too_large" if exc.kind == "too_large" else "corrupt") from None
    except InputError as exc:  # a FIFO, device or unreadable file among the frames
        raise VideoError(str(exc), "unreadable") from None


def _natural(path: Path) -> list[Any]:
    """Sort key: ``frame_9.png`` before ``frame_10.png``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]
