"""Where ``mmrnn train caption`` reads its captions: the shapes world, COCO files or a Karpathy split."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from multimodal_rnn.errors import InputError
from multimodal_rnn.tasks.training_data import (
    ValidationChoice,
    add_validation_arguments,
    check_options,
    needs,
    training_splits,
)

if TYPE_CHECKING:  # the options are declared without importing torch
    from multimodal_rnn.datasets.captions import CaptionRecord


def add_caption_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The data options of ``mmrnn train caption`` (default: the shapes world in ``--shapes-dir``)."""
    group = parser.add_argument_group("data (default: the shapes world in --shapes-dir)")
    group.add_argument("--shapes-dir", type=Path, default=Path("data/shapes"), metavar="DIR",
                       help="a shapes world made by `mmrnn data shapes` (generated there if missing; default: %(default)s)")
    group.add_argument("--coco-train", nargs=2, metavar=("CAPTIONS_JSON", "IMAGE_DIR"), help="COCO captions file and its image folder")
    group.add_argument("--coco-val", nargs=2, metavar=("CAPTIONS_JSON", "IMAGE_DIR"),
                       help="COCO captions file and its image folder of the validation split (optional: see --val-fraction)")
    group.add_argument("--karpathy", nargs=2, metavar=("SPLIT_JSON", "IMAGE_ROOT"),
                       help="Karpathy split file (dataset_coco.json, flickr8k/30k) and the image root")
    add_validation_arguments(group, unit="images")


def uses_shapes_world(args: argparse.Namespace) -> bool:
    """Whether the options leave the data to the shapes world (no COCO or Karpathy files given)."""
    return not (args.coco_train or args.coco_val or args.karpathy)


def caption_records(args: argparse.Namespace, split: str) -> list[CaptionRecord]:
    """Records of ``split`` (train, val or test) from whichever source the options name."""
    from multimodal_rnn.datasets.captions import read_coco_captions, read_karpathy_split

    if args.karpathy:
        return read_karpathy_split(args.karpathy[0], args.karpathy[1], split)
    if args.coco_train or args.coco_val:
        chosen = args.coco_train if split == "train" else args.coco_val
        if not chosen:
            raise InputError("COCO training needs both --coco-train and --coco-val")
        return read_coco_captions(chosen[0], chosen[1])
    shapes: Path = args.shapes_dir
    return read_coco_captions(shapes / f"captions_{split}.json", shapes / "images" / split)


def check_caption_options(args: argparse.Namespace) -> None:
    """Every problem of ``mmrnn train caption``'s options at once (one InputError)."""
    problems = needs(args, {"--coco-val": ("--coco-train",)})
    if args.karpathy and (args.coco_train or args.coco_val):
        problems.append("--karpathy and --coco-train/--coco-val exclude each other")
    check_options(problems)


def caption_splits(
    args: argparse.Namespace, log: Callable[[str], None]
) -> tuple[list[CaptionRecord], list[CaptionRecord], ValidationChoice]:
    """The training and validation records of the options, their images looked up first: the
    validation split named (Karpathy ``val``, ``--coco-val``, the shapes world's), or without
    ``--coco-val`` a hold-out of ``--val-fraction`` of the training images (seeded by ``--seed``)."""
    val: list[CaptionRecord] | None
    if args.karpathy:
        where = (f"{args.karpathy[1]}/<filepath/filename in {args.karpathy[0]}>",) * 2
        names = (f"--karpathy {args.karpathy[0]} train split", f"--karpathy {args.karpathy[0]} val split")
        train, val = caption_records(args, "train"), caption_records(args, "val")
    elif args.coco_train:
        where = (f"{args.coco_train[1]}/<file_name in {args.coco_train[0]}>",
                 f"{args.coco_val[1]}/<file_name in {args.coco_val[0]}>" if args.coco_val else "")
        names = (f"--coco-train {args.coco_train[0]}", f"--coco-val {args.coco_val[0]}" if args.coco_val else "")
        train, val = caption_records(args, "train"), (caption_records(args, "val") if args.coco_val else None)
    else:
        where = (f"{args.shapes_dir}/images/train/<file_name>", f"{args.shapes_dir}/images/val/<file_name>")
        names = ("shapes world training split", "shapes world validation split")
        train, val = caption_records(args, "train"), caption_records(args, "val")
    return training_splits(train, val, lambda record: record.path, names=names, where=where, unit="images",
                           fraction=args.val_fraction, seed=args.seed, log=log)
