"""The clip pipeline of the video tasks: records -> sampled, transformed clips -> padded batches.

:class:`ClipDataset` reads a :class:`~multimodal_rnn.datasets.video_records.VideoRecord` list
into items ``{"frames": float (T, 3, H, W), "length": T, "index": i, "video_id": ..., "indices":
long (T,) source frame numbers, "total_frames": frames of the source, "captions": (...),
"label_name": str | None, "frame_label_names": tuple | None}`` plus, given the class lists,
``"label"`` (the class number) and ``"frame_labels"`` long (T,) (the classes of the sampled
frames). A clip that cannot be read is counted and skipped (the item is None) under the one
policy of :class:`~multimodal_rnn.datasets.image_reader.ImageReader`: more than
``max_bad_clips`` raise.
:func:`collate_clips` pads to the longest T of the batch with a ``mask``. A frozen encoder's
per-frame features are cached on disk by :mod:`multimodal_rnn.datasets.video_features`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from multimodal_rnn.datasets.image_reader import ImageReader
from multimodal_rnn.datasets.video_records import VideoRecord
from multimodal_rnn.errors import ConfigError, DataFormatError, InputError
from multimodal_rnn.video import DEFAULT_LIMITS, VideoClip, VideoLimits, read_clip

SAMPLINGS = ("uniform", "random")
"""``uniform``: the centre of each of T equal segments (evaluation, prediction, feature caches);
``random``: a random frame in each segment (or a random window at ``fps``), new every epoch."""

IGNORE_INDEX = -100
"""``frame_labels`` of padded frames (the default ``ignore_index`` of ``torch.nn.functional.cross_entropy``)."""


def clip_to_tensor(clip: VideoClip) -> torch.Tensor:
    """The default transform: frames as float (T, 3, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(clip.frames)).permute(0, 3, 1, 2).float().div_(255.0)


def per_frame(transform: Callable[[Image.Image], torch.Tensor]) -> Callable[[VideoClip], torch.Tensor]:
    """A clip transform from an image transform (e.g. ``encoders.image.build_transform(config)``),
    applied to every frame: (T, 3, S, S). A random image augmentation would differ from frame to
    frame; use the evaluation transform."""

    def apply(clip: VideoClip) -> torch.Tensor:
        return torch.stack([transform(Image.fromarray(frame)) for frame in clip.frames])

    return apply


