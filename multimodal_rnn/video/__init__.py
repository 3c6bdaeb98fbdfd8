"""Reading and writing video clips: video files through PyAV (FFmpeg), GIFs and folders of frames.

A clip is a ``uint8`` array ``(T, H, W, 3)`` of RGB frames. :func:`read_clip` samples ``T`` frames
of a video file (``.mp4``, ``.webm``, ``.avi``, ``.mkv``, ``.mov``, ``.gif``) or of a folder of
frame images (sorted by name, numbers in names compared as numbers); :func:`read_clip_bytes`
does the same for an upload in memory; :func:`write_clip` writes a clip, atomically.

Sampling (:func:`sample_indices`, :func:`rate_indices`): ``num_frames`` frames spread over the
whole clip, at the centre of ``num_frames`` equal segments or, given a seeded ``random.Random``,
at a random place in each segment (the random-offset sampling of training); or, with ``fps``,
frames at that rate (a window of ``num_frames`` of them, centred or at a random start).

Cost: only the sampled frames are converted to RGB, decoding stops after the last sampled
frame, and in a constant-rate MP4/MOV, Matroska/WebM or AVI file a sampled frame more than
4 s ahead is reached by seeking to the keyframe before it. Limits (:class:`VideoLimits`, defaults
:data:`DEFAULT_LIMITS`): file bytes (from ``stat``, before opening), pixels per frame, duration
and frame count (from the header, before anything is decoded, and counted again while decoding,
so a lying header costs at most the limit).

Every problem a user can cause is a :class:`~multimodal_rnn.errors.VideoError` naming the file,
whose ``kind`` is ``"too_large"``, ``"not_video"``, ``"corrupt"`` or ``"unreadable"``: a missing
file, a FIFO, device or socket, permission denied (the checks of
:func:`multimodal_rnn.files.open_input`: nothing can block), an empty, truncated or corrupt file,
a still image, a file without a video stream or without frames, a folder without frame images.
"""

from __future__ import annotations

import io
import os
import random
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from multimodal_rnn.errors import InputError, VideoError
from multimodal_rnn.files import atomic_write, check_input_file, open_input
from multimodal_rnn.video.clips import (
    DEFAULT_LIMITS,
    FRAME_EXTENSIONS,
    VIDEO_EXTENSIONS,
    VideoClip,
    VideoInfo,
    VideoLimits,
    rate_indices,
    sample_indices,
)
from multimodal_rnn.video.container import open_container, read_header, read_stream
from multimodal_rnn.video.folder import frame_files, load_frame, read_folder

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "DEFAULT_LIMITS",
    "FRAME_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "VideoClip",
    "VideoInfo",
    "VideoLimits",
    "probe_video",
    "rate_indices",
    "read_clip",
    "read_clip_bytes",
    "sample_indices",
    "write_clip",
]


def read_clip(
    path: str | os.PathLike[str],
    *,
    num_frames: int | None = None,
    fps: float | None = None,
    rng: random.Random | None = None,
    limits: VideoLimits = DEFAULT_LIMITS,
) -> VideoClip:
    """The frames of the video file or frame folder at ``path``.

    ``num_frames``: sample that many frames (:func:`sample_indices`; with ``rng`` at random
    offsets); ``fps``: frames at that rate instead (:func:`rate_indices`; not for a folder of
    frames, which has no frame rate); neither: every frame. Raises :class:`VideoError`.
    """
    path = Path(path)
    if path.is_dir():
        return read_folder(path, num_frames, fps, rng, limits)
    with _open_file(path, limits) as handle:
        return read_stream(handle, str(path), num_frames, fps, rng, limits)


def read_clip_bytes(
    data: bytes,
    *,
    name: str = "<upload>",
    num_frames: int | None = None,
    fps: float | None = None,
    rng: random.Random | None = None,
    limits: VideoLimits = DEFAULT_LIMITS,
) -> VideoClip:
    """Like :func:`read_clip` for a video file's bytes (e.g. an upload); ``name`` stands for the
    file in error messages."""
    if len(data) > limits.max_file_bytes:
        raise VideoError(
            f"{name}: video of {len(data)} bytes is over the limit of {limits.max_file_bytes} bytes", "too_large"
        )
    return read_stream(io.BytesIO(data), name, num_frames, fps, rng, limits)


def probe_video(path: str | os.PathLike[str], *, limits: VideoLimits = DEFAULT_LIMITS) -> VideoInfo:
    """The header of the video file (or frame folder) at ``path``, checked against ``limits``;
    nothing is decoded (a folder: its first frame is read for the size)."""
    path = Path(path)
    if path.is_dir():
        files = frame_files(path, limits)
        width, height = load_frame(files[0], limits).size
        return VideoInfo(len(files), None, width, height, None)
    with _open_file(path, limits) as handle, open_container(handle, str(path)) as container:
        return read_header(container, str(path), limits)


def _open_file(path: Path, limits: VideoLimits) -> BinaryIO:
    """``path`` opened through :func:`multimodal_rnn.files.open_input` (a regular file we may read,
    opened without blocking) and no larger than ``limits.max_file_bytes``."""
    if "\0" in str(path):
        raise VideoError(f"{str(path)!r}: not a file name (it holds a NUL character)", "unreadable")
    try:
        size = check_input_file(path, what="video file")
        if size > limits.max_file_bytes:
            raise VideoError(
                f"{path}: video file of {size} bytes is over the limit of {limits.max_file_bytes} bytes", "too_large"
            )
        return open_input(path, what="video file", max_bytes=limits.max_file_bytes)
    except VideoError:
        raise
    except InputError as exc:
        raise VideoError(str(exc), "unreadable") from None


def write_clip(path: str | os.PathLike[str], frames: np.ndarray, *, fps: float = 8.0) -> None:
    """Write ``frames`` ``(T, H, W, 3)`` uint8 to ``path`` atomically, in the format its extension
    names: ``.gif``; ``.avi`` (MPEG-4 part 2, as UCF-101 ships); ``.mp4`` (H.264);
    ``.mkv`` (lossless FFV1). Even width and height are required by ``.mp4``. The same frames
    give the same bytes every time: x264 runs on one thread and without its assembly (with its
    threads, or with its assembly on small frames, one to three of the 48 H.264 clips of a small
    moving-shapes world came out different from one run to the next, at random; x264's C code
    decodes to the same frames as its assembly, at about 1.6x the encode time: 18 ms for a
    16-frame 64x64 clip)."""
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
            if codec == "mpeg4":  # a fixed quantizer of 2 (ffmpeg's -q:v 2); a "qscale" option is ignored
                stream.codec_context.qscale = True
                stream.codec_context.global_quality = 2 * 118  # FF_QP2LAMBDA
            elif codec == "libx264":
                stream.options = {"crf": "12", "threads": "1", "x264-params": "no-asm=1"}  # see the docstring
            for frame in frames:
                # converted here, not inside encode(): at some frame sizes (32 wide) the implicit
                # conversion made x264's output depend on memory left by earlier work
                picture = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format=pixel_format)
                for packet in stream.encode(picture):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)

    atomic_write(path, write)
