"""``mmrnn caption-video`` and the video caption serving spec on tiny clips written by the test."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

from apps.cli import main
from multimodal_rnn.checkpoint import save_checkpoint
from multimodal_rnn.tasks import MODELS, TASKS
from multimodal_rnn.tasks.protocol import ServingLimits
from multimodal_rnn.tasks.video_caption.predictor import VideoCaptioner
from multimodal_rnn.tasks.video_caption.serving import SERVING, VideoCaptionRequest
from multimodal_rnn.text.vocab import Vocabulary
from multimodal_rnn.video import read_clip, write_clip

SMALL = {
    "embed_size": 16,
    "hidden_size": 32,
    "frame_size": 24,
    "dropout": 0.0,
    "num_frames": 4,
    "encoder": {"channels": [8, 16], "image_size": 16},
}


def _frames(count: int, seed: int) -> np.ndarray:
    """A square that moves right over a gray background, (count, 16, 16, 3) uint8."""
    frames = np.full((count, 16, 16, 3), 128, dtype=np.uint8)
    for index in range(count):
        frames[index, 4:10, 2 * index : 2 * index + 6] = (200, 40 + seed * 50, 40)
    return frames


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    vocab = Vocabulary.build([["a", "square", "moves", "right"], ["a", "circle", "stays"]])
    model = MODELS.build("temporal_attention", {**SMALL, "vocab_size": len(vocab), "max_length": 6})
    path = tmp_path_factory.mktemp("weights") / "video.safetensors"
    save_checkpoint(
        path,
        model,
        task="video_caption",
        model_name="temporal_attention",
        model_config=model.config,
        vocab=vocab.to_dict(),
    )
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("clips")
    paths = [folder / "a.gif", folder / "b.mkv"]
    for seed, path in enumerate(paths):
        write_clip(path, _frames(6, seed))
    return paths


def test_caption_video_prints_one_caption_per_clip_and_json(weights, clips, capsys) -> None:
    assert main(["caption-video", str(clips[0]), "--weights", str(weights), "--beam", "1"]) == 0
    single = capsys.readouterr().out.strip()
    captioner = VideoCaptioner.from_checkpoint(weights)
    expected = captioner.caption([captioner.read(clips[0])], beam_size=1)[0]
    assert single == expected.caption
    assert main(["caption-video", *map(str, clips), "--weights", str(weights), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["clip"] for row in rows] == [str(path) for path in clips]
    assert all(set(row) == {"clip", "caption", "score", "words"} for row in rows)


def test_caption_video_writes_a_gif_per_clip_of_the_sampled_frames(weights, clips, tmp_path) -> None:
    out = tmp_path / "captioned.gif"
    assert main(["caption-video", *map(str, clips), "--weights", str(weights), "--gif", str(out), "--frames", "3"]) == 0
    for index in (1, 2):
        gif = Image.open(tmp_path / f"captioned-{index}.gif")
        assert len(list(ImageSequence.Iterator(gif))) == 3


@pytest.mark.parametrize(
    "argv, message",
    [
        (["missing.mp4"], "missing.mp4"),
        (["CLIP", "--gif", "out.png"], "out.png"),
        (["CLIP", "--frames", "0"], "--frames"),
    ],
)
def test_caption_video_errors_are_one_line(weights, clips, capsys, argv, message) -> None:
    argv = [str(clips[0]) if a == "CLIP" else a for a in argv]
    try:
        status = main(["caption-video", *argv, "--weights", str(weights)])
    except SystemExit as exit:  # argparse refuses a bad option value
        status = exit.code
    assert status == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) <= 2


def test_serving_batches_clips_of_several_lengths_like_the_predictor(weights, clips) -> None:
    captioner = VideoCaptioner.from_checkpoint(weights)
    assert TASKS["video_caption"].serving is SERVING and SERVING.upload == "video"
    fields = {field.name: field for field in SERVING.fields(ServingLimits())}
    assert set(fields) == {"beam_size", "gif"}
    decoded = [read_clip(clips[0], num_frames=4), read_clip(clips[1], num_frames=2)]
    requests = [
        SERVING.request({"beam_size": 2, "gif": gif, "video": clip}, captioner.clip_transform(clip))
        for clip, gif in zip(decoded, (1, 0))
    ]
    assert len({SERVING.key(captioner, r) for r in requests}) == 1
    results = SERVING.batch(captioner, requests)
    alone = [captioner.caption([clip], beam_size=2)[0] for clip in decoded]
    assert [r.caption for r in results] == [r.caption for r in alone]
    answers = [SERVING.to_json(request, result) for request, result in zip(requests, results)]
    assert [a["frames"] for a in answers] == [4, 2]
    assert answers[0]["attention"]["frames"] == 4 and len(answers[0]["attention"]["weights"]) == len(results[0].words)
    gif = Image.open(io.BytesIO(base64.b64decode(answers[0]["gif"])))
    assert gif.format == "GIF" and answers[1]["gif"] is None
    assert isinstance(requests[0], VideoCaptionRequest)
    json.dumps(answers)


def test_the_light_copy_of_the_model_names_equals_the_registry() -> None:
    from multimodal_rnn.tasks.video_caption import cli

    assert list(cli.MODEL_NAMES) == TASKS["video_caption"].models.names()
