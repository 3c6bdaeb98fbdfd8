"""Video files through PyAV: the header checks, and decoding only the frames wanted."""

from __future__ import annotations

import itertools
import random
from typing import TYPE_CHECKING, Any, BinaryIO

from multimodal_rnn.errors import VideoError
from multimodal_rnn.video.clips import VideoClip, VideoInfo, VideoLimits, clip_indices

if TYPE_CHECKING:
    import numpy as np


def open_container(stream: BinaryIO, name: str) -> Any:
    """An input container of ``stream`` (read from its start) holding a video stream, or a
    :class:`VideoError` saying why not."""
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


def read_header(container: Any, name: str, limits: VideoLimits) -> VideoInfo:
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
        import av

        try:
            packets = (packet for packet in container.demux(stream) if packet.size)
            total = sum(1 for _ in itertools.islice(packets, limits.max_frames + 1))
        except av.error.FFmpegError as exc:
            raise VideoError(f"{name}: truncated or corrupt video ({_reason(exc)})", "corrupt") from None
        expected = round(duration * fps) if duration is not None and fps is not None else 0
        if total < expected - max(2, expected // 20):
            raise VideoError(f"{name}: truncated video ({total} of the {expected} frames of its duration)", "corrupt")
    if total == 0:
        raise VideoError(f"{name}: video has no frames", "corrupt")
    if total > limits.max_frames:
        raise VideoError(
            f"{name}: video of {total} frames is over the limit of {limits.max_frames} frames", "too_large"
        )
    return VideoInfo(total, fps, width, height, duration)


def read_stream(
    stream: BinaryIO,
    name: str,
    num_frames: int | None,
    fps: float | None,
    rng: random.Random | None,
    limits: VideoLimits,
) -> VideoClip:
    with open_container(stream, name) as container:  # the header (which may read the packets to count them)
        info = read_header(container, name, limits)
    total = info.total_frames
    indices = clip_indices(total, info.fps, num_frames, fps, rng, name)
    decoded, count = decode_frames(stream, set(indices), name, limits)
    if count < total and max(indices) >= count:  # the stream ended before the frames its header declares
        if count < total - max(2, total // 20):
            raise VideoError(f"{name}: truncated video ({count} of the {total} frames its header declares)", "corrupt")
        total = count  # a header a few frames off: sample the frames there are
        indices = clip_indices(total, info.fps, num_frames, fps, rng, name)
        decoded, count = decode_frames(stream, set(indices), name, limits)
    import numpy as np

    return VideoClip(np.stack([decoded[i] for i in indices]), tuple(indices), info.fps, total)


def decode_frames(
    stream: BinaryIO, wanted: set[int], name: str, limits: VideoLimits
) -> tuple[dict[int, np.ndarray], int]:
    """The wanted frames (a non-empty set) as RGB arrays by index, and how many frames were
    decoded: decoding stops after the last wanted one, and past ``limits.max_frames``."""
    import av

    last = max(wanted)
    frames: dict[int, np.ndarray] = {}
    count = 0
    stream.seek(0)
    with open_container(stream, name) as container:
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
    if count == 0:
        raise VideoError(f"{name}: video has no frames", "corrupt")
    return frames, count


def _reason(exc: Exception) -> str:
    text = " ".join(str(getattr(exc, "strerror", None) or exc).split())
    return text[:200] if text else type(exc).__name__
