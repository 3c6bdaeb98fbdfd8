"""Reading and writing video clips: video files through PyAV (FFmpeg), GIFs and folders of frames.

A clip is a ``uint8`` array ``(T, H, W, 3)`` of RGB frames. :func:`read_clip` samples ``T`` frames
of a video file (``.mp4``, ``.webm``, ``.avi``, ``.mkv``, ``.mov``, ``.gif``) or of a folder of
frame images (sorted by name); :func:`write_clip` writes one, atomically. Every problem a user
can cause is an :class:`~multimodal_rnn.errors.InputError` naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from multimodal_rnn.errors import InputError
from multimodal_rnn.files import atomic_write

if TYPE_CHECKING:
    import numpy as np

VIDEO_EXTENSIONS = (".mp4", ".webm", ".avi", ".mkv", ".mov", ".gif")
"""File extensions read as video."""

FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
"""Extensions of the frame images a folder clip holds."""


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


def sample_indices(total: int, num_frames: int) -> list[int]:
    """``num_frames`` frame indices spread uniformly over ``total`` frames (the centre of each of
    ``num_frames`` equal segments); frames repeat when the clip is shorter than ``num_frames``."""
    if total <= 0:
        raise ValueError("a clip without frames has no indices")
    return [min(total - 1, int((i + 0.5) * total / num_frames)) for i in range(num_frames)]


def read_clip(path: str | os.PathLike[str], *, num_frames: int | None = None) -> VideoClip:
    """The frames of the video file or frame folder at ``path``.

    ``num_frames``: sample that many frames uniformly (:func:`sample_indices`); None keeps all.
    """
    import numpy as np

    path = Path(path)
    if path.is_dir():
        from multimodal_rnn.images import load_image

        files = sorted(p for p in path.iterdir() if p.suffix.lower() in FRAME_EXTENSIONS)
        if not files:
            raise InputError(f"{path}: no frame images ({', '.join(FRAME_EXTENSIONS)}) in the folder")
        indices = sample_indices(len(files), num_frames) if num_frames is not None else list(range(len(files)))
        frames = np.stack([np.asarray(load_image(files[i])) for i in indices])
        return VideoClip(frames, tuple(indices), None, len(files))
    decoded, fps = _decode(path)
    indices = sample_indices(len(decoded), num_frames) if num_frames is not None else list(range(len(decoded)))
    return VideoClip(np.stack([decoded[i] for i in indices]), tuple(indices), fps, len(decoded))


def _decode(path: Path) -> tuple[list[np.ndarray], float | None]:
    import av

    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"{path}: no video stream")
            rate = container.streams.video[0].average_rate
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    except av.error.FFmpegError as exc:
        raise InputError(f"{path}: not a readable video ({exc})") from None
    if not frames:
        raise InputError(f"{path}: video has no frames")
    return frames, float(rate) if rate else None


def write_clip(path: str | os.PathLike[str], frames: np.ndarray, *, fps: float = 8.0) -> None:
    """Write ``frames`` ``(T, H, W, 3)`` uint8 to ``path`` atomically, in the format its extension
    names: ``.gif``; ``.avi`` (MPEG-4 part 2, as UCF-101 ships); ``.mp4`` (H.264);
    ``.mkv`` (lossless FFV1). Even width and height are required by ``.mp4``."""
    import av

    path = Path(path)
    suffix = path.suffix.lower()
    codecs = {
        ".gif": ("gif", "rgb8"),
        ".avi": ("mpeg4", "yuv420p"),
        ".mp4": ("libx264", "yuv420p"),
        ".mkv": ("ffv1", "bgr0"),
    }
    if suffix not in codecs:
        raise InputError(
            f"{path}: cannot write a clip as {suffix or 'a file without extension'} (one of {', '.join(codecs)})"
        )
    codec, pixel_format = codecs[suffix]

    def write(tmp: str) -> None:
        with av.open(tmp, "w", format={".gif": "gif", ".avi": "avi", ".mp4": "mp4", ".mkv": "matroska"}[suffix]) as out:
            stream = out.add_stream(codec, rate=round(fps))
            assert isinstance(stream, av.VideoStream)
            stream.width, stream.height = int(frames.shape[2]), int(frames.shape[1])
            stream.pix_fmt = pixel_format
            if codec == "mpeg4":
                stream.options = {"qscale": "2"}
            elif codec == "libx264":
                stream.options = {"crf": "12"}
            for frame in frames:
                # converted here, not inside encode(): at some frame sizes (32 wide) the implicit
                # conversion made x264's output depend on memory left by earlier work
                picture = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format=pixel_format)
                for packet in stream.encode(picture):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)

    atomic_write(path, write)
