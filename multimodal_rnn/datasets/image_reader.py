"""The one policy for unreadable images in datasets: count, skip, give up past a limit; and batches
read in worker processes under that policy.

Every dataset that reads image files (captions, VQA, VisDial, ...) reads them through an
:class:`ImageReader`: an image that cannot be read is recorded in :attr:`ImageReader.bad_images`
with its one-line reason and the item is skipped (the dataset yields ``None``, which the collate
functions drop); more than ``max_bad_images`` of them raise an :class:`InputError` naming the
last one. :func:`read_batches` reads batches in DataLoader worker processes while keeping that
count global: a worker only reports its batch's failures, the main process records them in batch
order, so the batches, the count and the error are those of reading in the main process.
(A training DataLoader's workers still count on their own.)
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, Iterator, Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from multimodal_rnn.errors import ConfigError, InputError


class ImageReader:
    """``read(path) -> (3, H, W) tensor or None``: load, transform, and apply the skip policy.

    The policy serves other files too: ``what`` names them in the message past the limit (the
    clips of :class:`~multimodal_rnn.datasets.video_clips.ClipDataset` are ``"clips"``)."""

    def __init__(
        self,
        load_image: Callable[[str], Any],
        transform: Callable[[Any], torch.Tensor],
        *,
        max_bad_images: int = 100,
        what: str = "images",
    ) -> None:
        if max_bad_images < 0:
            raise ConfigError(f"max_bad_images must be >= 0, got {max_bad_images}")
        self.load_image = load_image
        self.transform = transform
        self.max_bad_images = max_bad_images
        self.what = what  # in the message past the limit: "unreadable images", "unreadable clips"
        self.bad_images: dict[str, str] = {}

    def read(self, path: str) -> torch.Tensor | None:
        """The transformed image at ``path``, or ``None`` if it cannot be read (recorded).

        Raises:
            InputError: this was unreadable image number ``max_bad_images + 1``.
        """
        try:
            return self.transform(self.load_image(path))
        except InputError as exc:
            self.record(path, str(exc))
            return None

    def record(self, path: str, reason: str) -> None:
        """Count ``path`` as unreadable for ``reason``.

        Raises:
            InputError: it was unreadable image number ``max_bad_images + 1``.
        """
        self.bad_images[path] = reason
        if len(self.bad_images) > self.max_bad_images:
            raise InputError(f"more than {self.max_bad_images} unreadable {self.what}; last: {reason}")


def default_workers() -> int:
    """Image-reading worker processes for prediction: 2 on a machine with more than 2 cores, else 0.

    On 2 cores the workers compete with the model for the cores: on 2,000 shapes images at 1 torch
    thread they gave predict caption 1.00x, predict vqa 1.06x and predict dialog 0.78x
    (benchmarks/predict_speed.py, benchmarks/README.md).
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 2 if cores > 2 else 0


class _WorkerBatches(Dataset):
    """Item ``k``: ``(collate([dataset[i] for i in batches[k]]), {path: reason})`` of its failures.

    Only used inside worker processes, where ``reader`` is the process's own copy: its limit is
    lifted and its record cleared for every batch, the main process applying the policy.
    """

    def __init__(
        self,
        dataset: Dataset,
        reader: ImageReader,
        batches: Sequence[Sequence[int]],
        collate: Callable[[list[Any]], dict[str, Any]],
    ) -> None:
        self.dataset, self.reader, self.batches, self.collate = dataset, reader, batches, collate

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, k: int) -> tuple[dict[str, Any], dict[str, str]]:
        self.reader.max_bad_images = sys.maxsize
        self.reader.bad_images = {}
        batch = self.collate([self.dataset[i] for i in self.batches[k]])
        return batch, self.reader.bad_images


def read_batches(
    dataset: Dataset,
    reader: ImageReader,
    batches: Sequence[Sequence[int]],
    collate: Callable[[list[Any]], dict[str, Any]],
    *,
    workers: int | None = 0,
    pin_memory: bool = False,
) -> Iterator[dict[str, Any]]:
    """``collate([dataset[i] for i in batch])`` for every batch of indices, in order.

    ``reader`` is the :class:`ImageReader` that ``dataset`` reads its images with. With
    ``workers`` > 0 (None: :func:`default_workers`) the batches are read (and collated) in that
    many DataLoader worker processes, ahead of use; their unreadable images are recorded in
    ``reader`` in batch order,
    so ``reader.bad_images`` and the error past its limit are the same as with ``workers=0``
    (raised when the batch holding the image past the limit is reached). ``pin_memory`` puts
    the batches' tensors in page-locked memory (for a model on CUDA).

    Raises:
        InputError: more than ``reader.max_bad_images`` images could not be read.
    """
    if workers is None:
        workers = default_workers()
    if workers < 0:
        raise ConfigError(f"workers must be >= 0, got {workers}")
    if workers == 0 or not batches:
        for indices in batches:
            yield collate([dataset[i] for i in indices])
        return
    loader = DataLoader(
        _WorkerBatches(dataset, reader, batches, collate),
        batch_size=None,
        shuffle=False,
        num_workers=min(workers, len(batches)),
        pin_memory=pin_memory,
    )
    for batch, failures in loader:
        for path, reason in failures.items():
            reader.record(path, reason)
        yield batch
