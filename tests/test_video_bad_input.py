"""Hostile video inputs at the library boundary (read_clip, read_clip_bytes, probe_video): every
one is a one-line VideoError naming the file, of the right kind, and nothing blocks. (The command
line's cases can join tests/test_bad_input_corpus.py from tests/bad_videos.py.)"""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from multimodal_rnn.errors import VideoError
from multimodal_rnn.video import VideoLimits, probe_video, read_clip, read_clip_bytes, write_clip
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


def test_damaged_videos_read_or_fail_as_one_video_error(tmp_path: Path) -> None:
    """Bytes changed, cut out or put in at random (found: metadata that is not UTF-8, a stream of
    no known codec): each read gives a clip or a VideoError, never another exception."""
    rng = random.Random(0)
    originals = [_noise_clip(tmp_path, suffix) for suffix in (".avi", ".mp4", ".mkv", ".gif")]
    for _ in range(150):
        data = bytearray(rng.choice(originals))
        for _ in range(rng.choice((1, 3, 20))):
            at = rng.randrange(len(data))
            if rng.random() < 0.6:
                data[at] = rng.randrange(256)
            elif rng.random() < 0.5:
                del data[at : at + rng.randrange(1, 200)]
            else:
                data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 50)))
        try:
            read_clip_bytes(bytes(data), name="damaged", num_frames=rng.choice((None, 4)))
        except VideoError as exc:
            assert str(exc).startswith("damaged: ") and "\n" not in str(exc)


def _noise_clip(folder: Path, suffix: str) -> bytes:
    frames = np.random.default_rng(0).integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    write_clip(folder / f"noise{suffix}", frames)
    return (folder / f"noise{suffix}").read_bytes()


def test_a_name_with_a_nul_character_is_refused() -> None:  # a video id of a dataset file can hold one
    with pytest.raises(VideoError, match="not a file name") as caught:
        read_clip("videos/a\0b.mp4")
    assert caught.value.kind == "unreadable"
