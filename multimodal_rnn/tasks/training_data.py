"""Checks and choices every ``mmrnn train TASK`` on a user's own data makes before any work: option
requirements (all reported at once), the validation split or a seeded hold-out of the training
data, and an up-front lookup of the image files.

* :func:`check_options` raises one :class:`~multimodal_rnn.errors.InputError` listing every
  problem found (``--questions needs --annotations; --val-images needs --val-questions``), so
  that a user fixes them in one go.
* :func:`choose_validation` keeps a given validation split, or holds out ``--val-fraction``
  (default :data:`DEFAULT_VAL_FRACTION`) of the training *images* (every item of one image goes
  to the same side), seeded by ``--seed``; :class:`ValidationChoice` says which, with counts,
  for a log line and for the checkpoint header (``extra["validation"]``).
* :func:`check_image_files` looks every image path up in its folder's listing (no file is opened
  or decoded: one directory listing per folder, so 100,000 images take well under a second) and
  refuses a split whose images are all missing, or more than :data:`MAX_MISSING_IMAGES` of them,
  naming the lookup used and an example path.
"""

from __future__ import annotations

import argparse
import os
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from multimodal_rnn.errors import InputError
from multimodal_rnn.options import proper_fraction

T = TypeVar("T")

DEFAULT_VAL_FRACTION = 0.1
"""Fraction of the training images held out for validation when no validation split is given."""

MAX_MISSING_IMAGES = 100
"""Missing images a training split may have: the training and validation readers give up after
100 unreadable images (the ``max_bad_images`` default of
:class:`~multimodal_rnn.datasets.image_reader.ImageReader`), so more is refused before any work."""

__all__ = [
    "DEFAULT_VAL_FRACTION",
    "MAX_MISSING_IMAGES",
    "ImageLookup",
    "ValidationChoice",
    "add_validation_arguments",
    "check_image_files",
    "check_options",
    "choose_validation",
    "needs",
    "training_splits",
]


def add_validation_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *, unit: str) -> None:
    """``--val-fraction``: what is held out when no validation split is given (``unit``: images, ...)."""
    parser.add_argument(
        "--val-fraction",
        type=proper_fraction,
        default=DEFAULT_VAL_FRACTION,
        metavar="F",
        help=f"without a validation split, hold out this fraction of the training {unit} for validation, chosen "
        "by --seed (all items of one image on the same side; reported, and recorded in the checkpoints' "
        "header) (default: %(default)s)",
    )


def needs(args: argparse.Namespace, requirements: Mapping[str, Sequence[str]]) -> list[str]:
    """For every option given in ``args`` (key of ``requirements``, e.g. ``"--val-questions"``), the
    options it needs that are missing: ``["--val-questions needs --val-annotations and --val-images"]``.

    An option counts as given when its value is not None, False or empty.
    """

    def given(option: str) -> bool:
        return getattr(args, option.lstrip("-").replace("-", "_"), None) not in (None, False, [], ())

    problems = []
    for option, required in requirements.items():
        missing = [other for other in required if not given(other)]
        if given(option) and missing:
            problems.append(f"{option} needs {' and '.join(missing)}")
    return problems


def check_options(problems: Iterable[str]) -> None:
    """Raise one :class:`InputError` listing every problem (none: return).

    The message is one line: ``options: --questions needs --annotations; --val-images needs --val-questions``.
    """
    found = [problem for problem in problems if problem]
    if found:
        raise InputError("options: " + "; ".join(found))


@dataclass(frozen=True)
class ValidationChoice:
    """Where a run's validation data came from.

    Attributes:
        source: ``split`` (given by the user or the shapes world) or ``holdout``.
        fraction, seed: of the hold-out (None for a split).
        train_images, val_images, train_items, val_items: sizes of both sides (items: questions,
            dialogs, images with their captions).
    """

    source: str
    train_images: int
    val_images: int
    train_items: int
    val_items: int
    fraction: float | None = None
    seed: int | None = None

    def header(self) -> dict[str, Any]:
        """The checkpoint header's ``extra["validation"]``."""
        return {key: value for key, value in vars(self).items() if value is not None}

    def line(self, unit: str) -> str:
        """A log line: ``validation: held out 10% of the training images (seed 0): 90 images / 450 questions
        for training, 10 images / 50 questions for validation``."""
        sides = (
            f"{self.train_images} images / {self.train_items} {unit} for training, "
            f"{self.val_images} images / {self.val_items} {unit} for validation"
        )
        if self.source == "holdout":
            return f"validation: held out {self.fraction:.0%} of the training images (seed {self.seed}): {sides}"
        return f"validation: the validation split: {sides}"


