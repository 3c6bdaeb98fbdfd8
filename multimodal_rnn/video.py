"""Reading and writing video clips: video files through PyAV (FFmpeg), GIFs and folders of frames.

A clip is a ``uint8`` array ``(T, H, W, 3)`` of RGB frames. :func:`read_clip` samples ``T`` frames
of a video file (``.mp4``, ``.webm``, ``.avi``, ``.mkv``, ``.mov``, ``.gif``) or of a folder of
frame images (sorted by name, numbers in names compared as numbers); :func:`read_clip_bytes`
does the same for an upload in memory; :func:`write_clip` writes a clip, atomically.

Sampling (:func:`sample_indices`, :func:`rate_indices`): ``num_frames`` frames spread over the
whole clip, at the centre of ``num_frames`` equal segments or, given a seeded ``random.Random``,
at a random place in each segment (the random-offset sampling of training); or, with ``fps``,
frames at that rate (a window of ``num_frames`` of them, centred or at a random start).

Cost: only the sampled frames are converted to RGB, and decoding stops after the last sampled
frame. Limits (:class:`VideoLimits`, defaults :data:`DEFAULT_LIMITS`): file bytes (from ``stat``,
before opening), pixels per frame, duration and frame count (from the header, before anything is
decoded, and counted again while decoding, so a lying header costs at most the limit).

Every problem a user can cause is a :class:`~multimodal_rnn.errors.VideoError` naming the file,
whose ``kind`` is ``"too_large"``, ``"not_video"``, ``"corrupt"`` or ``"unreadable"``: a missing
file, a FIFO, device or socket, permission denied (the checks of
:func:`multimodal_rnn.files.open_input`: nothing can block), an empty, truncated or corrupt file,
a still image, a file without a video stream or without frames, a folder without frame images.
"""

from __future__ import annotations

import io
import itertools
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from multimodal_rnn.errors import ImageError, InputError, VideoError
from multimodal_rnn.files import atomic_write, open_input

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
    """

    max_file_bytes: int = 2 * 1024**3
    max_duration_s: float = 600.0
    max_frames: int = 20_000
    max_pixels: int = 3840 * 2160


DEFAULT_LIMITS = VideoLimits()
"""2 GiB, 10 minutes, 20,000 frames, 3840 x 2160 pixels (4K UHD): far above UCF-101 (7 s of
320 x 240), Kinetics (10 s) or MSR-VTT (10-30 s), and a bound on what one clip can cost."""


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
        return _read_folder(path, num_frames, fps, rng, limits)
    try:
        handle = open_input(path, what="video file", max_bytes=limits.max_file_bytes)
    except InputError as exc:
        kind = "too_large" if "over the limit" in str(exc) else "unreadable"
        raise VideoError(str(exc), kind) from None
    with handle:
        return _read_stream(handle, str(path), num_frames, fps, rng, limits)


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
    return _read_stream(io.BytesIO(data), name, num_frames, fps, rng, limits)


def probe_video(path: str | os.PathLike[str], *, limits: VideoLimits = DEFAULT_LIMITS) -> VideoInfo:
    """The header of the video file (or frame folder) at ``path``, checked against ``limits``;
    nothing is decoded (a folder: its first frame is read for the size)."""
    path = Path(path)
    if path.is_dir():
        files = _frame_files(path, limits)
        width, height = _load_frame(files[0], limits).size
        return VideoInfo(len(files), None, width, height, None)
    try:
        handle = open_input(path, what="video file", max_bytes=limits.max_file_bytes)
    except InputError as exc:
        raise VideoError(str(exc), "too_large" if "over the limit" in str(exc) else "unreadable") from None
    with handle, _open(handle, str(path)) as container:
        return _header(container, str(path), limits)


def _open(stream: BinaryIO, name: str) -> Any:
    import av

    head = stream.read(12)
    if not head:
        raise VideoError(f"{name}: empty file, not a video", "corrupt")
    stream.seek(0)
    try:
        container = av.open(stream, mode="r")
    except av.error.FFmpegError as exc:
        if _looks_like_video(head):
            raise VideoError(f"{name}: truncated or corrupt video ({_reason(exc)})", "corrupt") from None
        raise VideoError(f"{name}: not a video (unrecognised format: {_reason(exc)})", "not_video") from None
    if container.format.name == "image2" or container.format.name.endswith("_pipe"):
        container.close()
        raise VideoError(f"{name}: a still image ({container.format.name}), not a video", "not_video")
    if not container.streams.video:
        container.close()
        raise VideoError(f"{name}: no video stream", "not_video")
    return container


def _looks_like_video(head: bytes) -> bool:
    """Whether a file's first 12 bytes are those of an MP4/MOV, AVI, Matroska/WebM or GIF file."""
    return (
        head[4:8] == b"ftyp"
        or (head[:4] == b"RIFF" and head[8:12] == b"AVI ")
        or head[:4] == b"\x1a\x45\xdf\xa3"
        or head[:6] in (b"GIF87a", b"GIF89a")
    )


