"""Pinned outputs of the shipped action and frames checkpoints: a refactor that changes a number fails here.

The clips are rendered in memory from the moving-shapes world's own generator (no video codec in
between), one per class; the values were computed once from the code and weights of the commit
that added the files (CPU, one torch thread) and must not change unless the files are retrained.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from multimodal_rnn.datasets.moving_shapes import ACTION_CLASSES, MovingShapesConfig
from multimodal_rnn.datasets.moving_shapes.clips import frame_labels, make_clip
from multimodal_rnn.datasets.moving_shapes.render import render_clip
from multimodal_rnn.shipped import resolve_weights
from multimodal_rnn.tasks import TASKS

PROBABILITY_TOLERANCE = 1e-4
PINNED_ACTIONS: list[tuple[str, str, float]] = [
    ("Appears", "Appears", 0.963895),
    ("BouncesHorizontally", "BouncesHorizontally", 0.964752),
    ("BouncesVertically", "BouncesVertically", 0.996046),
    ("ChangesColor", "ChangesColor", 0.98353),
    ("Disappears", "Disappears", 0.999083),
    ("Grows", "Grows", 0.992436),
    ("MovesDown", "MovesDown", 0.976305),
    ("MovesLeft", "MovesLeft", 0.998676),
    ("MovesRight", "MovesRight", 0.984211),
    ("MovesUp", "MovesUp", 0.997917),
    ("Shrinks", "Shrinks", 0.938315),
    ("StaysStill", "StaysStill", 0.903141),
]
"""(true class, predicted class, probability) of one clip per class."""
PINNED_FRAMES: list[tuple[str, str]] = [
    (
        "moving left,moving left,moving left,moving left,moving left,moving right,moving right,moving right,"
        "moving right,moving right,moving right,moving right,moving right,moving right,moving right,moving right",
        "moving left,moving left,moving left,moving left,moving left,moving right,moving right,moving right,"
        "moving right,moving right,moving right,moving right,moving right,moving right,moving right,moving right",
    ),
    (
        "still,still,still,still,still,growing,growing,growing,growing,growing,still,still,still,still,still,still",
        "still,still,still,still,still,growing,growing,growing,growing,growing,still,still,still,still,still,still",
    ),
    (
        "still,still,still,moving up,moving up,moving up,moving up,moving up,moving up,moving up,moving up,moving up,"
        "moving up,still,still,still",
        "still,still,still,moving up,moving up,moving up,moving up,moving up,moving up,moving up,moving up,moving up,"
        "moving up,still,still,still",
    ),
]
"""(true labels, predicted labels) of three clips (bouncing, growing, moving up), labels joined by commas."""


def _clips() -> list[tuple[str, np.ndarray, tuple[str, ...]]]:
    config = MovingShapesConfig()
    clips = []
    for index, action in enumerate(ACTION_CLASSES):
        clip = make_clip(random.Random(f"pinned:{index}"), action, config)
        clips.append((action, render_clip(clip, 64), frame_labels(clip.actor.states)))
    return clips


@pytest.fixture(scope="module")
def clips() -> list[tuple[str, np.ndarray, tuple[str, ...]]]:
    return _clips()


def test_action_outputs_are_pinned(clips) -> None:  # type: ignore[no-untyped-def]
    task = TASKS["action"]
    classifier = task.load_predictor(resolve_weights(None, task.shipped, task="action"))
    results = classifier.classify([frames for _, frames, _ in clips], top=1)
    got = [(action, result.label, result.classes[0][1]) for (action, _, _), result in zip(clips, results)]
    assert [row[:2] for row in got] == [row[:2] for row in PINNED_ACTIONS]
    assert np.allclose([row[2] for row in got], [row[2] for row in PINNED_ACTIONS], atol=PROBABILITY_TOLERANCE)


def test_frames_outputs_are_pinned(clips) -> None:  # type: ignore[no-untyped-def]
    task = TASKS["frames"]
    labeler = task.load_predictor(resolve_weights(None, task.shipped, task="frames"))
    chosen = clips[1::4]  # BouncesHorizontally, Grows, MovesUp
    results = labeler.label([frames for _, frames, _ in chosen])
    got = [(",".join(truth), ",".join(result.labels)) for (_, _, truth), result in zip(chosen, results)]
    assert got == PINNED_FRAMES
