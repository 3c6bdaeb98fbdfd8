"""Where ``mmrnn train caption`` reads its captions: the shapes world, COCO files or a Karpathy split."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from multimodal_rnn.errors import InputError

if TYPE_CHECKING:  # the options are declared without importing torch
    from multimodal_rnn.datasets.captions import CaptionRecord


def add_caption_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The data options of ``mmrnn train caption`` (default: the shapes world in ``--shapes-dir``)."""
    group = parser.add_argument_group("data (default: the shapes world in --shapes-dir)")
    group.add_argument("--shapes-dir", type=Path, default=Path("data/shapes"), metavar="DIR",
                       help="a shapes world made by `mmrnn data shapes` (generated there if missing; default: %(default)s)")
    group.add_argument("--coco-train", nargs=2, metavar=("CAPTIONS_JSON", "IMAGE_DIR"), help="COCO captions file and its image folder")
    group.add_argument("--coco-val", nargs=2, metavar=("CAPTIONS_JSON", "IMAGE_DIR"), help="COCO captions file and its image folder")
    group.add_argument("--karpathy", nargs=2, metavar=("SPLIT_JSON", "IMAGE_ROOT"),
                       help="Karpathy split file (dataset_coco.json, flickr8k/30k) and the image root")


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
