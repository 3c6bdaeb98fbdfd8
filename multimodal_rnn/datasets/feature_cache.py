"""Precomputed image features on disk, memory-mapped, for training with a frozen encoder.

When the image encoder does not learn, re-running the CNN every epoch is wasted work.
:func:`build_feature_cache` runs it once over a list of caption records and writes

    cache_dir/grid.npy    float32 (num_records, N, D) grid features, memory-mapped when read
    cache_dir/valid.npy   bool (num_records,): False where the image could not be read
    cache_dir/meta.json   what the features depend on: encoder config, weights digest, image paths

A cache whose ``meta.json`` does not match the encoder and records at hand is rebuilt, so a
stale cache is never used. :class:`CachedCaptionDataset` serves ``grid`` features in place of
``image`` pixels; caption models accept either.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from multimodal_rnn.config import config_to_dict
from multimodal_rnn.datasets.captions import CaptionDataset, CaptionRecord, collate_captions
from multimodal_rnn.encoders.image import ImageEncoder
from multimodal_rnn.files import atomic_write, read_json, write_json

CACHE_FORMAT = 1


def encoder_digest(encoder: ImageEncoder) -> str:
    """sha256 of the encoder's config and every tensor of its state dict."""
    digest = hashlib.sha256(json.dumps(config_to_dict(encoder.config), sort_keys=True).encode())
    for name, tensor in sorted(encoder.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def build_feature_cache(
    encoder: ImageEncoder,
    records: Sequence[CaptionRecord],
    transform: Callable[[Image.Image], torch.Tensor],
    load_image: Callable[[str], Image.Image],
    cache_dir: str | os.PathLike[str],
    *,
    batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Compute (or reuse) the grid features of ``records``; returns the memory-mapped array.

    ``progress(done, total)`` is called after every batch when the cache is (re)built.
    """
    cache_dir = Path(cache_dir)
    meta = {"format": CACHE_FORMAT, "encoder": encoder_digest(encoder), "paths": [r.path for r in records]}
    meta_path = cache_dir / "meta.json"
    if meta_path.exists() and read_json(meta_path) == meta and (cache_dir / "grid.npy").exists():
        return open_feature_cache(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    if meta_path.exists():
        meta_path.unlink()  # the old features no longer describe these records
    dataset = CaptionDataset(records, transform, load_image, per_image=True, max_bad_images=len(records))
    positions, size = encoder.grid_shape[0] * encoder.grid_shape[1], encoder.feature_size
    valid = np.zeros(len(records), dtype=bool)
    device = next(encoder.parameters()).device

    def write_grid(tmp: str) -> None:
        grid = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(records), positions, size))
        for start in range(0, len(records), batch_size):
            batch = collate_captions([dataset[i] for i in range(start, min(start + batch_size, len(records)))])
            if "image" in batch:
                features = encoder(batch["image"].to(device)).grid.cpu().numpy()  # (b, N, D)
                grid[batch["index"]] = features
                valid[batch["index"]] = True
            if progress is not None:
                progress(min(start + batch_size, len(records)), len(records))
        grid.flush()
        del grid

    was_training = encoder.training
    encoder.eval()
    try:
        with torch.no_grad():
            atomic_write(cache_dir / "grid.npy", write_grid)  # a kill leaves no half-written grid.npy
    finally:
        encoder.train(was_training)
    np.save(cache_dir / "valid.npy", valid)
    write_json(meta_path, meta)  # written last: a cache without it is incomplete
    return open_feature_cache(cache_dir)


def open_feature_cache(cache_dir: str | os.PathLike[str]) -> np.ndarray:
    """The cached grid features (num_records, N, D), memory-mapped read-only."""
    return np.load(Path(cache_dir) / "grid.npy", mmap_mode="r")


class CachedCaptionDataset(Dataset):
    """Like :class:`CaptionDataset` but items carry ``grid`` (N, D) features instead of ``image``.

    Records whose image could not be read when the cache was built yield None.
    """

    def __init__(self, records: Sequence[CaptionRecord], cache_dir: str | os.PathLike[str],
                 encode: Callable[[str], list[int]]) -> None:
        self.records = list(records)
        self.grid = open_feature_cache(cache_dir)
        self.valid = np.load(Path(cache_dir) / "valid.npy")
        if len(self.grid) != len(self.records):
            raise ValueError(f"{cache_dir}: cache holds {len(self.grid)} images, records {len(self.records)}")
        self.encode = encode
        self.pairs = [(i, j) for i, r in enumerate(self.records) for j in range(len(r.captions))]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        record_index, caption_index = self.pairs[index]
        if not self.valid[record_index]:
            return None
        record = self.records[record_index]
        return {
            "grid": torch.from_numpy(np.array(self.grid[record_index])),  # (N, D), copied out of the map
            "image_id": record.image_id,
            "index": record_index,
            "tokens": torch.tensor(self.encode(record.captions[caption_index]), dtype=torch.long),
        }