class ClipDataset(Dataset):
    """Sampled clips of ``records`` (see the module docstring for the items).

    Args:
        num_frames: T frames per clip (with ``fps``: at most T; None: every frame).
        transform: ``VideoClip -> float (T, 3, H, W)``; default :func:`clip_to_tensor`.
        sampling: one of :data:`SAMPLINGS`.
        seed: of the ``random`` sampling: item ``i`` of epoch ``e`` (:meth:`set_epoch`) draws
            from ``random.Random(f"{seed}:{e}:{i}")``, the same in any worker process.
        fps: sample frames at this rate (frames per second of the source) instead of spreading
            them over the whole clip.
        classes: the clip classes, in class-number order: items get ``"label"``.
        frame_classes: the frame classes: items get ``"frame_labels"`` (records need ``frame_labels``).
        limits: what one clip may cost (:class:`~multimodal_rnn.video.VideoLimits`).
        max_bad_clips: unreadable clips skipped before an :class:`InputError`.
    """

    def __init__(
        self,
        records: Sequence[VideoRecord],
        *,
        num_frames: int | None = 16,
        transform: Callable[[VideoClip], torch.Tensor] | None = None,
        sampling: str = "uniform",
        seed: int = 0,
        fps: float | None = None,
        classes: Sequence[str] | None = None,
        frame_classes: Sequence[str] | None = None,
        limits: VideoLimits = DEFAULT_LIMITS,
        max_bad_clips: int = 100,
    ) -> None:
        if sampling not in SAMPLINGS:
            raise ConfigError(f"sampling must be one of {', '.join(SAMPLINGS)}, got {sampling!r}")
        if num_frames is not None and num_frames < 1:
            raise ConfigError(f"num_frames must be >= 1, got {num_frames}")
        if fps is not None and fps <= 0:
            raise ConfigError(f"fps must be > 0, got {fps}")
        self.records = list(records)
        self.num_frames, self.sampling, self.seed, self.fps, self.limits = num_frames, sampling, seed, fps, limits
        self.transform = transform or clip_to_tensor
        self.class_index = {name: i for i, name in enumerate(classes)} if classes is not None else None
        self.frame_class_index = (
            {name: i for i, name in enumerate(frame_classes)} if frame_classes is not None else None
        )
        if self.frame_class_index is not None:
            unlabelled = [r.video_id for r in self.records if r.frame_labels is None]
            if unlabelled:
                raise ConfigError(f"frame classes given but video {unlabelled[0]!r} has no frame labels")
        self.reader = ImageReader(self.read, self.transform, max_bad_images=max_bad_clips, what="clips")
        self.epoch = 0

    @property
    def bad_clips(self) -> dict[str, str]:
        """Unreadable clip path -> its one-line reason."""
        return self.reader.bad_images

    def set_epoch(self, epoch: int) -> None:
        """Draw new random frames: the ``random`` sampling of epoch ``epoch``."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.records)

    def read(self, path: str, index: int | None = None) -> VideoClip:
        """The sampled clip at ``path`` (item ``index``'s random draw with ``random`` sampling)."""
        rng = random.Random(f"{self.seed}:{self.epoch}:{index}") if self.sampling == "random" else None
        return read_clip(path, num_frames=self.num_frames, fps=self.fps, rng=rng, limits=self.limits)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        record = self.records[index]
        try:
            clip = self.read(str(record.path), index)
        except InputError as exc:
            self.reader.record(str(record.path), str(exc))
            return None
        frames = self.transform(clip)
        return {
            "frames": frames,
            "length": int(frames.shape[0]),
            **self.annotations(index, clip.indices, clip.total_frames),
        }

    def annotations(self, index: int, indices: Sequence[int], total_frames: int) -> dict[str, Any]:
        """Everything of item ``index`` but its frames, for the sampled source frames ``indices``
        of a clip of ``total_frames`` frames (shared with the cached features' dataset)."""
        record = self.records[index]
        item: dict[str, Any] = {
            "index": index,
            "video_id": record.video_id,
            "indices": torch.tensor(list(indices), dtype=torch.long),
            "total_frames": total_frames,
            "captions": record.captions,
            "label_name": record.label,
            "frame_label_names": None,
        }
        if self.class_index is not None:
            if record.label not in self.class_index:
                raise DataFormatError(f"{record.video_id}: label {record.label!r} is not one of the classes")
            item["label"] = self.class_index[record.label]
        if record.frame_labels is not None:
            if len(record.frame_labels) < total_frames:
                raise DataFormatError(
                    f"{record.video_id}: {len(record.frame_labels)} frame labels for a video of {total_frames} frames"
                )
            names = tuple(record.frame_labels[i] for i in indices)
            item["frame_label_names"] = names
            if self.frame_class_index is not None:
                unknown = [name for name in names if name not in self.frame_class_index]
                if unknown:
                    raise DataFormatError(
                        f"{record.video_id}: frame label {unknown[0]!r} is not one of the frame classes"
                    )
                item["frame_labels"] = torch.tensor([self.frame_class_index[n] for n in names], dtype=torch.long)
        return item


def collate_clips(items: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
    """Batch clip items (None items, unreadable clips, are dropped and counted in ``num_skipped``).

    ``frames`` (B, T, 3, H, W) or cached ``features`` (B, T, D), zero-padded to the longest T;
    ``mask`` (B, T) bool, True at real frames; ``length`` long (B,); ``indices`` long (B, T)
    (padding -1); ``label`` long (B,) and ``frame_labels`` long (B, T) (padding
    :data:`IGNORE_INDEX`) when the items have them; ``index``, ``video_id``, ``captions``,
    ``label_name``, ``frame_label_names`` lists. A batch of only unreadable clips holds just
    ``num_skipped``.
    """
    kept = [item for item in items if item is not None]
    batch: dict[str, Any] = {"num_skipped": len(items) - len(kept)}
    if not kept:
        return batch
    lengths = torch.tensor([item["length"] for item in kept], dtype=torch.long)
    longest = int(lengths.max())
    batch["length"] = lengths
    batch["mask"] = torch.arange(longest)[None, :] < lengths[:, None]  # (B, T)
    for key in ("frames", "features"):
        if key in kept[0]:
            batch[key] = _pad([item[key] for item in kept], longest, 0.0)
    batch["indices"] = _pad([item["indices"] for item in kept], longest, -1)
    if "label" in kept[0]:
        batch["label"] = torch.tensor([item["label"] for item in kept], dtype=torch.long)
    if "frame_labels" in kept[0]:
        batch["frame_labels"] = _pad([item["frame_labels"] for item in kept], longest, IGNORE_INDEX)
    for key in ("index", "video_id", "captions", "label_name", "frame_label_names"):
        batch[key] = [item[key] for item in kept]
    return batch


def _pad(tensors: list[torch.Tensor], length: int, value: float) -> torch.Tensor:
    """Stack tensors (T_i, ...) into (B, length, ...), filling with ``value``."""
    out = tensors[0].new_full((len(tensors), length, *tensors[0].shape[1:]), value)
    for row, tensor in enumerate(tensors):
        out[row, : tensor.shape[0]] = tensor
    return out
