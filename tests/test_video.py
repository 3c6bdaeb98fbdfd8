"""multimodal_rnn.video on tiny generated clips: formats, sampling, uploads, frame folders, limits."""

from __future__ import annotations

import random
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from multimodal_rnn.errors import VideoError
from multimodal_rnn.video import (
    DEFAULT_LIMITS,
    VideoLimits,
    probe_video,
    rate_indices,
    read_clip,
    read_clip_bytes,
    sample_indices,
    write_clip,
)
from multimodal_rnn.video.container import decode_frames
from tests.video_data import frame_numbers, gray_frames, write_gray_clip


@pytest.mark.parametrize("suffix", [".avi", ".mp4", ".mkv", ".gif"])
def test_every_written_format_reads_back(tmp_path: Path, suffix: str) -> None:
    path = write_gray_clip(tmp_path / f"clip{suffix}", 10)
    clip = read_clip(path)
    assert clip.frames.shape == (10, 16, 16, 3) and clip.frames.dtype == np.uint8
    assert frame_numbers(clip.frames) == list(range(10)) and clip.indices == tuple(range(10))
    assert clip.total_frames == 10 and clip.fps == pytest.approx(8.0, rel=0.05)


def test_lossless_mkv_is_exact(tmp_path: Path) -> None:
    frames = np.random.default_rng(0).integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    write_clip(tmp_path / "c.mkv", frames)
    assert np.array_equal(read_clip(tmp_path / "c.mkv").frames, frames)


