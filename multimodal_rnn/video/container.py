"""Video files through PyAV: the header checks, and decoding only the frames wanted."""

from __future__ import annotations

import itertools
import random
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from multimodal_rnn.errors import VideoError
from multimodal_rnn.video.clips import VideoClip, VideoInfo, VideoLimits, check_clip_bytes, clip_indices

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
        container = av.open(stream, mode="r", metadata_errors="replace")  # metadata that is not UTF-8 is no error
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
    """The first video stream's size, frame rate, duration and frame count, checked against
    ``limits``; a count the container does not give is that of the stream's packets (nothing is
    decoded), checked against the duration."""
    stream = container.streams.video[0]
    if stream.codec_context is None:
        raise VideoError(f"{name}: corrupt video (no decoder for its video stream)", "corrupt")
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
    """The sampled clip of a video file's ``stream`` (see :func:`multimodal_rnn.video.read_clip`)."""
    with open_container(stream, name) as container:  # the header (which may read the packets to count them)
        info = read_header(container, name, limits)
        seekable = _constant_rate(container, info)
    total = info.total_frames
    indices = clip_indices(total, info.fps, num_frames, fps, rng, name)
    check_clip_bytes(len(indices), info.width, info.height, limits, name)
    decoded = decode_frames(stream, set(indices), name, limits, fps=info.fps if seekable else None)
    if decoded.seen < total and max(indices) >= decoded.seen:  # the stream ended before its declared end
        if decoded.seen < total - max(2, total // 20):
            raise VideoError(
                f"{name}: truncated video ({decoded.seen} of the {total} frames its header declares)", "corrupt"
            )
        total = decoded.seen  # a header a few frames off: sample the frames there are
        indices = clip_indices(total, info.fps, num_frames, fps, rng, name)
        decoded = decode_frames(stream, set(indices), name, limits)
    import numpy as np

    shapes = sorted({decoded.frames[i].shape for i in indices})
    if len(shapes) > 1:
        sizes = ", ".join(f"{shape[1]}x{shape[0]}" for shape in shapes)
        raise VideoError(f"{name}: frames of different sizes ({sizes})", "corrupt")
    return VideoClip(np.stack([decoded.frames[i] for i in indices]), tuple(indices), info.fps, total)


def _constant_rate(container: Any, info: VideoInfo) -> bool:
    """Whether frame numbers can be told from timestamps, so that seeking is safe: an MP4/MOV,
    Matroska/WebM or AVI file whose duration times its frame rate is its frame count."""
    if info.fps is None or info.duration_s is None or container.format.name.split(",")[0] not in _SEEKABLE:
        return False
    return abs(info.duration_s * info.fps - info.total_frames) <= 1.0


_SEEKABLE = ("mov", "matroska", "avi")
"""Containers (FFmpeg names) whose index lets a seek land on the keyframe before a timestamp."""

SEEK_AHEAD_S = 4.0
"""When the next sampled frame is further ahead than this (seconds), decoding seeks to the keyframe
before it instead of decoding every frame up to it."""


class Decoded(NamedTuple):
    """``frames``: the wanted frames as RGB arrays by index; ``seen``: the index after the last
    frame decoded (the frame count when the stream ended); ``decoded``: frames decoded in all."""

    frames: dict[int, np.ndarray]
    seen: int
    decoded: int


class _Overshot(Exception):
    """A seek landed after the frame it was for."""


def decode_frames(
    stream: BinaryIO, wanted: set[int], name: str, limits: VideoLimits, *, fps: float | None = None
) -> Decoded:
    """Decode the ``wanted`` frames (a non-empty set of indices) of a video file's ``stream``,
    stopping after the last one and past ``limits.max_frames`` decoded frames.

    ``fps``: the stream's constant frame rate, given when timestamps tell frame numbers: then a
    wanted frame more than :data:`SEEK_AHEAD_S` ahead is reached by seeking (once the first two
    frames have shown timestamps that agree with their numbers; should a seek land after its
    frame, the stream is decoded again from the start without seeking).
    """
    import av

    stream.seek(0)
    with open_container(stream, name) as container:
        try:
            return _decode(container, wanted, name, limits, fps)
        except _Overshot:
            pass
        except av.error.FFmpegError as exc:
            raise VideoError(f"{name}: truncated or corrupt video ({_reason(exc)})", "corrupt") from None
    return decode_frames(stream, wanted, name, limits)


def _decode(container: Any, wanted: set[int], name: str, limits: VideoLimits, fps: float | None) -> Decoded:
    video = container.streams.video[0]
    frames: dict[int, np.ndarray] = {}
    position = decoded = 0  # the index of the next frame out of the decoder; frames decoded so far
    origin = None  # the timestamp of frame 0
    rate = fps or 0.0
    can_seek, seeked = fps is not None, False  # once seeked, frame numbers come from timestamps
    landed: int | None = None  # the number of the first frame after the last seek
    iterator = iter(container.decode(video))

    def index_of(frame: Any) -> int:
        return round(float((frame.pts - origin) * video.time_base) * rate)

    for target in sorted(wanted):
        if can_seek and origin is not None and position >= 2 and target - position > SEEK_AHEAD_S * rate:
            container.seek(origin + round(target / rate / video.time_base), stream=video, backward=True)
            iterator, seeked = iter(container.decode(video)), True
            landed = None
        while position <= target:
            frame = next(iterator, None)
            if frame is None:
                return _done(frames, position, decoded, name)
            decoded += 1
            if decoded > limits.max_frames:
                raise VideoError(f"{name}: video of over {limits.max_frames} frames is over the limit", "too_large")
            if frame.width * frame.height > limits.max_pixels:  # a stream that changes its size midway
                raise VideoError(
                    f"{name}: a frame of {frame.width}x{frame.height} pixels is over the limit of {limits.max_pixels}",
                    "too_large",
                )
            if can_seek and not seeked:  # check that timestamps follow frame numbers before any seek
                origin = frame.pts if origin is None else origin
                can_seek = frame.pts is not None and index_of(frame) == position
            if seeked:
                if frame.pts is None:
                    raise _Overshot  # no timestamp to number the frame by
                index = index_of(frame)
                if landed is None:
                    landed = index
                    if index > target:
                        raise _Overshot
                    can_seek = index >= position  # landed behind us: keyframes too rare to seek
            else:
                index = position
            if index in wanted and index not in frames:
                frames[index] = frame.to_ndarray(format="rgb24")
            position = index + 1
    return _done(frames, position, decoded, name)


def _done(frames: dict[int, np.ndarray], count: int, decoded: int, name: str) -> Decoded:
    if count == 0:
        raise VideoError(f"{name}: video has no frames", "corrupt")
    return Decoded(frames, count, decoded)


def _reason(exc: Exception) -> str:
    text = " ".join(str(getattr(exc, "strerror", None) or exc).split())
    return text[:200] if text else type(exc).__name__
