"""Where the video classification commands read their clips: a UCF-101-style dataset (class folders,
``classInd.txt`` and the split lists), by default the moving-shapes world's, generated on first use.

The options (:func:`add_clip_source_arguments`) are the same for ``mmrnn train|predict|eval``
of the ``action`` and ``frames`` tasks; :func:`clip_records` reads one split, with the per-frame
labels when the task needs them; :func:`readable_batches` reads a split's clips in batches for
prediction and validation. Declaring the options imports no torch.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multimodal_rnn.errors import InputError
from multimodal_rnn.options import int_range, non_negative_int
from multimodal_rnn.tasks.protocol import Report, RunContext

if TYPE_CHECKING:
    from multimodal_rnn.datasets.video_clips import ClipDataset
    from multimodal_rnn.datasets.video_records import VideoRecord

DEFAULT_WORLD = Path("data/moving_shapes")
"""Where the moving-shapes world is generated when no ``--videos`` folder is given."""

SPLITS = ("train", "val", "test")


def add_clip_source_arguments(
    parser: argparse.ArgumentParser, *, split_default: str | None = None, frame_labels: bool = False
) -> None:
    """``--videos DIR``, ``--lists DIR``, ``--fold N``, ``--world DIR`` (and ``--split``, and
    ``--frame-labels FILE`` for per-frame labels) in one group."""
    group = parser.add_argument_group("clips (default: the moving-shapes world in --world)")
    group.add_argument(
        "--videos",
        type=Path,
        metavar="DIR",
        help="a UCF-101-style dataset: <Class>/<video> folders, classInd.txt and "
        "trainlistNN.txt / vallistNN.txt / testlistNN.txt (in DIR, DIR/ucfTrainTestlist or --lists)",
    )
    group.add_argument("--lists", type=Path, metavar="DIR", help="folder of classInd.txt and the split lists")
    group.add_argument(
        "--fold",
        type=int_range(1, 99),
        default=1,
        metavar="N",
        help="which split lists: trainlist0N.txt, ... (default: %(default)s)",
    )
    group.add_argument(
        "--world",
        type=Path,
        default=DEFAULT_WORLD,
        metavar="DIR",
        help="the moving-shapes world made by `mmrnn data shapes-video` (generated there if missing; "
        "default: %(default)s)",
    )
    if frame_labels:
        group.add_argument(
            "--frame-labels",
            type=Path,
            metavar="FILE",
            help="per-frame labels, JSON or CSV (docs/formats.md, Video) (default: "
            "frame_labels.json of the world, or of --videos)",
        )
    if split_default is not None:
        group.add_argument(
            "--split",
            choices=SPLITS,
            default=split_default,
            help="which list: train, val or test (default: %(default)s)",
        )


def add_max_bad_clips_argument(parser: argparse.ArgumentParser) -> None:
    """``--max-bad-clips N`` (default 100): unreadable clips skipped and counted before a command stops."""
    parser.add_argument(
        "--max-bad-clips",
        type=non_negative_int,
        default=100,
        metavar="N",
        help="give up after this many unreadable clips (default: %(default)s)",
    )


def add_clip_reading_arguments(parser: argparse.ArgumentParser) -> None:
    """``--max-bad-clips`` and ``--workers``: how a predict command reads its clips."""
    add_max_bad_clips_argument(parser)
    parser.add_argument(
        "--workers",
        type=non_negative_int,
        default=None,
        metavar="N",
        help="processes reading clips while the model runs; 0: none (default: 2 with more than 2 cores, else 0)",
    )


def videos_dir(args: argparse.Namespace, context: RunContext) -> Path:
    """``--videos``, or the world's ``ucf`` folder (the world generated first when missing)."""
    if args.videos is not None:
        return Path(args.videos)
    ensure_moving_shapes(Path(args.world), context)
    return Path(args.world) / "ucf"


def clip_records(
    args: argparse.Namespace, split: str, context: RunContext, *, with_frame_labels: bool = False
) -> list[VideoRecord]:
    """The clips of ``split`` of the options' dataset (labelled; with per-frame labels if asked)."""
    from multimodal_rnn.datasets.video_ucf import read_ucf101

    folder = videos_dir(args, context)
    labels = frame_labels_file(args, context) if with_frame_labels else None
    return read_ucf101(folder, split=split, fold=args.fold, lists_dir=args.lists, frame_labels=labels)


def frame_labels_file(args: argparse.Namespace, context: RunContext) -> Path:
    """``--frame-labels``, or ``frame_labels.json`` in the dataset's folder."""
    labels = Path(getattr(args, "frame_labels", None) or videos_dir(args, context) / "frame_labels.json")
    if not labels.exists():
        raise InputError(f"{labels}: no per-frame labels file (give --frame-labels)")
    return labels