def test_sample_indices_uniform_and_random_offsets() -> None:
    assert sample_indices(10, 5) == [1, 3, 5, 7, 9]
    assert sample_indices(2, 4) == [0, 0, 1, 1]  # short clips repeat frames
    draws = sample_indices(100, 4, rng=random.Random(3))
    assert draws == sample_indices(100, 4, rng=random.Random(3))
    assert [i // 25 for i in draws] == [0, 1, 2, 3] and draws != sample_indices(100, 4)
    with pytest.raises(ValueError, match="without frames"):
        sample_indices(0, 4)


def test_rate_indices_windows() -> None:
    assert rate_indices(10, 8.0, 4.0) == [0, 2, 4, 6, 8]
    assert rate_indices(10, 8.0, 4.0, num_frames=3) == [2, 4, 6]  # centred window
    assert rate_indices(10, 8.0, 4.0, num_frames=9) == [0, 2, 4, 6, 8]  # shorter, no repeats
    assert rate_indices(9, 30.0, 12.0) == [0, 2, 5, 7]
    starts = {rate_indices(20, 8.0, 8.0, num_frames=4, rng=random.Random(s))[0] for s in range(30)}
    assert starts <= set(range(17)) and len(starts) > 3


def test_read_clip_samples_the_frames_it_says(tmp_path: Path) -> None:
    path = write_gray_clip(tmp_path / "c.avi", 12)
    clip = read_clip(path, num_frames=4)
    assert clip.indices == (1, 4, 7, 10) and frame_numbers(clip.frames) == [1, 4, 7, 10]
    random_clip = read_clip(path, num_frames=4, rng=random.Random(1))
    assert frame_numbers(random_clip.frames) == list(random_clip.indices)
    at_rate = read_clip(path, fps=2, num_frames=2)
    assert at_rate.indices == (0, 4) and frame_numbers(at_rate.frames) == [0, 4]


def test_decoding_stops_after_the_last_sampled_frame(tmp_path: Path) -> None:
    path = write_gray_clip(tmp_path / "c.mkv", 12)
    with path.open("rb") as handle:
        decoded = decode_frames(handle, {1, 3}, str(path), DEFAULT_LIMITS)
    assert (decoded.seen, decoded.decoded, sorted(decoded.frames)) == (4, 4, [1, 3])  # frames 4 to 11 never decoded
    with path.open("rb") as handle, pytest.raises(VideoError, match="video of over 2 frames is over the limit"):
        decode_frames(handle, {10}, str(path), VideoLimits(max_frames=2))  # a header that lies costs at most the limit


def _numbered_frames(count: int) -> np.ndarray:
    """Frame t: the top half at level 16 * (t // 16), the bottom half at 16 * (t % 16)."""
    frames = np.zeros((count, 16, 16, 3), dtype=np.uint8)
    for t in range(count):
        frames[t, :8], frames[t, 8:] = 16 * (t // 16), 16 * (t % 16)
    return frames


def _numbers(frames: np.ndarray) -> list[int]:
    return [round(f[:8].mean() / 16) * 16 + round(f[8:].mean() / 16) for f in frames.astype(float)]


@pytest.mark.parametrize("suffix", [".avi", ".mp4", ".mkv"])
def test_far_frames_are_reached_by_seeking(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"long{suffix}"
    write_clip(path, _numbered_frames(240), fps=8)  # 30 s; a seek when the next frame is over 4 s ahead
    clip = read_clip(path, num_frames=4)
    assert clip.indices == (30, 90, 150, 210) and _numbers(clip.frames) == [30, 90, 150, 210]
    with path.open("rb") as handle:
        decoded = decode_frames(handle, set(clip.indices), str(path), DEFAULT_LIMITS, fps=8.0)
    assert decoded.seen == 211
    if suffix != ".mp4":  # x264 puts a keyframe every 250 frames: no seek can help there
        assert decoded.decoded < 100  # seeks to the keyframe before each frame (MPEG-4 and FFV1: every 12 or 1)
    assert sorted(decoded.frames) == [30, 90, 150, 210]
    assert [_numbers(decoded.frames[i][None])[0] for i in (30, 90, 150, 210)] == [30, 90, 150, 210]
    random_clip = read_clip(path, num_frames=6, rng=random.Random(2))
    assert _numbers(random_clip.frames) == list(random_clip.indices)


def test_read_clip_bytes_is_read_clip_for_uploads(tmp_path: Path) -> None:
    path = write_gray_clip(tmp_path / "c.mp4", 6)
    clip = read_clip_bytes(path.read_bytes(), name="upload.mp4", num_frames=3)
    assert clip.indices == (1, 3, 5) and frame_numbers(clip.frames) == [1, 3, 5]
    with pytest.raises(VideoError, match="^upload.mp4: video of .* bytes is over the limit of 100 bytes") as caught:
        read_clip_bytes(path.read_bytes(), name="upload.mp4", limits=VideoLimits(max_file_bytes=100))
    assert caught.value.kind == "too_large"


def test_frame_folders_sort_numbers_as_numbers(tmp_path: Path) -> None:
    frames = gray_frames(11)
    for t in range(11):
        Image.fromarray(frames[t]).save(tmp_path / f"frame_{t}.png")
    (tmp_path / "notes.txt").write_text("not a frame")
    clip = read_clip(tmp_path)
    assert frame_numbers(clip.frames) == list(range(11)) and clip.fps is None and clip.total_frames == 11
    assert read_clip(tmp_path, num_frames=2).indices == (2, 8)
    assert probe_video(tmp_path)[:4] == (11, None, 16, 16)
    with pytest.raises(VideoError, match="no frame rate to sample 4 frames a second"):
        read_clip(tmp_path, fps=4)


def test_probe_reads_the_header(tmp_path: Path) -> None:
    info = probe_video(write_gray_clip(tmp_path / "c.avi", 6, fps=4))
    assert (info.total_frames, info.fps, info.width, info.height) == (6, 4.0, 16, 16)
    assert info.duration_s == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("limits", "problem"),
    [
        (VideoLimits(max_pixels=255), "frames of 16x16 = 256 pixels are over the limit of 255"),
        (VideoLimits(max_duration_s=1.0), "video of 1.5 s is over the limit of 1 s"),
        (VideoLimits(max_frames=11), "video of 12 frames is over the limit of 11 frames"),
        (VideoLimits(max_file_bytes=10), "bytes is over the limit of 10 bytes"),
        (VideoLimits(max_clip_bytes=1535), "2 frames of 16x16 take 1536 bytes, over the limit of 1535 bytes"),
    ],
)
def test_limits_refuse_before_decoding(tmp_path: Path, limits: VideoLimits, problem: str) -> None:
    path = write_gray_clip(tmp_path / "c.avi", 12)
    with pytest.raises(VideoError) as caught:
        read_clip(path, num_frames=2, limits=limits)
    assert (
        caught.value.kind == "too_large" and str(caught.value).startswith(f"{path}: ") and problem in str(caught.value)
    )


def test_frame_folder_limits(tmp_path: Path) -> None:
    for t in range(3):
        Image.fromarray(gray_frames(3)[t]).save(tmp_path / f"{t}.png")
    with pytest.raises(VideoError, match="3 frames of 16x16 take 2304 bytes, over the limit of 2000"):
        read_clip(tmp_path, limits=VideoLimits(max_clip_bytes=2000))
    with pytest.raises(VideoError, match="3 frame images are over the limit of 2 frames"):
        read_clip(tmp_path, limits=VideoLimits(max_frames=2))
    with pytest.raises(VideoError, match="over the limit of 100") as caught:
        read_clip(tmp_path, limits=VideoLimits(max_pixels=100))
    assert caught.value.kind == "too_large"
    Image.new("RGB", (8, 8)).save(tmp_path / "3.png")
    with pytest.raises(VideoError, match="frame images of different sizes \\(8x8, 16x16\\)"):
        read_clip(tmp_path)


def test_write_clip_refuses_unknown_extensions(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="cannot write a clip as .webm"):
        write_clip(tmp_path / "c.webm", gray_frames(2))


def test_timestamps_that_do_not_follow_frame_numbers_turn_seeking_off(tmp_path: Path) -> None:
    path = tmp_path / "long.avi"
    write_clip(path, _numbered_frames(120), fps=8)
    with path.open("rb") as handle:  # told 3 fps: frame 1's timestamp says frame 0.375, so no seek
        decoded = decode_frames(handle, {5, 100}, str(path), DEFAULT_LIMITS, fps=3.0)
    assert decoded.decoded == 101 and [_numbers(decoded.frames[i][None])[0] for i in (5, 100)] == [5, 100]


@pytest.mark.parametrize(("suffix", "container", "codec"), [(".webm", "webm", "libvpx"), (".mov", "mov", "mjpeg")])
def test_webm_and_mov_read(tmp_path: Path, suffix: str, container: str, codec: str) -> None:
    path = tmp_path / f"clip{suffix}"
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=8)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height = 16, 16
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        for frame in gray_frames(6):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format=stream.pix_fmt)
            out.mux(stream.encode(picture))
        out.mux(stream.encode())
    clip = read_clip(path, num_frames=3)
    assert clip.total_frames == 6 and clip.indices == (1, 3, 5) and frame_numbers(clip.frames) == [1, 3, 5]
