"""``mmrnn predict <task>``: write results files in the official formats."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from apps.commands.train import add_vqa_source_arguments, vqa_source_from_args
from apps.dialog_commands import add_predict_dialog
from apps.weights import resolve_weights
from multimodal_rnn.answering import Answerer
from multimodal_rnn.captioning import Captioner
from multimodal_rnn.datasets.captions import CaptionDataset, collate_captions, read_coco_captions, read_image_folder
from multimodal_rnn.datasets.vqa import shapes_source
from multimodal_rnn.errors import InputError
from multimodal_rnn.files import write_json
from multimodal_rnn.images import load_image

NAME = "predict"
HELP = ("write results files: caption -> [{image_id, caption}] for the COCO evaluation, "
        "vqa -> [{question_id, answer}] for the VQA evaluation")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    tasks = parser.add_subparsers(dest="task", metavar="TASK", required=True)
    add_predict_dialog(tasks)
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
    caption.set_defaults(_run_task=_run_caption)

    vqa = tasks.add_parser("vqa", help="answer the questions of a VQA questions file",
                           description="Answer every question and write VQA results [{question_id, answer}]. "
                           "Default data: the test split of the shapes world in --shapes-dir.")
    vqa.add_argument("--out", type=Path, required=True, metavar="results.json")
    vqa.add_argument("--weights", metavar="FILE", help="VQA checkpoint (default: the shipped shapes weights)")
    vqa.add_argument("--batch-size", type=int, default=256, help="questions per batch (default: %(default)s)")
    vqa.add_argument("--max-bad-images", type=int, default=100, help="give up after this many unreadable images")
    group = vqa.add_argument_group("data")
    group.add_argument("--shapes-dir", type=Path, default=Path("data/shapes"), metavar="DIR",
                       help="shapes world used when --questions is not given (default: %(default)s)")
    group.add_argument("--split", choices=["train", "val", "test"], default="test", help="shapes world split (default: %(default)s)")
    add_vqa_source_arguments(group, "", "questions to answer")
    vqa.set_defaults(_run_task=_run_vqa)


def run(args: argparse.Namespace) -> int:
    return int(args._run_task(args))


def _run_caption(args: argparse.Namespace) -> int:
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


def _run_vqa(args: argparse.Namespace) -> int:
    answerer = Answerer.from_checkpoint(resolve_weights(args.weights, "vqa"))
    source = vqa_source_from_args(args, "", need_annotations=False) or shapes_source(args.shapes_dir, args.split)
    records = source.read()
    if not records:
        raise InputError(f"{source.questions}: no questions")
    predicted = answerer.answer_records(
        records, load_image, batch_size=args.batch_size, max_bad_images=args.max_bad_images,
        progress=lambda it, total, desc: tqdm(it, total=total, desc=desc, unit="batch", disable=None))
    results = [{"question_id": r.question_id, "answer": a} for r, a in zip(records, predicted.answers) if a is not None]
    if not results:
        raise InputError("no image could be read; nothing to write")
    write_json(args.out, sorted(results, key=lambda r: r["question_id"]))
    for reason in predicted.bad_images.values():
        print(f"skipped: {reason}", file=sys.stderr)
    skipped = len(records) - len(results)
    print(f"wrote {len(results)} answers to {args.out} ({skipped} questions on {len(predicted.bad_images)} unreadable "
          f"images skipped)")
    return 0
