"""Where the video caption commands' clips and captions come from: the moving-shapes world (the
default), an MSR-VTT ``videodatainfo.json`` or an MSVD caption file, with their videos folder.

The options are declared without importing torch; the readers
(:mod:`multimodal_rnn.datasets.video_captions`) run inside the commands.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import TYPE_CHECKING

from multimodal_rnn.errors import InputError
from multimodal_rnn.options import proper_fraction

if TYPE_CHECKING:
    from multimodal_rnn.datasets.video_records import VideoRecord

DEFAULT_DATA_DIR = Path("data/moving_shapes")
"""Where the commands look for (and ``mmrnn train video_caption`` generates) the moving-shapes world."""

WORLD_INFO = Path("msrvtt/videodatainfo.json")
"""The world's MSR-VTT annotation file, relative to its folder."""

WORLD_TRUTH = Path("truth.json")
"""The world's clip truths (for faithfulness), relative to its folder."""


def add_data_arguments(parser: argparse.ArgumentParser, *, training: bool) -> None:
    """``--data-dir``, ``--msrvtt``, ``--msvd``, ``--videos`` and the split options."""
    group = parser.add_argument_group("data (default: the moving-shapes world in --data-dir)")
    group.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        metavar="DIR",
        help="the moving-shapes world (mmrnn data shapes-video --out DIR)"
        + ("; generated there when missing" if training else "")
        + " (default: %(default)s)",
    )
    source = group.add_mutually_exclusive_group()
    source.add_argument(
        "--msrvtt",
        type=Path,
        metavar="JSON",
        help="an MSR-VTT videodatainfo.json (videos with split train/validate/test, sentences)",
    )
    source.add_argument("--msvd", type=Path, metavar="TXT", help="an MSVD caption file of '<video_id> <caption>' lines")
    group.add_argument(
        "--videos",
        type=Path,
        metavar="DIR",
        help="the folder of the videos, <video_id>.<ext> (default: videos/ beside --msrvtt or --msvd)",
    )
    if training:
        group.add_argument(
            "--msvd-train-ids",
            type=Path,
            metavar="FILE",
            help="video ids of the MSVD training split, one a line (default: every video not held out)",
        )
        group.add_argument(
            "--msvd-val-ids",
            type=Path,
            metavar="FILE",
            help="video ids of the MSVD validation split (default: --val-fraction held out)",
        )
        group.add_argument(
            "--val-fraction",
            type=proper_fraction,
            default=0.1,
            metavar="F",
            help="MSVD without --msvd-val-ids: the share of videos held out for "
            "validation, chosen by --seed (default: %(default)s)",
        )
    else:
        group.add_argument(
            "--split",
            default="test",
            choices=["train", "validate", "val", "test"],
            help="the MSR-VTT (and moving-shapes) split (default: %(default)s)",
        )
        group.add_argument(
            "--msvd-ids",
            type=Path,
            metavar="FILE",
            help="video ids of the MSVD split to use, one a line (default: every video)",
        )


def uses_world(args: argparse.Namespace) -> bool:
    """Whether the data is the moving-shapes world (neither --msrvtt nor --msvd)."""
    return args.msrvtt is None and args.msvd is None


def _videos(args: argparse.Namespace, annotations: Path) -> Path:
    return args.videos if args.videos is not None else annotations.parent / "videos"


def _msrvtt_file(args: argparse.Namespace) -> Path:
    return args.data_dir / WORLD_INFO if uses_world(args) else args.msrvtt


def training_splits(args: argparse.Namespace) -> tuple[list[VideoRecord], list[VideoRecord]]:
    """The training and validation records of the command's data options."""
    from multimodal_rnn.datasets.video_captions import read_msrvtt, read_msvd

    if args.msvd is None:
        info = _msrvtt_file(args)
        videos = _videos(args, info)
        return read_msrvtt(info, videos, split="train"), read_msrvtt(info, videos, split="validate")
    videos = _videos(args, args.msvd)
    train = read_msvd(args.msvd, videos, video_ids=args.msvd_train_ids)
    if args.msvd_val_ids is not None:
        return train, read_msvd(args.msvd, videos, video_ids=args.msvd_val_ids)
    held = set(random.Random(args.seed).sample(range(len(train)), max(1, round(args.val_fraction * len(train)))))
    if len(held) == len(train):
        raise InputError(f"{args.msvd}: {len(train)} videos are too few to hold out a validation split")
    return ([r for i, r in enumerate(train) if i not in held], [r for i, r in enumerate(train) if i in held])


def evaluation_records(args: argparse.Namespace) -> list[VideoRecord]:
    """The records of the split the command's data options name (predict, eval)."""
    from multimodal_rnn.datasets.video_captions import read_msrvtt, read_msvd

    if args.msvd is not None:
        return read_msvd(args.msvd, _videos(args, args.msvd), video_ids=args.msvd_ids)
    info = _msrvtt_file(args)
    return read_msrvtt(info, _videos(args, info), split=args.split)


def world_truth(args: argparse.Namespace) -> Path | None:
    """The moving-shapes truth file when the data is the world and it has one, else None."""
    path = args.data_dir / WORLD_TRUTH
    return path if uses_world(args) and path.is_file() else None
