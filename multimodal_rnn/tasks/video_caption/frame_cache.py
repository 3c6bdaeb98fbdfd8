"""A frozen frame encoder's per-frame inputs of every clip, on disk and memory-mapped.

When the video model's image encoder does not learn (``encoder.trainable = False``), running it
over every frame of every clip each epoch is wasted work (the small CNN costs about 10-20 ms a
64x64 frame on a shared CPU core). :func:`build_frame_cache` runs it once over the uniformly
sampled frames of every record and writes what the model's frame projection reads
(:meth:`~multimodal_rnn.tasks.video_caption.models.VideoCaptionModel.frame_inputs`: the flattened
grid, N * D values a frame, or the pooled D), in the layout of the clip feature caches of
:mod:`multimodal_rnn.datasets`:

    cache_dir/features.npy  float32 (num_records, T, F), memory-mapped when read; zero past a clip's length
    cache_dir/lengths.npy   int64 (num_records,): frames of each clip, 0 where it could not be read
    cache_dir/indices.npy   int64 (num_records, T): the sampled source frames (-1 past the length)
    cache_dir/totals.npy    int64 (num_records,): frames of each source video
    cache_dir/meta.json     what the features depend on (written last)

``meta.json`` holds the encoder's digest (config and every weight), the frame features kind, the
number of frames and each video's path, size and modification time: a cache that does not match
is rebuilt, never reused stale. :class:`CachedFrames` serves ``features`` (T, F) in place of
``frames``; the model gives the same captions either way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from multimodal_rnn.datasets.feature_cache import encoder_digest
from multimodal_rnn.datasets.video_clips import ClipDataset, per_frame
from multimodal_rnn.datasets.video_records import VideoRecord
from multimodal_rnn.encoders.image import build_transform
from multimodal_rnn.errors import ConfigError, InputError
from multimodal_rnn.files import atomic_write, read_json, write_json
from multimodal_rnn.tasks.video_caption.models import VideoCaptionModel

FRAME_CACHE_FORMAT = 1
_ARRAYS = ("features", "lengths", "indices", "totals")


def _stamp(path: Path) -> list[int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns]


def build_frame_cache(
    model: VideoCaptionModel,
    records: Sequence[VideoRecord],
    cache_dir: str | os.PathLike[str],
    *,
    batch_size: int = 8,
    max_bad_clips: int = 100,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, str]:
    """Compute (or reuse) the frame inputs of ``records`` (the model's ``num_frames``, sampled
    uniformly); ``progress(done, total)`` after every ``batch_size`` clips when it is (re)built.

    Returns the unreadable clips (path -> reason) found while building (none when reused).

    Raises:
        ConfigError: the model's encoder learns (its features would change under the cache).
        InputError: more than ``max_bad_clips`` clips could not be read.
    """
    if model.config.encoder.trainable:
        raise ConfigError("a frame cache needs a frozen encoder: set the model option encoder.trainable to false")
    cache_dir = Path(cache_dir)
    num_frames = model.config.num_frames
    meta = {
        "format": FRAME_CACHE_FORMAT,
        "encoder": encoder_digest(model.encoder),
        "frame_features": model.config.frame_features,
        "num_frames": num_frames,
        "videos": [[str(r.path), _stamp(Path(r.path))] for r in records],
    }
    meta_path = cache_dir / "meta.json"
    if meta_path.exists() and read_json(meta_path) == meta and all((cache_dir / f"{n}.npy").exists() for n in _ARRAYS):
        return {}
    cache_dir.mkdir(parents=True, exist_ok=True)
    if meta_path.exists():
        meta_path.unlink()  # the old features no longer describe these records
    clips = ClipDataset(
        records,
        num_frames=num_frames,
        transform=per_frame(build_transform(model.config.encoder)),
        max_bad_clips=max_bad_clips,
    )
    count = len(records)
    lengths, totals = np.zeros(count, dtype=np.int64), np.zeros(count, dtype=np.int64)
    indices = np.full((count, num_frames), -1, dtype=np.int64)
    device = next(model.parameters()).device

    def write_features(tmp: str) -> None:
        features: np.memmap | None = None
        for start in range(0, count, batch_size):
            rows, read = [], []
            for row in range(start, min(start + batch_size, count)):
                try:
                    read.append(clips.read(str(records[row].path), row))
                except InputError as exc:  # counted and skipped, the ClipDataset way
                    clips.reader.record(str(records[row].path), str(exc))
                    continue
                rows.append(row)
            if read:
                frames = torch.cat([clips.transform(clip) for clip in read]).to(device)  # (R, 3, H, W) real frames
                inputs = model.frame_inputs(
                    frames[:, None], torch.ones((len(frames), 1), dtype=torch.bool, device=device)
                )[:, 0]
                if features is None:
                    features = np.lib.format.open_memmap(
                        tmp, mode="w+", dtype=np.float32, shape=(count, num_frames, inputs.shape[1])
                    )
                values, offset = inputs.cpu().numpy(), 0
                for row, clip in zip(rows, read):
                    length = len(clip.indices)
                    features[row, :length] = values[offset : offset + length]
                    lengths[row], totals[row] = length, clip.total_frames
                    indices[row, :length] = clip.indices
                    offset += length
            if progress is not None:
                progress(min(start + batch_size, count), count)
        if features is None:
            raise ConfigError(f"{cache_dir}: none of the {count} clips could be read")
        features.flush()

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            atomic_write(cache_dir / "features.npy", write_features)  # a kill leaves no half-written file
    finally:
        model.train(was_training)
    for name, array in (("lengths", lengths), ("indices", indices), ("totals", totals)):
        np.save(cache_dir / f"{name}.npy", array)
    write_json(meta_path, meta)  # written last: a cache without it is incomplete
    return dict(clips.bad_clips)


class CachedFrames(Dataset):
    """The items of :class:`~multimodal_rnn.datasets.video_clips.ClipDataset` over the same
    ``records``, with the cached ``features`` (T, F) instead of ``frames``; unreadable clips are None."""

    def __init__(self, records: Sequence[VideoRecord], cache_dir: str | os.PathLike[str]) -> None:
        cache_dir = Path(cache_dir)
        self.features = np.load(cache_dir / "features.npy", mmap_mode="r")
        self.lengths, self.indices, self.totals = (np.load(cache_dir / f"{name}.npy") for name in _ARRAYS[1:])
        if len(self.lengths) != len(records):
            raise ConfigError(f"{cache_dir}: the cache holds {len(self.lengths)} clips, the records {len(records)}")
        self.annotated = ClipDataset(records, num_frames=None)

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        length = int(self.lengths[index])
        if length == 0:
            return None
        features = torch.from_numpy(np.array(self.features[index, :length]))  # (T, F), copied out of the map
        annotations = self.annotated.annotations(index, self.indices[index, :length].tolist(), int(self.totals[index]))
        return {"features": features, "length": length, **annotations}
