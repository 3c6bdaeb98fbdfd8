"""The moving-shapes world's files read with the generic video readers, as the tasks read them."""

from __future__ import annotations

from pathlib import Path

import pytest

from multimodal_rnn.datasets.moving_shapes import (
    ACTION_CLASSES,
    FRAME_LABELS,
    MovingShapesConfig,
    generate_moving_shapes,
)
from multimodal_rnn.datasets.video_formats import (
    ClipDataset,
    collate_clips,
    read_frame_labels,
    read_msrvtt,
    read_ucf101,
    read_ucf_classes,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("moving_shapes")
    config = MovingShapesConfig(train_size=12, val_size=3, test_size=3, num_frames=8, frame_size=32)
    generate_moving_shapes(root, config)
    return root


def test_ucf_layout_and_frame_labels_read(world: Path) -> None:
    ucf = world / "ucf"
    labels = ucf / "frame_labels.json"
    sizes = {split: len(read_ucf101(ucf, split=split, frame_labels=labels)) for split in ("train", "val", "test")}
    assert sizes == {"train": 12, "val": 3, "test": 3}
    assert read_ucf_classes(ucf) == sorted(read_ucf_classes(ucf)) and set(read_ucf_classes(ucf)) <= set(ACTION_CLASSES)
    frame_classes = read_frame_labels(labels).classes
    assert set(frame_classes) <= set(FRAME_LABELS)
    records = read_ucf101(ucf, split="test", frame_labels=labels)
    dataset = ClipDataset(records, num_frames=8, classes=read_ucf_classes(ucf), frame_classes=frame_classes)
    batch = collate_clips([dataset[i] for i in range(len(dataset))])
    assert batch["frames"].shape == (3, 8, 3, 32, 32) and batch["frame_labels"].shape == (3, 8)
    assert batch["num_skipped"] == 0 and not dataset.bad_clips


def test_msrvtt_layout_reads(world: Path) -> None:
    records = read_msrvtt(world / "msrvtt" / "videodatainfo.json", world / "msrvtt" / "videos", split=None)
    assert len(records) == 18 and all(r.captions and r.path.exists() for r in records)
    assert {r.split for r in records} == {"train", "validate", "test"}
    item = ClipDataset(records[:1], num_frames=4)[0]
    assert item is not None and item["frames"].shape == (4, 3, 32, 32)
