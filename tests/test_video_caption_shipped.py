"""Pinned outputs of the shipped video captioner on clips of the moving-shapes world rendered in memory.

The values were computed once from the code and weights of the commit that added the weights
(CPU, one torch thread); they must not change unless the shipped file is retrained (then recompute
them and say so in the commit). The clips are the first four test clips of a world with seed 12345,
rendered at 64 px without going through a video codec, so the numbers depend on the model only.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from multimodal_rnn.datasets.moving_shapes.clips import MovingShapesConfig
from multimodal_rnn.datasets.moving_shapes.render import render_clip
from multimodal_rnn.datasets.moving_shapes.truth import check_video_caption, read_clip_truths
from multimodal_rnn.datasets.moving_shapes.world import clip_records, truth_file
from multimodal_rnn.files import write_json
from multimodal_rnn.shipped import resolve_weights
from multimodal_rnn.tasks import TASKS
from multimodal_rnn.tasks.video_caption.predictor import VideoCaptioner
from multimodal_rnn.video import VideoClip, sample_indices

WORLD = MovingShapesConfig(seed=12345, train_size=0, val_size=0, test_size=4)
SCORE_TOLERANCE = 1e-3

CAPTIONS: list[tuple[str, float, bool]] = [
    ("a yellow square moves right", -1.4809, True),
    ("a green square moves up and a cyan square stays in place", -3.0527, True),
    ("a purple square shrinks and a green triangle stays still", -3.0795, True),
    ("a yellow triangle stays still while a purple circle moves left", -3.1912, True),
]
"""Beam-3 caption, score and faithfulness of each of the world's test clips, in order (the
shipped model is faithful on 98.5 % of the test split; see weights/README.md)."""


@pytest.fixture(scope="module")
def captioner() -> VideoCaptioner:
    torch.set_num_threads(1)
    return VideoCaptioner.from_checkpoint(resolve_weights(None, TASKS["video_caption"].shipped, task="video_caption"))


def _clips(num_frames: int) -> list[VideoClip]:
    clips = []
    for record in clip_records(WORLD):
        frames = render_clip(record.clip, WORLD.frame_size)
        indices = sample_indices(len(frames), num_frames)
        clips.append(VideoClip(frames[indices], tuple(indices), float(WORLD.fps), len(frames)))
    return clips


def test_shipped_captions_are_pinned_and_faithful(captioner: VideoCaptioner, tmp_path: Path) -> None:
    results = captioner.caption(_clips(captioner.num_frames), beam_size=3)
    assert [r.caption for r in results] == [caption for caption, _, _ in CAPTIONS]
    assert [r.score for r in results] == pytest.approx([score for _, score, _ in CAPTIONS], abs=SCORE_TOLERANCE)
    write_json(tmp_path / "truth.json", truth_file(clip_records(WORLD), WORLD.frame_size))
    truths = read_clip_truths(tmp_path / "truth.json")
    verdicts = [check_video_caption(r.caption, truth).faithful for r, truth in zip(results, truths.values())]
    assert verdicts == [faithful for _, _, faithful in CAPTIONS]
