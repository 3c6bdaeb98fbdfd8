"""The checks of :mod:`multimodal_rnn.tasks.training_data`: the seeded hold-out by image and the
image lookup by folder listing."""

from __future__ import annotations

from pathlib import Path

import pytest

from multimodal_rnn.errors import InputError
from multimodal_rnn.tasks.training_data import check_image_files, choose_validation


def test_choose_validation_holds_out_whole_images_by_seed() -> None:
    items = [(f"img{i % 20}.png", i) for i in range(60)]  # 20 images, 3 items each
    train, val, choice = choose_validation(items, None, lambda item: item[0], fraction=0.25, seed=3)
    assert not {path for path, _ in train} & {path for path, _ in val}
    assert (choice.train_images, choice.val_images, choice.train_items, choice.val_items) == (15, 5, 45, 15)
    assert choice.header() == {
        "source": "holdout",
        "fraction": 0.25,
        "seed": 3,
        "train_images": 15,
        "val_images": 5,
        "train_items": 45,
        "val_items": 15,
    }
    assert choose_validation(items, None, lambda item: item[0], fraction=0.25, seed=3)[1] == val
    assert choose_validation(items, None, lambda item: item[0], fraction=0.25, seed=4)[1] != val
    given = choose_validation(items, items[:3], lambda item: item[0], fraction=0.25, seed=3)
    assert given[1] == items[:3] and given[2].source == "split"
    with pytest.raises(InputError, match="--val-fraction"):
        choose_validation(items, None, lambda item: item[0], fraction=1.0, seed=3)
    with pytest.raises(InputError, match="cannot be split"):
        choose_validation(items[:1], None, lambda item: item[0], fraction=0.5, seed=3)


def test_image_lookup_counts_lists_folders_and_refuses_all_missing(tmp_path: Path) -> None:
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes(b"not even decoded")
    paths = [str(tmp_path / name) for name in ("a.png", "b.png", "c.png", "a.png")]
    lookup = check_image_files(paths, split="--questions q.json", where="DIR/{id}.png")
    assert (lookup.found, lookup.missing, lookup.example) == (2, 1, str(tmp_path / "c.png"))
    assert (
        lookup.line() == f"--questions q.json: 1 of 3 images missing, e.g. {tmp_path / 'c.png'} (DIR/{{id}}.png); "
        "their items are skipped"
    )
    with pytest.raises(InputError, match=r"none of its 2 images found, e\.g\. .*x\.png; images looked up as P"):
        check_image_files([str(tmp_path / "x.png"), str(tmp_path / "no" / "y.png")], split="val", where="P")
    with pytest.raises(InputError, match="2 of 4 images missing \\(at most 1 are tolerated\\)"):
        check_image_files([*paths, str(tmp_path / "d.png")], split="val", where="P", max_missing=1)
