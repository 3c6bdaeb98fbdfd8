"""Hostile video inputs at the library boundary (read_clip, read_clip_bytes, probe_video): every
one is a one-line VideoError naming the file, of the right kind, and nothing blocks. (The command
line's cases join tests/test_bad_input_corpus.py with the video commands.)"""

from __future__ import annotations

import os
import signal
import socket
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image

from multimodal_rnn.errors import VideoError
from multimodal_rnn.video import probe_video, read_clip, read_clip_bytes
from tests.video_data import gray_frames, write_gray_clip

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture(autouse=True)
def no_hang() -> Iterator[None]:
    """Fail a case that blocks (a FIFO opened for reading) instead of hanging the run."""

    def alarm(signum: int, frame: Any) -> None:
        raise TimeoutError("the read blocked")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


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


CASES: dict[str, tuple[Callable[[Path], Path], str, str, str | None]] = {
    # name: (make the input, kind, problem in the message, the file the message names if not the input)
    "missing": (lambda tmp: tmp / "missing.mp4", "unreadable", "no such video file", None),
    "FIFO": (_fifo, "unreadable", "is a FIFO, expected a regular video file", None),
    "device": (lambda tmp: Path("/dev/zero"), "unreadable", "is a device", None),
    "socket": (_socket, "unreadable", "is a socket", None),
    "empty": (_write("empty.avi", b""), "corrupt", "empty file, not a video", None),
    "text": (_write("notes.mp4", b"hello, this is text\n" * 20), "not_video", "not a video (unrecognised format", None),
    "still image": (_png_as_video, "not_video", "a still image (png_pipe), not a video", None),
    "audio only": (_audio_only, "not_video", "no video stream", None),
    "zero frames": (_zero_frames, "corrupt", "video has no frames", None),
    "mp4 cut in half": (lambda tmp: _truncated(tmp, ".mp4", 0.5), "corrupt", "truncated or corrupt video", None),
    "avi cut short": (lambda tmp: _truncated(tmp, ".avi", 0.5), "corrupt", "truncated", None),
    "avi cut near the end": (lambda tmp: _truncated(tmp, ".avi", 0.8), "corrupt", "truncated video (", None),
    "avi header only": (lambda tmp: _truncated(tmp, ".avi", 0.02), "corrupt", "truncated or corrupt video", None),
    "mkv cut short": (lambda tmp: _truncated(tmp, ".mkv", 0.3), "corrupt", "truncated", None),
    "AVI signature, garbage": (
        _write("junk.avi", b"RIFF\x00\x10\x00\x00AVI LIST" + bytes(range(256)) * 8),
        "not_video",
        "no video stream",
        None,
    ),
    "folder without frames": (_empty_folder, "not_video", "no frame images", None),
    "FIFO among the frames": (_fifo_frame, "unreadable", "is a FIFO", "frames/1.png"),
    "corrupt frame": (_corrupt_frame, "corrupt", "corrupt image", "frames/0.png"),
}


ONLY_DECODING = ("zero frames", "avi cut short", "avi cut near the end", "corrupt frame", "FIFO among the frames")
"""Cases the header alone does not show (probe_video reads only the header or the first frame)."""


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("reader", ["read_clip", "probe_video"])
def test_bad_video_is_one_line_naming_the_file(tmp_path: Path, name: str, reader: str) -> None:
    make, kind, problem, named = CASES[name]
    path = make(tmp_path)
    if reader == "probe_video" and name in ONLY_DECODING:
        pytest.skip("only decoding finds this one")  # the header alone looks fine
    with pytest.raises(VideoError) as caught:
        read_clip(path, num_frames=4) if reader == "read_clip" else probe_video(path)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / named if named else path}: "), message
    assert problem in message and "\n" not in message and caught.value.kind == kind, (message, caught.value.kind)


@pytest.mark.skipif(IS_ROOT, reason="root reads files without read permission")
def test_permission_denied_says_so(tmp_path: Path) -> None:
    path = write_gray_clip(tmp_path / "locked.avi", 3)
    path.chmod(0)
    with pytest.raises(VideoError, match="locked.avi: cannot read video file \\(Permission denied\\)"):
        read_clip(path)


@pytest.mark.parametrize(
    ("data", "kind", "problem"),
    [
        (b"", "corrupt", "empty file"),
        (b"GIF89a\x10\x00", "corrupt", "truncated or corrupt video"),
        (b"%PDF-1.4 not a video" * 10, "not_video", "not a video"),
    ],
)
def test_bad_uploads_name_the_upload(data: bytes, kind: str, problem: str) -> None:
    with pytest.raises(VideoError) as caught:
        read_clip_bytes(data, name="clip.mp4")
    assert str(caught.value).startswith("clip.mp4: ") and problem in str(caught.value)
    assert caught.value.kind == kind