def _header(container: Any, name: str, limits: VideoLimits) -> VideoInfo:
    stream = container.streams.video[0]
    width, height = int(stream.codec_context.width), int(stream.codec_context.height)
    if width * height > limits.max_pixels:
        raise VideoError(
            f"{name}: frames of {width}x{height} = {width * height} pixels are over the limit of {limits.max_pixels}",
            "too_large",
        )
    if width <= 0 or height <= 0:
        raise VideoError(f"{name}: frames have no pixels ({width}x{height})", "corrupt")
    fps = float(stream.average_rate) if stream.average_rate else None
    if stream.duration is not None and stream.time_base is not None:
        duration: float | None = float(stream.duration * stream.time_base)
    else:
        duration = container.duration / 1_000_000 if container.duration is not None else None
    if duration is not None and duration > limits.max_duration_s:
        raise VideoError(
            f"{name}: video of {duration:.1f} s is over the limit of {limits.max_duration_s:g} s", "too_large"
        )
    total = int(stream.frames)
    if total == 0:  # the container does not say (Matroska, WebM): count packets, decoding nothing
        packets = (packet for packet in container.demux(stream) if packet.size)
        total = sum(1 for _ in itertools.islice(packets, limits.max_frames + 1))
        container.seek(0)
    if total == 0:
        raise VideoError(f"{name}: video has no frames", "corrupt")
    if total > limits.max_frames:
        raise VideoError(
            f"{name}: video of {total} frames is over the limit of {limits.max_frames} frames", "too_large"
        )
    return VideoInfo(total, fps, width, height, duration)


def _read_stream(
    stream: BinaryIO,
    name: str,
    num_frames: int | None,
    fps: float | None,
    rng: random.Random | None,
    limits: VideoLimits,
) -> VideoClip:
    with _open(stream, name) as container:
        info = _header(container, name, limits)
        indices = _indices(info.total_frames, info.fps, num_frames, fps, rng, name)
        decoded, count = _decode(container, set(indices), name, limits)
    if count == 0:
        raise VideoError(f"{name}: video has no frames", "corrupt")
    total = info.total_frames
    if count < total and max(indices) >= count:  # the header promised more frames than the stream holds
        total = count
        indices = _indices(total, info.fps, num_frames, fps, rng, name)
        stream.seek(0)
        with _open(stream, name) as container:
            decoded, count = _decode(container, set(indices), name, limits)
    import numpy as np

    return VideoClip(np.stack([decoded[i] for i in indices]), tuple(indices), info.fps, total)


def _indices(
    total: int,
    source_fps: float | None,
    num_frames: int | None,
    fps: float | None,
    rng: random.Random | None,
    name: str,
) -> list[int]:
    if fps is not None:
        if source_fps is None:
            raise VideoError(f"{name}: no frame rate to sample {fps:g} frames a second from", "corrupt")
        return rate_indices(total, source_fps, fps, num_frames=num_frames, rng=rng)
    return sample_indices(total, num_frames, rng=rng) if num_frames is not None else list(range(total))


def _decode(container: Any, wanted: set[int], name: str, limits: VideoLimits) -> tuple[dict[int, np.ndarray], int]:
    """The wanted frames as RGB arrays by index, and how many frames were decoded (decoding
    stops after the last wanted one, or at the end of the stream when none is wanted)."""
    import av

    last = max(wanted) if wanted else limits.max_frames
    frames: dict[int, np.ndarray] = {}
    count = 0
    try:
        for frame in container.decode(video=0):
            if count in wanted:
                frames[count] = frame.to_ndarray(format="rgb24")
            count += 1
            if count > last:
                break
            if count > limits.max_frames:
                raise VideoError(f"{name}: video of over {limits.max_frames} frames is over the limit", "too_large")
    except av.error.FFmpegError as exc:
        raise VideoError(f"{name}: truncated or corrupt video ({_reason(exc)})", "corrupt") from None
    return frames, count


def _read_folder(
    path: Path, num_frames: int | None, fps: float | None, rng: random.Random | None, limits: VideoLimits
) -> VideoClip:
    import numpy as np

    files = _frame_files(path, limits)
    indices = _indices(len(files), None, num_frames, fps, rng, str(path))
    loaded = {i: np.asarray(_load_frame(files[i], limits)) for i in sorted(set(indices))}
    shapes = {array.shape for array in loaded.values()}
    if len(shapes) > 1:
        sizes = ", ".join(f"{s[1]}x{s[0]}" for s in sorted(shapes))
        raise VideoError(f"{path}: frame images of different sizes ({sizes})", "corrupt")
    return VideoClip(np.stack([loaded[i] for i in indices]), tuple(indices), None, len(files))


def _frame_files(path: Path, limits: VideoLimits) -> list[Path]:
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


def _load_frame(path: Path, limits: VideoLimits) -> Any:
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


def _reason(exc: Exception) -> str:
    text = " ".join(str(getattr(exc, "strerror", None) or exc).split())
    return text[:200] if text else type(exc).__name__


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
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)

    atomic_write(path, write)
