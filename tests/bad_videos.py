"""Hostile video files made at test time, each with what reading it must say: used at the library
boundary (tests/test_video_bad_input.py) and ready for the command line's bad-input corpus
(tests/test_bad_input_corpus.py) once commands read videos. Everything is a few kilobytes."""

from __future__ import annotations

import os
import socket
import wave
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import av
from PIL import Image

from tests.video_data import gray_frames, write_gray_clip


class BadVideo(NamedTuple):
    """``make(folder) -> path`` of the input; the ``kind`` of its VideoError; a text its message
    holds; the file the message names, relative to the folder, when not the input itself."""

    make: Callable[[Path], Path]
    kind: str
    problem: str
    named: str | None = None


def _zero_frames(tmp: Path) -> Path:
    path = tmp / "zero.avi"
    with av.open(str(path), "w", format="avi") as out:
        stream = out.add_stream("mpeg4", rate=8)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        out.start_encoding()
    return path


def _audio_only(tmp: Path) -> Path:
    with wave.open(str(tmp / "sound.mkv"), "wb") as out:  # WAV data under a video extension
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(1600))
    return tmp / "sound.mkv"


def _resized_midway(tmp: Path) -> Path:
    """Two MPEG-TS streams, 16x16 then 32x32, one after the other: a stream whose size changes."""
    for size in (16, 32):
        with av.open(str(tmp / f"{size}.ts"), "w", format="mpegts") as out:
            stream = out.add_stream("mpeg2video", rate=8)
            assert isinstance(stream, av.VideoStream)
            stream.width = stream.height = size
            stream.pix_fmt = "yuv420p"
            for frame in gray_frames(4, size):
                out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format="yuv420p")))
            out.mux(stream.encode())
    path = tmp / "resized.mp4"
    path.write_bytes((tmp / "16.ts").read_bytes() + (tmp / "32.ts").read_bytes())
    return path


def _truncated(tmp: Path, suffix: str, keep: float) -> Path:
    good = write_gray_clip(tmp / f"good{suffix}", 60)
    data = good.read_bytes()
    path = tmp / f"truncated{suffix}"
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _fifo(tmp: Path) -> Path:
    os.mkfifo(tmp / "fifo.mp4")
    return tmp / "fifo.mp4"


def _socket(tmp: Path) -> Path:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp / "sock.mp4"))
    return tmp / "sock.mp4"


def _fifo_frame(tmp: Path) -> Path:
    (tmp / "frames").mkdir()
    Image.fromarray(gray_frames(1)[0]).save(tmp / "frames" / "0.png")
    os.mkfifo(tmp / "frames" / "1.png")
    return tmp / "frames"


def _corrupt_frame(tmp: Path) -> Path:
    (tmp / "frames").mkdir()
    (tmp / "frames" / "0.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    return tmp / "frames"


def _write(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        (tmp / name).write_bytes(data)
        return tmp / name

    return make


def _empty_folder(tmp: Path) -> Path:
    (tmp / "clip").mkdir()
    (tmp / "clip" / "readme.txt").write_text("no frames here")
    return tmp / "clip"


def _png_as_video(tmp: Path) -> Path:
    Image.fromarray(gray_frames(1)[0]).save(tmp / "still.mp4", format="PNG")
    return tmp / "still.mp4"


BAD_VIDEOS: dict[str, BadVideo] = {
    "missing": BadVideo(lambda tmp: tmp / "missing.mp4", "unreadable", "no such video file"),
    "FIFO": BadVideo(_fifo, "unreadable", "is a FIFO, expected a regular video file"),
    "device": BadVideo(lambda tmp: Path("/dev/zero"), "unreadable", "is a device"),
    "socket": BadVideo(_socket, "unreadable", "is a socket"),
    "empty": BadVideo(_write("empty.avi", b""), "corrupt", "empty file, not a video"),
    "text": BadVideo(
        _write("notes.mp4", b"hello, this is text\n" * 20), "not_video", "not a video (unrecognised format"
    ),
    "still image": BadVideo(_png_as_video, "not_video", "a still image (png_pipe), not a video"),
    "audio only": BadVideo(_audio_only, "not_video", "no video stream"),
    "zero frames": BadVideo(_zero_frames, "corrupt", "video has no frames"),
    "mp4 cut in half": BadVideo(lambda tmp: _truncated(tmp, ".mp4", 0.5), "corrupt", "truncated or corrupt video"),
    "avi cut short": BadVideo(lambda tmp: _truncated(tmp, ".avi", 0.5), "corrupt", "truncated"),
    "avi cut near the end": BadVideo(lambda tmp: _truncated(tmp, ".avi", 0.8), "corrupt", "truncated video ("),
    "avi header only": BadVideo(lambda tmp: _truncated(tmp, ".avi", 0.02), "corrupt", "truncated or corrupt video"),
    "mkv cut short": BadVideo(lambda tmp: _truncated(tmp, ".mkv", 0.3), "corrupt", "truncated"),
    "AVI signature, garbage": BadVideo(
        _write("junk.avi", b"RIFF\x00\x10\x00\x00AVI LIST" + bytes(range(256)) * 8),
        "not_video",
        "no video stream",
    ),
    "size changes midway": BadVideo(_resized_midway, "corrupt", "frames of different sizes (16x16, 32x32)"),
    "folder without frames": BadVideo(_empty_folder, "not_video", "no frame images"),
    "FIFO among the frames": BadVideo(_fifo_frame, "unreadable", "is a FIFO", "frames/1.png"),
    "corrupt frame": BadVideo(_corrupt_frame, "corrupt", "corrupt image", "frames/0.png"),
}


ONLY_DECODING = (
    "zero frames",
    "avi cut short",
    "avi cut near the end",
    "size changes midway",
    "corrupt frame",
    "FIFO among the frames",
)
"""Cases the header alone does not show (probe_video reads only the header or the first frame)."""
