"""Batches read in worker processes (datasets.image_reader.read_batches): the same batches in the
same order as in the main process, and one global count of unreadable images."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Dataset

from multimodal_rnn.datasets.image_reader import ImageReader, default_workers, read_batches
from multimodal_rnn.errors import ConfigError, InputError


def fake_load(path: str) -> Image.Image:
    """``"bad-N"`` paths are unreadable; ``"ok-N"`` gives an N-colored 2x2 image."""
    kind, number = path.split("-")
    if kind == "bad":
        raise InputError(f"{path}: cannot read")
    return Image.new("RGB", (2, 2), (int(number), 0, 0))


def to_tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float()


class Paths(Dataset):
    def __init__(self, paths: list[str], reader: ImageReader) -> None:
        self.paths, self.reader = paths, reader

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        image = self.reader.read(self.paths[index])
        return None if image is None else {"image": image, "index": index}


def collate(items: list[dict[str, Any] | None]) -> dict[str, Any]:
    kept = [item for item in items if item is not None]
    return {"index": [item["index"] for item in kept], "image": torch.stack([item["image"] for item in kept])}


PATHS = [f"bad-{i}" if i % 5 == 2 else f"ok-{i}" for i in range(40)]  # 8 unreadable, spread over the batches
BATCHES = [range(start, min(start + 6, len(PATHS))) for start in range(0, len(PATHS), 6)]


def read_all(workers: int, max_bad_images: int) -> tuple[list[dict[str, Any]], dict[str, str]]:
    reader = ImageReader(fake_load, to_tensor, max_bad_images=max_bad_images)
    batches = list(read_batches(Paths(PATHS, reader), reader, BATCHES, collate, workers=workers))
    return batches, reader.bad_images


def test_workers_give_the_same_batches_in_order_and_one_global_count() -> None:
    expected, expected_bad = read_all(0, 8)
    for workers in (1, 2):
        batches, bad = read_all(workers, 8)
        assert [b["index"] for b in batches] == [b["index"] for b in expected]
        assert all(torch.equal(b["image"], e["image"]) for b, e in zip(batches, expected))
        assert list(bad.items()) == list(expected_bad.items()) and len(bad) == 8


def test_the_limit_applies_to_all_workers_together() -> None:
    with pytest.raises(InputError) as main_error:
        read_all(0, 7)
    # 8 unreadable images in all, at most 2 per batch and per worker: only a global count trips the limit
    with pytest.raises(InputError) as worker_error:
        read_all(2, 7)
    assert (
        str(worker_error.value) == str(main_error.value) == "more than 7 unreadable images; last: bad-37: cannot read"
    )


def test_worker_options() -> None:
    reader = ImageReader(fake_load, to_tensor)
    with pytest.raises(ConfigError, match="workers must be >= 0"):
        list(read_batches(Paths(PATHS, reader), reader, BATCHES, collate, workers=-1))
    assert list(read_batches(Paths([], reader), reader, [], collate, workers=2)) == []
    assert 0 <= default_workers() <= 2