def frame_classes(args: argparse.Namespace, context: RunContext) -> list[str]:
    """The frame classes of the per-frame labels file: its ``classes``, else every label it uses, sorted."""
    from multimodal_rnn.datasets.video_frame_labels import read_frame_labels

    return list(read_frame_labels(frame_labels_file(args, context), videos_dir=videos_dir(args, context)).classes)


def clip_classes(args: argparse.Namespace, context: RunContext) -> list[str]:
    """The class names of the options' dataset, in ``classInd.txt`` order."""
    from multimodal_rnn.datasets.video_ucf import read_ucf_classes, ucf_lists_dir

    return read_ucf_classes(ucf_lists_dir(videos_dir(args, context), args.lists))


def has_split(args: argparse.Namespace, split: str, context: RunContext) -> bool:
    """Whether the dataset has a list file for ``split`` (a UCF-101 download has no ``vallist``)."""
    from multimodal_rnn.datasets.video_ucf import UCF_SPLITS, ucf_lists_dir

    lists = ucf_lists_dir(videos_dir(args, context), args.lists)
    return (lists / f"{UCF_SPLITS[split]}{args.fold:02d}.txt").is_file()


def ensure_moving_shapes(world: Path, context: RunContext) -> None:
    """Generate the default moving-shapes world in ``world`` unless its ``manifest.json`` is there
    (distributed: rank 0 generates it while the other processes wait)."""
    from multimodal_rnn.datasets.moving_shapes import MovingShapesConfig, generate_moving_shapes
    from multimodal_rnn.training import distributed

    with distributed.main_process_first():
        if not (world / "manifest.json").exists():
            context.log(f"generating the moving-shapes world in {world} ...")
            generate_moving_shapes(world, MovingShapesConfig())


def training_clips(
    args: argparse.Namespace, context: RunContext, log: Callable[[str], None], *, with_frame_labels: bool = False
) -> tuple[list[VideoRecord], list[VideoRecord], dict[str, Any] | None]:
    """The training and validation clips of ``mmrnn train action|frames``: the ``val`` list when the
    dataset has one, else ``--val-fraction`` of the training clips (seeded by ``--seed``, logged;
    returned as the checkpoint header's ``extra["validation"]``, else None)."""
    from multimodal_rnn.tasks.training_data import training_splits

    train = clip_records(args, "train", context, with_frame_labels=with_frame_labels)
    val = (
        clip_records(args, "val", context, with_frame_labels=with_frame_labels)
        if has_split(args, "val", context)
        else None
    )
    folder = videos_dir(args, context)
    kept, taken, choice = training_splits(
        train,
        val,
        lambda record: str(record.path),
        names=("training list", "validation list"),
        where=(f"{folder}/<train list paths>", f"{folder}/<val list paths>"),
        unit="clips",
        fraction=args.val_fraction,
        seed=args.seed,
        log=log,
    )
    return kept, taken, choice.header() if choice.source == "holdout" else None


def predictions_report(out: Path, results: list[dict[str, Any]], skipped: Mapping[str, str], line: str) -> Report:
    """Write a predict command's ``results`` (JSON) to ``out`` and report them: ``line``, a note per
    skipped clip (``skipped``: path -> reason) and the counts as data.

    Raises:
        InputError: no results (no clip could be read); nothing is written.
    """
    from multimodal_rnn.files import write_json

    if not results:
        raise InputError("no clip could be read; nothing to write")
    write_json(out, results)
    return Report(
        lines=(line,),
        notes=tuple(f"skipped: {reason}" for reason in skipped.values()),
        data={"clips": len(results), "skipped": len(skipped)},
    )


def save_gif(path: Path, data: bytes) -> None:
    """Write a ``--gif`` file's bytes atomically (missing folders made, no partial file)."""
    from multimodal_rnn.files import atomic_write

    def write(tmp: str) -> None:
        Path(tmp).write_bytes(data)

    atomic_write(path, write)


def readable_batches(
    dataset: ClipDataset,
    *,
    batch_size: int,
    workers: int | None = 0,
    progress: Callable[..., Iterable[Any]] | None = None,
    desc: str = "",
) -> Iterator[dict[str, Any]]:
    """The collated batches of ``dataset``'s clips in order, ``batch_size`` clips each, read by
    ``workers`` processes (None: the default; 0: this one), without the batches in which no clip
    could be read. ``progress(batches, total=, desc=)`` wraps the reading (one step per batch).

    Raises:
        InputError: more clips could not be read than the dataset's ``max_bad_clips``.
    """
    from multimodal_rnn.datasets.image_reader import read_batches
    from multimodal_rnn.datasets.video_clips import collate_clips

    count = len(dataset)
    batches = [range(start, min(start + batch_size, count)) for start in range(0, count, batch_size)]
    read: Iterable[dict[str, Any]] = read_batches(dataset, dataset.reader, batches, collate_clips, workers=workers)
    if progress is not None:
        read = progress(read, total=len(batches), desc=desc)
    for batch in read:
        if "frames" in batch:
            yield batch
