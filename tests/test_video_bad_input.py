"""Hostile video inputs at the library boundary (read_clip, read_clip_bytes, probe_video): every
one is a one-line VideoError naming the file, of the right kind, and nothing blocks. (The command
line's cases can join tests/test_bad_input_corpus.py from tests/bad_videos.py.)"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from multimodal_rnn.errors import VideoError
from multimodal_rnn.video import VideoLimits, probe_video, read_clip, read_clip_bytes
from tests.bad_videos import BAD_VIDEOS, ONLY_DECODING
from tests.video_data import write_gray_clip

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


@pytest.mark.parametrize("name", list(BAD_VIDEOS))
@pytest.mark.parametrize("reader", ["read_clip", "probe_video"])
def test_bad_video_is_one_line_naming_the_file(tmp_path: Path, name: str, reader: str) -> None:
    make, kind, problem, named = BAD_VIDEOS[name]
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


def test_a_frame_over_the_pixel_limit_midway_is_refused(tmp_path: Path) -> None:
    path = BAD_VIDEOS["size changes midway"].make(tmp_path)
    with pytest.raises(VideoError, match="a frame of 32x32 pixels is over the limit of 300") as caught:
        read_clip(path, limits=VideoLimits(max_pixels=300))
    assert caught.value.kind == "too_large"
