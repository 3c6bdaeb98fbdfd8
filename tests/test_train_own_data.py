"""``mmrnn train`` on a user's own data: validation held out when none is given (recorded in the
header), every option problem in one message, images looked up before any work, a validation that
read nothing is an error, batches without a readable image skipped, progress lines in a pipe."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from apps.cli import main
from multimodal_rnn.checkpoint import read_header
from multimodal_rnn.datasets.shapes.world import ShapesConfig, generate_shapes_world
from multimodal_rnn.errors import InputError
from tests.test_vqa_cli import TINY_FLAGS, _second_dataset

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--epochs", "2", "--batch-size", "4", "--warmup-steps", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def bars(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path], dict[str, Path]]:
    """12 training and 4 validation images of the second VQA-format dataset (2 questions each)."""
    root = tmp_path_factory.mktemp("bars")
    rng = random.Random(0)
    return root, _second_dataset(root, "train", 12, 1, rng), _second_dataset(root, "val", 4, 100, rng)


def _train_argv(train: dict[str, Path], images: Path, out: Path, *extra: str) -> list[str]:
    """``mmrnn train vqa`` on the tiny dataset ``train`` with its pictures in ``images``; ``extra`` last."""
    return [
        "train",
        "vqa",
        "--out",
        str(out),
        *FAST,
        "--answers",
        "4",
        *TINY_FLAGS,
        "--questions",
        str(train["questions"]),
        "--annotations",
        str(train["annotations"]),
        "--images",
        str(images),
        "--image-pattern",
        "frame_{image_id:04d}.png",
        *extra,
    ]


def _train_vqa(root: Path, train: dict[str, Path], out: Path, *extra: str) -> int:
    return main(_train_argv(train, root / "train", out, *extra))


def test_vqa_without_a_validation_split_holds_out_and_records_it(
    bars: tuple[Path, dict[str, Path], dict[str, Path]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, train, _ = bars
    assert _train_vqa(root, train, tmp_path / "run", "--val-fraction", "0.25", "--seed", "2", "--log-every", "2") == 0
    err = capsys.readouterr().err
    assert (
        "validation: held out 25% of the training images (seed 2): 9 images / 18 questions for training, "
        "3 images / 6 questions for validation"
    ) in err
    # stderr is not a terminal here: a line per epoch and one every --log-every updates
    lines = err.splitlines()
    assert [line.split(":")[0] for line in lines if line.startswith("epoch ")] == ["epoch 1/2", "epoch 2/2"]
    assert [line.split(":")[0] for line in lines if line.startswith("step ")] == [
        "step 2/6 (epoch 1/2)",
        "step 4/6 (epoch 2/2)",
        "step 6/6 (epoch 2/2)",
    ]
    assert "val accuracy" in err and "items/s" in err
    for name in ("best.safetensors", "last.safetensors"):
        assert read_header(tmp_path / "run" / name)["extra"]["validation"] == {
            "source": "holdout",
            "fraction": 0.25,
            "seed": 2,
            "train_images": 9,
            "val_images": 3,
            "train_items": 18,
            "val_items": 6,
        }


def test_every_option_problem_comes_in_one_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "vqa",
                "--out",
                str(out),
                "--questions",
                "q.json",
                "--val-images",
                "val",
                "--val-annotations",
                "a.json",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err == (
        "mmrnn: error: options: --questions needs --annotations and --images; "
        "--val-annotations needs --val-questions; --val-images needs --val-questions\n"
    )
    assert main(["train", "dialog", "--out", str(out), "--val-dialogs", "v.json"]) == 2
    assert capsys.readouterr().err == "mmrnn: error: options: --val-dialogs needs --dialogs and --val-images\n"
    assert main(["train", "caption", "--out", str(out), "--coco-val", "v.json", "val"]) == 2
    assert capsys.readouterr().err == "mmrnn: error: options: --coco-val needs --coco-train\n"
    assert not out.exists()  # refused before any work


def test_all_validation_images_missing_is_refused_before_any_work(
    bars: tuple[Path, dict[str, Path], dict[str, Path]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, train, val = bars
    out = tmp_path / "run"
    status = _train_vqa(
        root,
        train,
        out,
        "--val-questions",
        str(val["questions"]),
        "--val-annotations",
        str(val["annotations"]),
        "--val-images",
        str(root / "val"),
    )  # forgot --val-image-pattern
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1
    example = root / "val" / "COCO_val2014_000000000100.jpg"
    assert err == (
        f"mmrnn: error: --val-questions {val['questions']}: none of its 4 images found, e.g. {example}; "
        f"images looked up as {root / 'val' / 'COCO_val2014_{image_id:012d}.jpg'} (--val-images, "
        "--val-image-pattern)\n"
    )
    assert not out.exists()  # before the model, the run folder or the first step


def test_missing_and_unreadable_images_are_skipped_and_an_unreadable_validation_is_an_error(
    bars: tuple[Path, dict[str, Path], dict[str, Path]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, train, val = bars
    images = tmp_path / "train"
    images.mkdir()
    for index, picture in enumerate(sorted((root / "train").iterdir())):
        if index == 0:
            continue  # missing
        target = images / picture.name
        target.write_bytes(b"broken" if index < 3 else picture.read_bytes())  # two unreadable
    args = _train_argv(train, images, tmp_path / "run", "--batch-size", "1")
    assert (
        main(
            [
                *args,
                "--val-questions",
                str(val["questions"]),
                "--val-annotations",
                str(val["annotations"]),
                "--val-images",
                str(root / "val"),
                "--val-images-list",
                str(val["images"]),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert f"{train['questions']}: 1 of 12 images missing, e.g. {images / 'frame_0001.png'}" in err
    assert "3 batches without a readable image skipped" in err  # every epoch line says so (3 of 12 per epoch)
    broken = tmp_path / "val"
    broken.mkdir()
    for picture in (root / "val").iterdir():
        (broken / picture.name).write_bytes(b"broken")
    assert (
        main(
            [
                *args[:3],
                str(tmp_path / "bad"),
                *args[4:],
                "--val-questions",
                str(val["questions"]),
                "--val-annotations",
                str(val["annotations"]),
                "--val-images",
                str(broken),
                "--val-images-list",
                str(val["images"]),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("mmrnn: error: validation read nothing: none of its 8 questions' images could be read")


def test_caption_and_dialog_hold_out_without_a_validation_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shapes = tmp_path / "shapes"
    generate_shapes_world(shapes, ShapesConfig(train_size=10, val_size=2, test_size=2, seed=1))
    small = [
        "--set",
        "hidden_size=16",
        "--set",
        "embed_size=8",
        "--set",
        "attention_size=8",
        "--set",
        'encoder={"channels": [8, 8, 16, 16]}',
    ]
    assert (
        main(
            [
                "train",
                "caption",
                "--out",
                str(tmp_path / "caption"),
                *FAST,
                *small,
                "--coco-train",
                str(shapes / "captions_train.json"),
                str(shapes / "images" / "train"),
                "--val-fraction",
                "0.2",
            ]
        )
        == 0
    )
    header = read_header(tmp_path / "caption" / "best.safetensors")
    assert header["extra"]["validation"] == {
        "source": "holdout",
        "fraction": 0.2,
        "seed": 0,
        "train_images": 8,
        "val_images": 2,
        "train_items": 8,
        "val_items": 2,
    }
    small = [
        "--set",
        'encoder={"backbone": "small_cnn", "channels": [8, 16]}',
        "--set",
        "hidden_size=16",
        "--set",
        "embed_size=8",
        "--set",
        "attention_size=8",
    ]
    assert (
        main(
            [
                "train",
                "dialog",
                "--out",
                str(tmp_path / "dialog"),
                *FAST,
                *small,
                "--dialogs",
                str(shapes / "visdial_train.json"),
                "--images",
                str(shapes / "images" / "train"),
                "--image-pattern",
                "shapes_train_{image_id:012d}.png",
            ]
        )
        == 0
    )
    header = read_header(tmp_path / "dialog" / "best.safetensors")
    assert header["extra"]["validation"]["source"] == "holdout" and header["extra"]["validation"]["val_images"] == 1
    assert "validation: held out 10% of the training images (seed 0): 9 images / 9 dialogs" in capsys.readouterr().err


@pytest.mark.slow  # a fresh interpreter (torch import) and a short run: about 5 s
def test_progress_lines_reach_a_pipe(tmp_path: Path) -> None:
    shapes = tmp_path / "shapes"
    generate_shapes_world(shapes, ShapesConfig(train_size=8, val_size=2, test_size=2, seed=1))
    command = [
        sys.executable,
        "-m",
        "apps.cli",
        "train",
        "vqa",
        "--shapes-dir",
        str(shapes),
        "--out",
        str(tmp_path / "run"),
        *FAST,
        "--log-every",
        "1",
        "--threads",
        "1",
        *TINY_FLAGS,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in epochs] == ["epoch 1/2", "epoch 2/2"]
    assert all("items/s" in line and "val accuracy" in line and "elapsed" in line for line in epochs)
    assert [line.split(" (")[0] for line in lines if line.startswith("step ")] == [
        "step 1/4",
        "step 2/4",
        "step 3/4",
        "step 4/4",
    ]
    assert lines.index(epochs[0]) < lines.index(next(line for line in lines if line.startswith("step 3/4")))
    assert "best validation accuracy" in done.stdout  # the closing line still on stdout


def test_a_caption_validation_that_reads_nothing_is_an_error(tmp_path: Path) -> None:
    from multimodal_rnn.datasets.captions import CaptionRecord
    from multimodal_rnn.encoders.image import build_transform
    from multimodal_rnn.images import load_image
    from multimodal_rnn.tasks import MODELS
    from multimodal_rnn.tasks.caption.training import make_validation
    from multimodal_rnn.text.vocab import Vocabulary, tokenize

    (tmp_path / "1.png").write_bytes(b"broken")
    records = [
        CaptionRecord(1, str(tmp_path / "1.png"), ("a red circle",)),
        CaptionRecord(2, str(tmp_path / "2.png"), ("a blue square",)),
    ]
    vocab = Vocabulary.build([tokenize(c) for r in records for c in r.captions])
    model = MODELS.build(
        "show_attend_tell",
        {
            "vocab_size": len(vocab),
            "hidden_size": 16,
            "embed_size": 8,
            "attention_size": 8,
            "encoder": {"channels": [8, 8, 16, 16]},
        },
    )
    evaluate = make_validation(records, vocab, build_transform(model.config.encoder), load_image, beam_size=1)
    with pytest.raises(InputError, match="validation read nothing: none of its 2 images could be read"):
        evaluate(model.eval())


@pytest.mark.parametrize("task", ["caption", "vqa", "dialog"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("hidden_size=-4", "config.hidden_size: must be an integer from 1 to"),
        ("hiden_size=8", "unknown key(s) hiden_size"),
    ],
)
def test_model_overrides_are_checked_before_any_data_is_read_or_generated(
    task: str,
    value: str,
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # the default shapes world would be generated in ./data/shapes
    assert main(["train", task, "--out", str(tmp_path / "run"), "--set", value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mmrnn: error: ") and message in err, err
    assert list(tmp_path.iterdir()) == []  # no shapes world, no run folder
