"""``mmrnn predict caption|vqa|dialog --workers N``: the same results files as reading the images in
the main process, one unreadable-image count; ``--threads N`` on the task commands; dialogs
batched by their number of rounds give the entries of one-dialog batches, in file order."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from apps.cli import main
from multimodal_rnn.datasets.shapes.world import ShapesConfig, generate_shapes_world
from multimodal_rnn.datasets.visdial import shapes_source
from multimodal_rnn.images import load_image
from multimodal_rnn.tasks.dialog.predictor import DialogAgent


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shapes")
    generate_shapes_world(out, ShapesConfig(train_size=2, val_size=2, test_size=9, seed=3))
    return out


def predict(args: list[str], out: Path, workers: int) -> str:
    assert main(["predict", *args, "--out", str(out), "--workers", str(workers)]) == 0
    return out.read_text()


def test_caption_workers_give_the_same_results_and_skips(
    shapes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "images"
    shutil.copytree(shapes / "images" / "test", folder)
    first = sorted(folder.iterdir())[3].stem
    for name in ("a_broken.png", f"{first}x.png"):  # positions 0 and 5 of 11: batches 0 and 1 of 4 images
        (folder / name).write_bytes(b"not a png")
    args = ["caption", "--images", str(folder), "--batch-size", "4"]
    expected = predict(args, tmp_path / "main.json", 0)
    assert capsys.readouterr().out.count("(2 unreadable images skipped)") == 1
    assert predict(args, tmp_path / "workers.json", 2) == expected
    assert "(2 unreadable images skipped)" in capsys.readouterr().out
    # the two broken files are in different batches, read by different workers: the limit is global
    assert main(["predict", *args, "--out", str(tmp_path / "x.json"), "--workers", "2", "--max-bad-images", "1"]) == 2
    assert "more than 1 unreadable images" in capsys.readouterr().err


def test_vqa_and_dialog_workers_give_the_same_results(shapes: Path, tmp_path: Path) -> None:
    for task, batch in (("vqa", "8"), ("dialog", "3")):
        args = [task, "--shapes-dir", str(shapes), "--batch-size", batch]
        assert predict(args, tmp_path / f"{task}-0.json", 0) == predict(args, tmp_path / f"{task}-2.json", 2)


def test_dialogs_batched_by_rounds_rank_as_one_at_a_time_in_file_order(shapes: Path) -> None:
    agent = DialogAgent.from_checkpoint("weights/dialog_shapes.safetensors")
    data = shapes_source(shapes, "test").read()
    assert len({dialog.num_rounds for dialog in data.dialogs}) > 2  # the test split stops at random rounds
    batched = agent.rank(data, load_image, batch_size=4).entries
    assert batched == agent.rank(data, load_image, batch_size=1).entries
    assert [(e["image_id"], e["round_id"]) for e in batched] == [
        (dialog.image_id, r + 1) for dialog in data.dialogs for r in range(dialog.num_rounds)
    ]


def test_threads_option_sets_torch_threads(shapes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = torch.get_num_threads()
    try:
        image = str(next((shapes / "images" / "test").iterdir()))
        assert main(["caption", image, "--threads", "1"]) == 0 and torch.get_num_threads() == 1
        assert (
            main(
                [
                    "predict",
                    "vqa",
                    "--shapes-dir",
                    str(shapes),
                    "--out",
                    str(tmp_path / "r.json"),
                    "--threads",
                    "1",
                    "--workers",
                    "0",
                ]
            )
            == 0
        )
    finally:
        torch.set_num_threads(before)
    for command in (
        ["caption"],
        ["ask"],
        ["chat"],
        ["navigate"],
        ["train", "caption"],
        ["predict", "dialog"],
        ["eval", "vqa"],
    ):
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        assert "--threads N" in capsys.readouterr().out
