"""The per-clip feature cache of a frozen encoder: built once, reused, rebuilt when stale."""

from __future__ import annotations

from pathlib import Path

import torch

from multimodal_rnn.datasets.video_formats import (
    CachedClipDataset,
    ClipDataset,
    VideoRecord,
    build_clip_feature_cache,
    collate_clips,
    per_frame,
)
from multimodal_rnn.encoders.image import ImageEncoder, ImageEncoderConfig, build_transform
from tests.video_data import write_gray_clip


def _encoder() -> ImageEncoder:
    torch.manual_seed(0)
    return ImageEncoder(ImageEncoderConfig(channels=(4, 4), image_size=16)).eval()


def test_cache_holds_the_encoders_features_and_is_reused(tmp_path: Path) -> None:
    clips = [write_gray_clip(tmp_path / "a.avi", 6), write_gray_clip(tmp_path / "b.mkv", 2)]
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\0\0\0\x18ftypmp42 not really")
    records = [
        VideoRecord("a", clips[0], label="x", frame_labels=("s",) * 6),
        VideoRecord("broken", broken, label="y", frame_labels=("s",)),
        VideoRecord("b", clips[1], label="y", frame_labels=("s", "t")),
    ]
    encoder = _encoder()
    calls: list[tuple[int, int]] = []
    cache = build_clip_feature_cache(
        encoder,
        records,
        tmp_path / "cache",
        num_frames=4,
        batch_size=2,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(2, 3), (3, 3)]
    assert cache.features.shape == (3, 4, encoder.feature_size) and cache.lengths.tolist() == [4, 0, 4]
    assert list(cache.bad_clips) == [str(broken)]
    dataset = ClipDataset(records, num_frames=4, transform=per_frame(build_transform(encoder.config)))
    with torch.no_grad():
        expected = encoder(dataset[0]["frames"]).pooled  # type: ignore[index]
    torch.testing.assert_close(torch.from_numpy(cache.features[0].copy()), expected, rtol=1e-5, atol=1e-5)

    cached = CachedClipDataset(records, tmp_path / "cache", classes=["x", "y"], frame_classes=["s", "t"])
    assert cached[1] is None
    batch = collate_clips([cached[0], cached[1], cached[2]])
    assert batch["features"].shape == (2, 4, encoder.feature_size) and batch["num_skipped"] == 1
    assert batch["label"].tolist() == [0, 1] and batch["frame_labels"].tolist() == [[0] * 4, [0, 0, 1, 1]]
    assert batch["indices"].tolist() == [[0, 2, 3, 5], [0, 0, 1, 1]]

    stamp = (tmp_path / "cache" / "features.npy").stat().st_mtime_ns
    build_clip_feature_cache(encoder, records, tmp_path / "cache", num_frames=4)
    assert (tmp_path / "cache" / "features.npy").stat().st_mtime_ns == stamp  # reused
    rebuilt = build_clip_feature_cache(encoder, records, tmp_path / "cache", num_frames=2)
    assert rebuilt.features.shape[1] == 2  # another sampling: rebuilt
    with torch.no_grad():
        next(encoder.parameters()).add_(1.0)
    changed = build_clip_feature_cache(encoder, records, tmp_path / "cache", num_frames=2)
    assert not torch.equal(torch.from_numpy(changed.features[0].copy()), torch.from_numpy(rebuilt.features[0].copy()))
