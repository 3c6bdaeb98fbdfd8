"""``mmrnn train|predict|eval action|frames``, ``mmrnn classify-video`` and ``mmrnn label-frames``
end to end on a tiny moving-shapes world (32 px clips of 8 frames, a two-block CNN)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apps.cli import main
from multimodal_rnn.datasets.moving_shapes import ACTION_CLASSES, FRAME_LABELS

TINY = [
    "--set",
    'encoder={"channels": [4, 8], "image_size": 32}',
    "--set",
    "spatial_size=8",
    "--set",
    "hidden_size=8",
    "--set",
    "num_frames=8",
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("video")
    assert (
        main(
            [
                "data",
                "shapes-video",
                "--out",
                str(root / "world"),
                "--train",
                "24",
                "--val",
                "12",
                "--test",
                "12",
                "--frames",
                "8",
                "--size",
                "32",
            ]
        )
        == 0
    )
    for task in ("action", "frames"):
        assert (
            main(
                [
                    "train",
                    task,
                    "--world",
                    str(root / "world"),
                    "--out",
                    str(root / task),
                    "--epochs",
                    "1",
                    "--batch-size",
                    "12",
                    "--warmup-steps",
                    "0",
                    *TINY,
                ]
            )
            == 0
        )
    return root


def test_train_writes_checkpoints_with_the_class_names(world: Path) -> None:
    from multimodal_rnn.checkpoint import read_header

    action, frames = (
        read_header(world / "action" / "best.safetensors"),
        read_header(world / "frames" / "best.safetensors"),
    )
    assert action["extra"]["classes"] == list(ACTION_CLASSES) and action["model_name"] == "lrcn"
    assert set(action["metrics"]) >= {"top1", "top5"}
    assert sorted(frames["extra"]["classes"]) == sorted(set(frames["extra"]["classes"]))
    assert set(frames["extra"]["classes"]) <= set(FRAME_LABELS) and "frame_accuracy" in frames["metrics"]


def test_predict_and_eval_action(world: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results, metrics, picture = world / "action.json", world / "action_metrics.json", world / "confusion.png"
    args = ["--world", str(world / "world"), "--split", "test"]
    assert (
        main(
            [
                "predict",
                "action",
                *args,
                "--weights",
                str(world / "action" / "best.safetensors"),
                "--out",
                str(results),
                "--top",
                "3",
            ]
        )
        == 0
    )
    entries = json.loads(results.read_text())
    assert len(entries) == 12 and all(len(entry["classes"]) == 3 for entry in entries)
    capsys.readouterr()
    assert (
        main(["eval", "action", *args, "--results", str(results), "--out", str(metrics), "--confusion", str(picture)])
        == 0
    )
    out = capsys.readouterr().out
    assert "top-1" in out and "top-1 on the motion classes" in out
    report = json.loads(metrics.read_text())
    assert report["num_clips"] == 12 and len(report["confusion"]) == len(ACTION_CLASSES)
    assert picture.read_bytes().startswith(b"\x89PNG")
    results.write_text(json.dumps(entries[1:]))
    assert main(["eval", "action", *args, "--results", str(results)]) == 2
    assert "no result for" in capsys.readouterr().err


def test_predict_and_eval_frames(world: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = world / "frames.json"
    args = ["--world", str(world / "world"), "--split", "test"]
    assert (
        main(
            ["predict", "frames", *args, "--weights", str(world / "frames" / "best.safetensors"), "--out", str(results)]
        )
        == 0
    )
    entries = json.loads(results.read_text())
    assert len(entries) == 12 and all(len(entry["frames"]) == 8 for entry in entries)
    capsys.readouterr()
    assert main(["eval", "frames", *args, "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "frame accuracy" in out and "F1@0.5" in out


def test_classify_video_and_label_frames(world: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clips = sorted((world / "world" / "ucf").glob("*/*.avi"))[:2]
    gif = world / "out" / "clip.gif"
    capsys.readouterr()
    assert (
        main(
            [
                "classify-video",
                *map(str, clips),
                "--weights",
                str(world / "action" / "best.safetensors"),
                "--top",
                "2",
                "--json",
                "--gif",
                str(gif),
            ]
        )
        == 0
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["clip"] for line in lines] == list(map(str, clips)) and all(
        len(line["classes"]) == 2 for line in lines
    )
    assert (world / "out" / "clip-1.gif").read_bytes().startswith(b"GIF8") and (world / "out" / "clip-2.gif").exists()
    assert (
        main(
            ["label-frames", str(clips[0]), "--weights", str(world / "frames" / "best.safetensors"), "--gif", str(gif)]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 8 and lines[0].split()[0] == "0" and gif.read_bytes().startswith(b"GIF8")
    assert (
        main(
            [
                "label-frames",
                str(clips[0]),
                "--weights",
                str(world / "frames" / "best.safetensors"),
                "--frames",
                "4",
                "--json",
            ]
        )
        == 0
    )
    assert len(json.loads(capsys.readouterr().out)["frames"]) == 4


def test_user_errors_are_one_line(world: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = str(world / "action" / "best.safetensors")
    assert main(["classify-video", str(world / "missing.avi"), "--weights", weights]) == 2
    assert main(["label-frames", str(world / "world" / "ucf" / "classInd.txt"), "--weights", weights]) == 2
    assert main(["classify-video", str(world / "world" / "truth.json"), "--weights", weights]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and all(line.startswith("mmrnn: error: ") for line in errors)
    assert "missing.avi" in errors[0] and "expected 'frames'" in errors[1] and "truth.json: not a video" in errors[2]
