"""``mmrnn predict <task>``: write results files in the official formats."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from apps.weights import resolve_weights
from multimodal_rnn.captioning import Captioner
from multimodal_rnn.datasets.captions import CaptionDataset, collate_captions, read_coco_captions, read_image_folder
from multimodal_rnn.errors import InputError
from multimodal_rnn.files import write_json
from multimodal_rnn.images import load_image

NAME = "predict"
HELP = "write results files: caption -> [{image_id, caption}] for the COCO evaluation"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    tasks = parser.add_subparsers(dest="task", metavar="TASK", required=True)
    caption = tasks.add_parser("caption", help="caption a folder or the images of a COCO captions file",
                               description="Caption every image and write COCO results [{image_id, caption}].")
    source = caption.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", type=Path, metavar="DIR", help="a folder of images (ids from trailing digits of file names)")
    source.add_argument("--annotations", type=Path, metavar="FILE", help="a COCO captions file; its images are read from --image-dir")
    caption.add_argument("--image-dir", type=Path, metavar="DIR", help="image folder of --annotations (default: next to it)")
    caption.add_argument("--out", type=Path, required=True, metavar="results.json")
    caption.add_argument("--weights", metavar="FILE", help="caption checkpoint (default: the shipped shapes weights)")
    caption.add_argument("--beam", type=int, default=3, metavar="N")
    caption.add_argument("--batch-size", type=int, default=64)
    caption.add_argument("--max-bad-images", type=int, default=100, help="give up after this many unreadable images")


def run(args: argparse.Namespace) -> int:
    captioner = Captioner.from_checkpoint(resolve_weights(args.weights, "caption"))
    if args.images is not None:
        records = read_image_folder(args.images)
    else:
        records = read_coco_captions(args.annotations, args.image_dir or args.annotations.parent)
    dataset = CaptionDataset(records, captioner.transform, load_image, per_image=True, max_bad_images=args.max_bad_images)
    results = []
    for start in tqdm(range(0, len(dataset), args.batch_size), desc="captioning", unit="batch", disable=None):
        batch = collate_captions([dataset[i] for i in range(start, min(start + args.batch_size, len(dataset)))])
        if "image" not in batch:
            continue
        for image_id, result in zip(batch["image_id"], captioner.caption_tensors(batch["image"], beam_size=args.beam)):
            results.append({"image_id": image_id, "caption": result.caption})
    if not results:
        raise InputError("no image could be read; nothing to write")
    write_json(args.out, results)
    for path, reason in dataset.bad_images.items():
        print(f"skipped: {reason}", file=sys.stderr)
    print(f"wrote {len(results)} captions to {args.out} ({len(dataset.bad_images)} unreadable images skipped)")
    return 0