def choose_validation(
    train: Sequence[T],
    val: Sequence[T] | None,
    image_of: Callable[[T], str],
    *,
    fraction: float,
    seed: int,
) -> tuple[list[T], list[T], ValidationChoice]:
    """``(train, val, choice)``: ``val`` as given, or (``val`` None) ``fraction`` of the distinct
    images of ``train`` (at least one, and at least one left for training) with all their items,
    drawn with ``random.Random(seed)`` from the sorted image paths; items keep their order.

    Raises:
        InputError: ``fraction`` outside (0, 1), or fewer than 2 training images to split.
    """
    if val is not None:
        return (
            list(train),
            list(val),
            ValidationChoice(
                "split", len({image_of(i) for i in train}), len({image_of(i) for i in val}), len(train), len(val)
            ),
        )
    if not 0 < fraction < 1:
        raise InputError(f"--val-fraction: must be between 0 and 1 (exclusive), got {fraction}")
    images = sorted({image_of(item) for item in train})
    if len(images) < 2:
        raise InputError(f"--val-fraction: {len(images)} training image(s) cannot be split; give a validation split")
    random.Random(seed).shuffle(images)
    count = min(len(images) - 1, max(1, round(fraction * len(images))))
    held = set(images[:count])
    kept = [item for item in train if image_of(item) not in held]
    taken = [item for item in train if image_of(item) in held]
    return kept, taken, ValidationChoice("holdout", len(images) - count, count, len(kept), len(taken), fraction, seed)


@dataclass(frozen=True)
class ImageLookup:
    """What :func:`check_image_files` found: ``found`` and ``missing`` distinct paths, an ``example``
    missing one (or None), and ``where`` (how the paths were made, e.g. the folder and pattern)."""

    split: str
    found: int
    missing: int
    example: str | None
    where: str

    def line(self) -> str | None:
        """A log line when some images are missing (they will be skipped), else None."""
        if not self.missing:
            return None
        return (
            f"{self.split}: {self.missing} of {self.found + self.missing} images missing, e.g. {self.example} "
            f"({self.where}); their items are skipped"
        )


def check_image_files(
    paths: Iterable[str], *, split: str, where: str, max_missing: int = MAX_MISSING_IMAGES
) -> ImageLookup:
    """Look up every distinct path in a listing of its folder (no stat per file, nothing opened).

    Args:
        split: names the split in messages (``--val-questions``, ``training split``, ...).
        where: how the paths were made, for the messages (``--val-images val2014 with
            --val-image-pattern 'COCO_val2014_{image_id:012d}.jpg'``).
        max_missing: more missing images than this is an error.

    Raises:
        InputError: every image is missing, or more than ``max_missing``; the message names the
            split, ``where`` and an example path.
    """
    by_folder: dict[str, list[str]] = {}
    for path in dict.fromkeys(paths):
        by_folder.setdefault(os.path.dirname(path) or ".", []).append(path)
    found, missing = 0, []
    for folder, members in by_folder.items():
        try:
            names = set(os.listdir(folder))
        except OSError:
            names = set()
        for path in members:
            if os.path.basename(path) in names:
                found += 1
            else:
                missing.append(path)
    lookup = ImageLookup(split, found, len(missing), missing[0] if missing else None, where)
    if missing and (not found or len(missing) > max_missing):
        problem = (
            f"none of its {len(missing)} images found"
            if not found
            else f"{len(missing)} of {found + len(missing)} images missing (at most {max_missing} are tolerated)"
        )
        raise InputError(f"{split}: {problem}, e.g. {lookup.example}; images looked up as {where}")
    return lookup


def training_splits(
    train: Sequence[T],
    val: Sequence[T] | None,
    image_of: Callable[[T], str],
    *,
    names: tuple[str, str],
    where: tuple[str, str],
    unit: str,
    fraction: float,
    seed: int,
    log: Callable[[str], None],
) -> tuple[list[T], list[T], ValidationChoice]:
    """Look up the images of both splits (:func:`check_image_files`), then :func:`choose_validation`.

    ``names`` and ``where`` name each split and how its image paths were made, for the messages;
    ``log`` gets one line per split with missing images and, for a hold-out, one with its counts
    (``unit`` names the items, e.g. ``questions``).
    """
    for items, name, made in ((train, names[0], where[0]), (val, names[1], where[1])):
        if items is not None:
            line = check_image_files((image_of(item) for item in items), split=name, where=made).line()
            if line is not None:
                log(line)
    kept, taken, choice = choose_validation(train, val, image_of, fraction=fraction, seed=seed)
    if choice.source == "holdout":
        log(choice.line(unit))
    return kept, taken, choice
