"""Precomputed per-frame features of clips on disk, memory-mapped, for training with a frozen encoder.

The video models see a clip as T per-frame feature vectors (the encoder's pooled grid). When the
encoder does not learn, :func:`build_clip_feature_cache` runs it once over the sampled frames of
every record (uniform sampling: the cache fixes the frames) and writes

    cache_dir/features.npy  float32 (num_records, T, D), memory-mapped when read; zero past a clip's length
    cache_dir/lengths.npy   int64 (num_records,): frames of each clip, 0 where it could not be read
    cache_dir/indices.npy   int64 (num_records, T): the sampled source frames (-1 past the length)
    cache_dir/totals.npy    int64 (num_records,): frames of each source video
    cache_dir/meta.json     what the features depend on (written last)

``meta.json`` holds the digest of the encoder (config and every weight, as
:mod:`multimodal_rnn.datasets.feature_cache` does for images), the sampling (``num_frames``,
``fps``, the limits) and each video's path, size and modification time: a cache that does not
match is rebuilt, so a stale one is never used. Frames go through the encoder's own evaluation
transform (``encoders.image.build_transform(encoder.config)``). :class:`CachedClipDataset` serves
``features`` (T, D) in place of ``frames``; :func:`~multimodal_rnn.datasets.video_clips.collate_clips`
pads them the same way.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from multimodal_rnn.datasets.feature_cache import encoder_digest
from multimodal_rnn.datasets.video_clips import ClipDataset, per_frame
from multimodal_rnn.datasets.video_records import VideoRecord
from multimodal_rnn.encoders.image import ImageEncoder, build_transform
from multimodal_rnn.errors import ConfigError
from multimodal_rnn.files import atomic_write, read_json, write_json
from multimodal_rnn.video import DEFAULT_LIMITS, VideoLimits

CLIP_CACHE_FORMAT = 1
_ARRAYS = ("features", "lengths", "indices", "totals")


class ClipFeatures(NamedTuple):
    """A clip feature cache: ``features`` (R, T, D) memory-mapped, ``lengths`` (R,), ``indices``
    (R, T), ``totals`` (R,); ``bad_clips``: unreadable clip path -> reason (when just built)."""

    features: np.ndarray
    lengths: np.ndarray
    indices: np.ndarray
    totals: np.ndarray
    bad_clips: dict[str, str]


def _file_stamp(path: Path) -> list[int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns]


def build_clip_feature_cache(
    encoder: ImageEncoder,
    records: Sequence[VideoRecord],
    cache_dir: str | os.PathLike[str],
    *,
    num_frames: int,
    fps: float | None = None,
    limits: VideoLimits = DEFAULT_LIMITS,
    batch_size: int = 8,
    max_bad_clips: int = 100,
    progress: Callable[[int, int], None] | None = None,
) -> ClipFeatures:
    """Compute (or reuse) the per-frame features of ``records`` (``num_frames`` frames each,
    sampled uniformly or at ``fps``); ``batch_size`` clips go through the encoder at once;
    ``progress(done, total)`` after every batch when the cache is (re)built.

    Raises:
        InputError: more than ``max_bad_clips`` clips could not be read.
    """
    if num_frames < 1:
        raise ConfigError(f"num_frames must be >= 1, got {num_frames}")
    cache_dir = Path(cache_dir)
    meta = {
        "format": CLIP_CACHE_FORMAT,
        "encoder": encoder_digest(encoder),
        "sampling": {"num_frames": num_frames, "fps": fps, "limits": dataclasses.asdict(limits)},
        "videos": [[str(r.path), _file_stamp(Path(r.path))] for r in records],
    }
    meta_path = cache_dir / "meta.json"
    if (
        meta_path.exists()
        and read_json(meta_path) == meta
        and all((cache_dir / f"{name}.npy").exists() for name in _ARRAYS)
    ):
        return open_clip_feature_cache(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    if meta_path.exists():
        meta_path.unlink()  # the old features no longer describe these records
    dataset = ClipDataset(
        records,
        num_frames=num_frames,
        fps=fps,
        limits=limits,
        transform=per_frame(build_transform(encoder.config)),
        max_bad_clips=max_bad_clips,
    )
    count = len(records)
    lengths = np.zeros(count, dtype=np.int64)
    indices = np.full((count, num_frames), -1, dtype=np.int64)
    totals = np.zeros(count, dtype=np.int64)
    device = next(encoder.parameters()).device

    def write_features(tmp: str) -> None:
        features = np.lib.format.open_memmap(
            tmp, mode="w+", dtype=np.float32, shape=(count, num_frames, encoder.feature_size)
        )
        for start in range(0, count, batch_size):
            items = [item for item in (dataset[i] for i in range(start, min(start + batch_size, count))) if item]
            if items:
                pooled = encoder(torch.cat([item["frames"] for item in items]).to(device)).pooled.cpu().numpy()
                offset = 0
                for item in items:
                    row, length = item["index"], item["length"]
                    features[row, :length] = pooled[offset : offset + length]
                    lengths[row], totals[row] = length, item["total_frames"]
                    indices[row, :length] = item["indices"].numpy()
                    offset += length
            if progress is not None:
                progress(min(start + batch_size, count), count)
        features.flush()
        del features

    was_training = encoder.training
    encoder.eval()
    try:
        with torch.no_grad():
            atomic_write(cache_dir / "features.npy", write_features)  # a kill leaves no half-written file
    finally:
        encoder.train(was_training)
    for name, array in (("lengths", lengths), ("indices", indices), ("totals", totals)):
        np.save(cache_dir / f"{name}.npy", array)
    write_json(meta_path, meta)  # written last: a cache without it is incomplete
    return open_clip_feature_cache(cache_dir)._replace(bad_clips=dict(dataset.bad_clips))


def open_clip_feature_cache(cache_dir: str | os.PathLike[str]) -> ClipFeatures:
    """The cached clip features (memory-mapped read-only) and their lengths, indices and totals."""
    cache_dir = Path(cache_dir)
    features = np.load(cache_dir / "features.npy", mmap_mode="r")
    lengths, indices, totals = (np.load(cache_dir / f"{name}.npy") for name in _ARRAYS[1:])
    return ClipFeatures(features, lengths, indices, totals, {})


class CachedClipDataset(Dataset):
    """Like :class:`~multimodal_rnn.datasets.video_clips.ClipDataset`, but items carry
    ``features`` (T, D) from a cache built for the same ``records`` instead of ``frames``;
    clips that could not be read when the cache was built yield None."""

    def __init__(
        self,
        records: Sequence[VideoRecord],
        cache_dir: str | os.PathLike[str],
        *,
        classes: Sequence[str] | None = None,
        frame_classes: Sequence[str] | None = None,
    ) -> None:
        self.cache = open_clip_feature_cache(cache_dir)
        if len(self.cache.features) != len(records):
            raise ConfigError(f"{cache_dir}: cache holds {len(self.cache.features)} clips, records {len(records)}")
        self.labels = ClipDataset(records, num_frames=None, classes=classes, frame_classes=frame_classes)

    def __len__(self) -> int:
        return len(self.cache.lengths)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        length = int(self.cache.lengths[index])
        if length == 0:
            return None
        features = torch.from_numpy(np.array(self.cache.features[index, :length]))  # (T, D), copied out of the map
        indices = self.cache.indices[index, :length].tolist()
        annotations = self.labels.annotations(index, indices, int(self.cache.totals[index]))
        return {"features": features, "length": length, **annotations}
