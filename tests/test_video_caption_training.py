"""``mmrnn train|predict|eval video_caption`` end to end on a tiny MSR-VTT dataset written by the test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from apps.cli import main
from multimodal_rnn.checkpoint import load_checkpoint, save_checkpoint
from multimodal_rnn.datasets.video_captions import read_msrvtt
from multimodal_rnn.errors import CheckpointError
from multimodal_rnn.tasks import MODELS
from multimodal_rnn.tasks.video_caption.predictor import VideoCaptioner
from multimodal_rnn.tasks.video_caption.training import (
    CaptionedClips,
    collate_captioned_clips,
    make_validation,
)
from multimodal_rnn.text.vocab import Vocabulary
from multimodal_rnn.video import write_clip

ENCODER = {"channels": [8, 16], "image_size": 16}
SMALL = [
    "--set",
    "embed_size=16",
    "--set",
    "hidden_size=32",
    "--set",
    "frame_size=16",
    "--set",
    "num_frames=4",
    "--set",
    f"encoder={json.dumps(ENCODER)}",
]
COLORS = {"red": (220, 30, 30), "blue": (30, 30, 220)}


def _clip(color: str, direction: str) -> np.ndarray:
    frames = np.full((6, 16, 16, 3), 200, dtype=np.uint8)
    for t in range(6):
        x = 2 + 2 * t if direction == "right" else 12 - 2 * t
        frames[t, 6:10, x : x + 4] = COLORS[color]
    return frames


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("msrvtt")
    videos, sentences = [], []
    kinds = [(c, d) for c in COLORS for d in ("left", "right")]
    for index in range(10):
        color, direction = kinds[index % 4]
        split = "train" if index < 6 else "validate" if index < 8 else "test"
        video_id = f"video{index}"
        write_clip(root / "videos" / f"{video_id}.gif", _clip(color, direction))
        videos.append({"video_id": video_id, "split": split})
        sentences += [
            {"video_id": video_id, "caption": f"a {color} square moves {direction}"},
            {"video_id": video_id, "caption": f"the {color} square goes {direction}"},
        ]
    (root / "videodatainfo.json").write_text(json.dumps({"videos": videos, "sentences": sentences}))
    return root / "videodatainfo.json"


@pytest.fixture(scope="module")
def trained(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    argv = [
        "train",
        "video_caption",
        "--out",
        str(out),
        "--msrvtt",
        str(dataset),
        "--epochs",
        "2",
        "--batch-size",
        "3",
        "--warmup-steps",
        "0",
        "--sampling",
        "random",
        *SMALL,
    ]
    assert main(argv) == 0
    return out / "best.safetensors"


def test_train_predict_eval_round_trip(trained: Path, dataset: Path, tmp_path: Path, capsys) -> None:
    header = load_checkpoint(trained)
    assert header.task == "video_caption" and header.model_name == "temporal_attention"
    assert "CIDEr" in header.metrics and header.extra["training"]["sampling"] == "random"
    results = tmp_path / "results.json"
    assert (
        main(
            [
                "predict",
                "video_caption",
                "--weights",
                str(trained),
                "--msrvtt",
                str(dataset),
                "--out",
                str(results),
                "--beam",
                "2",
            ]
        )
        == 0
    )
    written = json.loads(results.read_text())
    assert sorted(entry["video_id"] for entry in written) == ["video8", "video9"]
    capsys.readouterr()
    metrics = tmp_path / "metrics.json"
    assert (
        main(["eval", "video_caption", "--results", str(results), "--msrvtt", str(dataset), "--out", str(metrics)]) == 0
    )
    table = capsys.readouterr().out
    assert "CIDEr" in table and "Bleu_4" in table and "videos" in table
    report = json.loads(metrics.read_text())
    assert report["num_videos"] == 2 and [row["video_id"] for row in report["per_video"]] == ["video8", "video9"]
    assert "Faithfulness" not in report["metrics"]  # not the moving-shapes world


def test_eval_refuses_results_of_other_clips_in_one_line(trained: Path, dataset: Path, tmp_path: Path, capsys) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps([{"video_id": "video8", "caption": "a red square"}]))
    assert main(["eval", "video_caption", "--results", str(results), "--msrvtt", str(dataset)]) == 2
    err = capsys.readouterr().err
    assert "no caption for 1 clip(s)" in err and "video9" in err and len(err.strip().splitlines()) == 1
    results.write_text(json.dumps([{"video_id": "video8", "caption": "a"}, {"video_id": "video8", "caption": "b"}]))
    assert main(["eval", "video_caption", "--results", str(results), "--msrvtt", str(dataset)]) == 2
    assert "more than one caption for video_id 'video8'" in capsys.readouterr().err


def test_predict_a_folder_of_clips_and_self_critical_fine_tuning(trained: Path, dataset: Path, tmp_path: Path) -> None:
    results = tmp_path / "folder.json"
    assert (
        main(
            [
                "predict",
                "video_caption",
                "--weights",
                str(trained),
                "--clips",
                str(dataset.parent / "videos"),
                "--out",
                str(results),
                "--beam",
                "1",
            ]
        )
        == 0
    )
    assert len(json.loads(results.read_text())) == 10
    out = tmp_path / "scst"
    assert (
        main(
            [
                "train",
                "video_caption",
                "--out",
                str(out),
                "--msrvtt",
                str(dataset),
                "--self-critical",
                "--init-from",
                str(trained),
                "--max-steps",
                "2",
                "--batch-size",
                "3",
                "--scst-samples",
                "2",
            ]
        )
        == 0
    )
    assert load_checkpoint(out / "last.safetensors").step == 2


def test_a_batch_holds_every_caption_of_its_readable_clips(dataset: Path) -> None:
    from multimodal_rnn.datasets.video_clips import ClipDataset

    records = read_msrvtt(dataset, dataset.parent / "videos", split="train")
    records[1] = type(records[1])("broken", dataset.parent / "videos" / "missing.gif", captions=("a red square",))
    vocab = Vocabulary.build([["a", "red", "blue", "square", "moves", "left", "right"]])
    captions = [[vocab.encode(c.split()) for c in r.captions] for r in records]
    items = CaptionedClips(ClipDataset(records, num_frames=3), captions)
    batch = collate_captioned_clips([items[0], items[1], items[2]], pad_id=vocab.pad_id)
    assert batch is not None and batch["frames"].shape[:2] == (2, 3) and batch["num_skipped"] == 1
    assert batch["caption_clip"].tolist() == [0, 0, 1, 1] and batch["tokens"].shape[0] == 4
    assert collate_captioned_clips([items[1]], pad_id=vocab.pad_id) is None


def test_validation_scores_and_refuses_a_split_it_cannot_read(dataset: Path) -> None:
    records = read_msrvtt(dataset, dataset.parent / "videos", split="validate")
    vocab = Vocabulary.build([["a", "red", "square"]])
    model = MODELS.build(
        "s2vt",
        {
            "vocab_size": len(vocab),
            "num_frames": 3,
            "encoder": ENCODER,
            "hidden_size": 8,
            "frame_size": 8,
            "embed_size": 8,
            "max_length": 4,
        },
    )
    scores = make_validation(records, vocab, beam_size=1, max_bad_clips=10)(model)
    assert set(scores) == {"CIDEr", "Bleu_4", "ROUGE_L"}
    broken = [type(r)(r.video_id, r.path.with_name("gone.gif"), captions=r.captions) for r in records]
    with pytest.raises(Exception, match="validation read nothing"):
        make_validation(broken, vocab, beam_size=1, max_bad_clips=10)(model)


def test_encoder_from_copies_another_checkpoints_image_encoder(dataset: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    vocab = Vocabulary.build([["a", "red", "square"]])
    caption_model = MODELS.build(
        "show_tell", {"vocab_size": len(vocab), "encoder": ENCODER, "hidden_size": 8, "embed_size": 8}
    )
    source = tmp_path / "caption.safetensors"
    save_checkpoint(
        source,
        caption_model,
        task="caption",
        model_name="show_tell",
        model_config=caption_model.config,
        vocab=vocab.to_dict(),
    )
    out = tmp_path / "run"
    frozen = json.dumps({**ENCODER, "trainable": False})
    assert (
        main(
            [
                "train",
                "video_caption",
                "--out",
                str(out),
                "--msrvtt",
                str(dataset),
                "--max-steps",
                "1",
                "--encoder-from",
                str(source),
                *SMALL,
                "--set",
                f"encoder={frozen}",
            ]
        )
        == 0
    )
    video = VideoCaptioner.from_checkpoint(out / "last.safetensors").model
    for name, tensor in caption_model.encoder.state_dict().items():
        assert torch.equal(video.encoder.state_dict()[name], tensor), name
    other = MODELS.build("show_tell", {"vocab_size": len(vocab), "encoder": {**ENCODER, "channels": [8, 8]}})
    save_checkpoint(source, other, task="caption", model_name="show_tell", model_config=other.config)
    from multimodal_rnn.tasks.video_caption.encoder_init import copy_image_encoder

    with pytest.raises(CheckpointError, match="channels"):
        copy_image_encoder(source, video.encoder)


def test_the_moving_shapes_world_trains_predicts_and_scores_faithfulness(tmp_path: Path, capsys) -> None:
    from multimodal_rnn.datasets.moving_shapes import MovingShapesConfig, generate_moving_shapes

    world = tmp_path / "world"
    config = MovingShapesConfig(train_size=12, val_size=3, test_size=3, num_frames=8, frame_size=32)
    generate_moving_shapes(world, config)
    out = tmp_path / "run"
    encoder = json.dumps({"channels": [8, 16], "image_size": 32})
    assert (
        main(
            [
                "train",
                "video_caption",
                "--out",
                str(out),
                "--data-dir",
                str(world),
                "--max-steps",
                "2",
                "--model",
                "s2vt",
                *SMALL,
                "--set",
                f"encoder={encoder}",
            ]
        )
        == 0
    )
    results = tmp_path / "results.json"
    weights = str(out / "best.safetensors")
    argv = ["predict", "video_caption", "--weights", weights, "--data-dir", str(world), "--out", str(results)]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["eval", "video_caption", "--results", str(results), "--data-dir", str(world)]) == 0
    assert "Faithfulness" in capsys.readouterr().out


def test_a_frame_cache_gives_the_captions_of_the_clips_and_follows_the_encoder(dataset: Path, tmp_path: Path) -> None:
    from multimodal_rnn.datasets.video_clips import ClipDataset
    from multimodal_rnn.errors import ConfigError
    from multimodal_rnn.tasks.video_caption.frame_cache import CachedFrames, build_frame_cache
    from multimodal_rnn.tasks.video_caption.training import caption_records

    torch.manual_seed(0)
    records = read_msrvtt(dataset, dataset.parent / "videos", split=None)
    records[3] = type(records[3])("broken", dataset.parent / "videos" / "missing.gif", captions=("a red square",))
    vocab = Vocabulary.build([["a", "red", "blue", "square", "moves", "left", "right"]])
    options = {"vocab_size": len(vocab), "num_frames": 3, "hidden_size": 8, "frame_size": 8, "embed_size": 8}
    with pytest.raises(ConfigError, match="frozen encoder"):
        build_frame_cache(MODELS.build("s2vt", {**options, "encoder": ENCODER}), records, tmp_path / "cache")
    model = MODELS.build("temporal_attention", {**options, "encoder": {**ENCODER, "trainable": False}})
    bad = build_frame_cache(model, records, tmp_path / "cache", batch_size=4)
    assert list(bad) == [str(records[3].path)]
    captioner = VideoCaptioner(model, vocab)
    cached = caption_records(captioner, CachedFrames(records, tmp_path / "cache"), beam_size=2)
    clips = ClipDataset(records, num_frames=3, transform=captioner.clip_transform)
    read = caption_records(captioner, clips, beam_size=2)
    assert cached == read and "broken" not in cached and len(cached) == 9
    assert build_frame_cache(model, records, tmp_path / "cache") == {}  # reused: nothing read
    with torch.no_grad():
        model.encoder.backbone.features[0].weight.add_(1.0)  # another encoder: the cache is rebuilt
    assert list(build_frame_cache(model, records, tmp_path / "cache")) == [str(records[3].path)]
