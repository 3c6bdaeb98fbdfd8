"""The clip pipeline: ClipDataset items, unreadable clips counted and skipped, collate_clips."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from multimodal_rnn.datasets.image_reader import read_batches
from multimodal_rnn.datasets.video_formats import (
    IGNORE_INDEX,
    ClipDataset,
    VideoRecord,
    collate_clips,
    per_frame,
    read_ucf101,
    read_ucf_classes,
)
from multimodal_rnn.errors import ConfigError, DataFormatError, InputError
from tests.video_data import frame_numbers, make_ucf, write_gray_clip


@pytest.fixture(scope="module")
def ucf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_ucf(tmp_path_factory.mktemp("ucf"), frames=6)


def test_items_carry_frames_labels_and_sampled_frame_labels(ucf: Path) -> None:
    records = read_ucf101(ucf, frame_labels=ucf / "frame_labels.json")
    dataset = ClipDataset(records, num_frames=4, classes=read_ucf_classes(ucf), frame_classes=["still", "moving"])
    item = dataset[2]
    assert item is not None
    assert item["frames"].shape == (4, 3, 16, 16) and item["frames"].dtype == torch.float32
    assert item["length"] == 4 and item["index"] == 2 and item["video_id"] == "Run/v_Run_g01_c01.avi"
    assert item["indices"].tolist() == [0, 2, 3, 5]
    assert frame_numbers((item["frames"].permute(0, 2, 3, 1) * 255).numpy()) == [0, 2, 3, 5]
    assert item["label"] == 1 and item["label_name"] == "Run"
    assert item["frame_label_names"] == ("still", "still", "moving", "moving")
    assert item["frame_labels"].tolist() == [0, 0, 1, 1]


def test_random_sampling_is_seeded_per_item_and_epoch(ucf: Path) -> None:
    records = read_ucf101(ucf)
    draws = []
    for _ in range(2):
        dataset = ClipDataset(records, num_frames=3, sampling="random", seed=5)
        first = [dataset[i]["indices"].tolist() for i in range(3)]  # type: ignore[index]
        dataset.set_epoch(1)
        draws.append((first, [dataset[i]["indices"].tolist() for i in range(3)]))  # type: ignore[index]
    assert draws[0] == draws[1]
    uniform = ClipDataset(records, num_frames=3)
    assert uniform[0]["indices"].tolist() == [1, 3, 5]  # type: ignore[index]
    for indices in draws[0][0] + draws[0][1]:
        assert [i // 2 for i in indices] == [0, 1, 2]  # one frame from each third


def test_fps_sampling_gives_shorter_clips_and_collate_masks_them(tmp_path: Path) -> None:
    long = write_gray_clip(tmp_path / "long.mp4", 12, fps=8)
    short = write_gray_clip(tmp_path / "short.mp4", 4, fps=8)
    dataset = ClipDataset([VideoRecord("long", long), VideoRecord("short", short)], num_frames=4, fps=4)
    batch = collate_clips([dataset[0], dataset[1]])
    assert batch["frames"].shape == (2, 4, 3, 16, 16)
    assert batch["length"].tolist() == [4, 2]
    assert batch["mask"].tolist() == [[True] * 4, [True, True, False, False]]
    assert batch["indices"].tolist() == [[2, 4, 6, 8], [0, 2, -1, -1]]
    assert float(batch["frames"][1, 2:].abs().sum()) == 0.0


def test_unreadable_clips_are_counted_and_skipped(tmp_path: Path) -> None:
    good = write_gray_clip(tmp_path / "good.avi", 4)
    broken = tmp_path / "broken.avi"
    broken.write_bytes(good.read_bytes()[:100])
    records = [VideoRecord("good", good), VideoRecord("broken", broken), VideoRecord("gone", tmp_path / "gone.mp4")]
    dataset = ClipDataset(records, num_frames=2, max_bad_clips=2)
    batch = collate_clips([dataset[i] for i in range(3)])
    assert batch["num_skipped"] == 2 and batch["video_id"] == ["good"]
    assert set(dataset.bad_clips) == {str(broken), str(tmp_path / "gone.mp4")}
    assert "truncated or corrupt video" in dataset.bad_clips[str(broken)]
    assert collate_clips([None]) == {"num_skipped": 1}
    strict = ClipDataset(records, num_frames=2, max_bad_clips=0)
    with pytest.raises(InputError, match="more than 0 unreadable clips; last: .*broken.avi"):
        strict[1]


def test_frame_label_padding_is_ignored_by_cross_entropy(tmp_path: Path) -> None:
    clips = [write_gray_clip(tmp_path / f"{n}.mkv", n) for n in (3, 2)]
    records = [VideoRecord(str(n), path, frame_labels=("a",) * n) for n, path in zip((3, 2), clips)]
    batch = collate_clips([ClipDataset(records, num_frames=None, frame_classes=["a"])[i] for i in range(2)])
    assert batch["frame_labels"].tolist() == [[0, 0, 0], [0, 0, IGNORE_INDEX]]


def test_per_frame_applies_an_image_transform(ucf: Path) -> None:
    def transform(image: object) -> torch.Tensor:
        return torch.zeros(3, 8, 8)

    item = ClipDataset(read_ucf101(ucf), num_frames=2, transform=per_frame(transform))[0]
    assert item is not None and item["frames"].shape == (2, 3, 8, 8)


def test_configuration_and_label_errors(ucf: Path) -> None:
    records = read_ucf101(ucf)
    with pytest.raises(ConfigError, match="sampling must be one of uniform, random"):
        ClipDataset(records, sampling="dense")
    with pytest.raises(ConfigError, match="num_frames must be >= 1"):
        ClipDataset(records, num_frames=0)
    with pytest.raises(ConfigError, match="has no frame labels"):
        ClipDataset(records, frame_classes=["still"])
    with pytest.raises(DataFormatError, match="label 'Jump' is not one of the classes"):
        ClipDataset(records, classes=["Run"])[0]
    short = [VideoRecord("v", records[0].path, frame_labels=("a",))]
    with pytest.raises(DataFormatError, match="1 frame labels for a video of 6 frames"):
        ClipDataset(short, num_frames=2)[0]


def test_read_batches_in_a_worker_keeps_the_count(tmp_path: Path) -> None:
    good = [write_gray_clip(tmp_path / f"{n}.avi", 3) for n in range(3)]
    records = [
        VideoRecord("0", good[0]),
        VideoRecord("gone", tmp_path / "gone.avi"),
        *(VideoRecord(p.stem, p) for p in good[1:]),
    ]
    dataset = ClipDataset(records, num_frames=2)
    batches = list(read_batches(dataset, dataset.reader, [[0, 1], [2, 3]], collate_clips, workers=1))
    assert [b["video_id"] for b in batches] == [["0"], ["1", "2"]] and batches[0]["num_skipped"] == 1
    assert list(dataset.bad_clips) == [str(tmp_path / "gone.avi")]
