"""The annotated GIF of a clip: one frame per clip frame, upscaled, a text band that follows the labels."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image, ImageSequence

from multimodal_rnn.video_figure import annotated_gif, gif_base64


def _clip(frames: int = 4, height: int = 8, width: int = 10) -> np.ndarray:
    """Frames that all differ: frame i is filled with gray level 40 * i."""
    return np.stack([np.full((height, width, 3), 40 * i, dtype=np.uint8) for i in range(frames)])


def _frames(data: bytes) -> list[np.ndarray]:
    gif = Image.open(io.BytesIO(data))
    assert gif.format == "GIF"
    return [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(gif)]


def test_one_upscaled_frame_per_clip_frame_without_text():
    frames = _frames(annotated_gif(_clip(), scale=3))
    assert len(frames) == 4
    assert all(frame.shape == (24, 30, 3) for frame in frames)  # no band without labels or caption
    assert [int(frame[0, 0, 0]) for frame in frames] == [0, 40, 80, 120]
    assert Image.open(io.BytesIO(annotated_gif(_clip(), fps=10))).info["duration"] == 100


def test_the_label_band_follows_the_labels():
    labels = ["still", "still", "moving left", "moving right"]
    clip = np.zeros((4, 8, 10, 3), dtype=np.uint8)
    clip[1:] = 255  # frames 1..3 have the same pixels: only the band tells them apart
    frames = _frames(annotated_gif(clip, labels, scale=12))
    assert len(frames) == 4
    height, width = frames[1].shape[:2]
    assert width == 120 and height > 96  # a band under the 96-pixel frame
    bands = [frame[96:] for frame in frames]
    assert (bands[1] != bands[2]).any() and (bands[2] != bands[3]).any()  # different labels, different bands
    assert (bands[0] == bands[1]).all()  # the same label, the same band
    assert (frames[2][:96] == frames[3][:96]).all()  # the picture itself is untouched


def test_the_caption_wraps_into_more_lines_and_is_on_every_frame():
    short = _frames(annotated_gif(_clip(), caption="a circle", scale=8))
    long = _frames(annotated_gif(_clip(), caption="a red circle moves to the left while a blue square stays", scale=8))
    assert len(short) == len(long) == 4
    assert long[0].shape[0] > short[0].shape[0] > 64  # wrapped lines make the band higher
    assert all((frame[64:] == long[0][64:]).all() for frame in long)  # the same caption under every frame
    both = _frames(annotated_gif(_clip(), ["a", "b", "c", "d"], "a circle", scale=8))
    assert both[0].shape[0] > short[0].shape[0]  # the label line above the caption


def test_large_clips_are_shrunk_to_max_side():
    frames = _frames(annotated_gif(np.zeros((2, 720, 1280, 3), dtype=np.uint8), max_side=256))
    assert len(frames) == 1  # identical frames are stored once
    assert frames[0].shape == (144, 256, 3)


def test_gif_base64_is_the_gif():
    clip = _clip()
    assert base64.b64decode(gif_base64(clip, caption="x")) == annotated_gif(clip, caption="x")


@pytest.mark.parametrize(
    "frames,labels,options,message",
    [
        (np.zeros((0, 4, 4, 3), np.uint8), None, {}, "frames must be"),
        (np.zeros((2, 4, 4), np.uint8), None, {}, "frames must be"),
        (np.zeros((2, 4, 4, 3), np.float32), None, {}, "frames must be"),
        (np.zeros((2, 4, 4, 3), np.uint8), ["a"], {}, "1 labels for 2 frames"),
        (np.zeros((2, 4, 4, 3), np.uint8), None, {"scale": 0}, "scale >= 1"),
        (np.zeros((2, 4, 4, 3), np.uint8), None, {"fps": 0}, "fps > 0"),
    ],
)
def test_bad_arguments(frames, labels, options, message):
    with pytest.raises(ValueError, match=message):
        annotated_gif(frames, labels, **options)
