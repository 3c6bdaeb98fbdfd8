"""``mmrnn data``: generate built-in datasets (for now the synthetic shapes world)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from multimodal_rnn.datasets.moving_shapes import (
    ACTION_CLASSES,
    MAX_FPS,
    MAX_FRAME_SIZE,
    MAX_FRAMES,
    MIN_FRAME_SIZE,
    MIN_FRAMES,
    MovingShapesConfig,
    generate_moving_shapes,
)
from multimodal_rnn.datasets.shapes import (
    MAX_IMAGE_SIZE,
    MAX_OBJECTS,
    MIN_IMAGE_SIZE,
    ShapesConfig,
    generate_shapes_world,
)
from multimodal_rnn.errors import ConfigError, InputError
from multimodal_rnn.options import add_output_argument, check_outputs, int_range, non_negative_int

from ..task_commands import add_command_parser, run_command, tasks

NAME = "data"
HELP = (
    "generate built-in datasets (the synthetic shapes world, its moving-shapes videos; "
    "BabyAI bot demonstrations for navigation)"
)

_SHAPES_DESCRIPTION = """\
Generate the shapes world: scenes of 1-4 colored shapes rendered to PNG, with, for every split,
COCO captions (5 per image), VQA v2 questions and annotations (5 per image), VisDial v1.0 dialogs
(caption + 10 rounds, 100 answer options; val gets dense annotations, test dialogs stop at a
random round) and scene graphs. The same seed gives byte-identical files."""

_SHAPES_EPILOG = """\
examples:
  mmrnn data shapes --out data/shapes
  mmrnn data shapes --out /tmp/tiny --train 200 --val 20 --test 20 --seed 1
  mmrnn data shapes --out data/shapes --image-size 128 --force

files written in OUT: captions_{split}.json, vqa_questions_{split}.json,
vqa_annotations_{split}.json, visdial_{split}.json, scenes_{split}.json,
visdial_val_dense_annotations.json, manifest.json and images/{split}/*.png"""

_VIDEO_DESCRIPTION = f"""\
Generate the moving-shapes world: short clips of a colored shape that moves, bounces, grows,
shrinks, changes color, appears or disappears, often beside a second shape that stays still.
{len(ACTION_CLASSES)} action classes, a label per frame (what the shape does at that frame) and
up to 5 true captions per clip, written in the UCF-101 layout (for action recognition and frame
labeling) and the MSR-VTT layout (for captioning), with the ground truth the caption checker
uses. docs/moving_shapes.md describes the classes, labels, captions and files. The same seed
gives the same clips and byte-identical JSON files."""

_VIDEO_EPILOG = """\
examples:
  mmrnn data shapes-video --out data/moving_shapes
  mmrnn data shapes-video --out /tmp/tiny --train 120 --val 24 --test 24 --seed 1
  mmrnn data shapes-video --out data/moving_shapes --frames 32 --size 96 --force

files written in OUT: ucf/ (classInd.txt, trainlist01.txt, vallist01.txt, testlist01.txt,
frame_labels.json, <Class>/v_<Class>_gXX_cYY.avi), msrvtt/ (videodatainfo.json,
videos/video<N>.mp4), truth.json, manifest.json"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``mmrnn data shapes``, ``mmrnn data shapes-video`` and their options."""
    datasets = parser.add_subparsers(dest="dataset", metavar="DATASET", required=True)
    defaults = ShapesConfig()
    shapes = datasets.add_parser(
        "shapes",
        help="synthetic shapes world (captions, VQA, VisDial, scene graphs)",
        description=_SHAPES_DESCRIPTION,
        epilog=_SHAPES_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_world_arguments(shapes, defaults, "images")
    shapes.add_argument(
        "--image-size", type=int_range(MIN_IMAGE_SIZE, MAX_IMAGE_SIZE), default=defaults.image_size, metavar="PIXELS",
        help=f"side of the square images in pixels, {MIN_IMAGE_SIZE}-{MAX_IMAGE_SIZE} (default: %(default)s)",
    )
    objects = int_range(1, MAX_OBJECTS)
    shapes.add_argument("--min-objects", type=objects, default=defaults.min_objects, metavar="N",
                        help=f"fewest objects per scene, 1-{MAX_OBJECTS} (default: %(default)s)")
    shapes.add_argument("--max-objects", type=objects, default=defaults.max_objects, metavar="N",
                        help=f"most objects per scene, 1-{MAX_OBJECTS}, at least --min-objects (default: %(default)s)")
    shapes.add_argument("--force", action="store_true",
                        help="write into a non-empty OUT, replacing a previous shapes world there")
    _add_video_arguments(datasets)

    for key, (task, command) in _task_datasets():
        add_command_parser(datasets, key.split(" ", 1)[1], command)


def _add_world_arguments(parser: argparse.ArgumentParser, defaults: ShapesConfig | MovingShapesConfig,
                         unit: str) -> None:
    """``--out``, ``--seed`` and the split sizes ``--train``, ``--val``, ``--test`` (counted in
    ``unit``) of a synthetic world, with the defaults of its config."""
    add_output_argument(parser, "--out", folder=True, required=True, metavar="DIR",
                        help="output directory (created if missing)")
    parser.add_argument("--seed", type=non_negative_int, default=defaults.seed,
                        help="random seed, >= 0 (default: %(default)s)")
    for split in ("train", "val", "test"):
        parser.add_argument(f"--{split}", type=non_negative_int, default=getattr(defaults, f"{split}_size"),
                            metavar="N", help=f"{split} {unit} (default: %(default)s)")


def _add_video_arguments(datasets: argparse._SubParsersAction) -> None:
    defaults = MovingShapesConfig()
    video = datasets.add_parser(
        "shapes-video",
        help="synthetic moving-shapes clips (action classes, per-frame labels, captions)",
        description=_VIDEO_DESCRIPTION,
        epilog=_VIDEO_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_world_arguments(video, defaults, "clips")
    video.add_argument("--frames", type=int_range(MIN_FRAMES, MAX_FRAMES), default=defaults.num_frames, metavar="T",
                       help=f"frames per clip, {MIN_FRAMES}-{MAX_FRAMES} (default: %(default)s)")
    video.add_argument(
        "--size", type=int_range(MIN_FRAME_SIZE, MAX_FRAME_SIZE), default=defaults.frame_size, metavar="PIXELS",
        help=f"side of the square frames in pixels, even, {MIN_FRAME_SIZE}-{MAX_FRAME_SIZE} (default: %(default)s)",
    )
    video.add_argument("--fps", type=int_range(1, MAX_FPS), default=defaults.fps,
                       help=f"frame rate of the video files, 1-{MAX_FPS} frames per second (default: %(default)s)")
    video.add_argument("--force", action="store_true",
                       help="write into a non-empty OUT, replacing a previous moving-shapes world there")


def _task_datasets() -> list[tuple[str, tuple[object, object]]]:
    """The tasks' ``data NAME`` commands (e.g. BabyAI demonstrations from the navigation task)."""
    return [(key, (task, command)) for task in tasks() for key, command in task.commands.items()
            if key.startswith("data ")]


def run(args: argparse.Namespace) -> int:
    """Generate the requested dataset and print a summary; returns the exit status."""
    if getattr(args, "_command", None) is not None:  # a dataset of a task
        return run_command(args)
    if args.dataset == "shapes-video":
        return _run_video(args)
    if args.min_objects > args.max_objects:
        raise ConfigError(f"--min-objects {args.min_objects} is more than --max-objects {args.max_objects}")
    for note in check_outputs(args):
        print(note, file=sys.stderr)
    config = ShapesConfig(
        seed=args.seed,
        image_size=args.image_size,
        train_size=args.train,
        val_size=args.val,
        test_size=args.test,
        min_objects=args.min_objects,
        max_objects=args.max_objects,
    )
    total = config.train_size + config.val_size + config.test_size
    summary, seconds = _generate(args, generate_shapes_world, config, total, world="shapes world", unit="img")
    print(f"shapes world written to {summary['out_dir']} in {seconds:.1f} s ({total / seconds:.0f} images/s)")
    for split, info in summary["splits"].items():
        print(
            f"  {split:5s} {info['images']:6d} images  {info['captions']:6d} captions  "
            f"{info['questions']:6d} questions  {info['dialogs']:6d} dialogs  -> {info['image_dir']}"
        )
    print(f"  caption vocabulary: {summary['caption_vocabulary_size']} words; manifest: {summary['manifest']}")
    return 0


def _generate(args: argparse.Namespace, generate: Callable[..., dict[str, Any]], config: Any, total: int, *,
              world: str, unit: str, desc: str | None = None) -> tuple[dict[str, Any], float]:
    """``generate(args.out, config, progress, overwrite=args.force)`` under a progress bar of ``total``
    ``unit``s; returns its summary and the seconds it took. A non-empty ``--out`` needs ``--force``."""
    from tqdm import tqdm

    out: Path = args.out
    if out.is_dir() and any(out.iterdir()) and not args.force:
        raise InputError(f"{out}: directory is not empty; pass --force to replace the {world} there")
    start = time.perf_counter()
    with tqdm(total=total, unit=unit, desc=desc or world, disable=None) as bar:
        summary = generate(out, config, lambda done, _total: bar.update(done - bar.n), overwrite=args.force)
    return summary, time.perf_counter() - start


def _run_video(args: argparse.Namespace) -> int:
    if args.size % 2:
        raise ConfigError(f"--size {args.size}: must be even (H.264 video needs even frame sides)")
    for note in check_outputs(args):
        print(note, file=sys.stderr)
    config = MovingShapesConfig(
        seed=args.seed,
        train_size=args.train,
        val_size=args.val,
        test_size=args.test,
        num_frames=args.frames,
        frame_size=args.size,
        fps=args.fps,
    )
    total = config.train_size + config.val_size + config.test_size
    summary, seconds = _generate(args, generate_moving_shapes, config, total, world="moving-shapes world",
                                 unit="clip", desc="moving shapes")
    print(f"moving-shapes world written to {summary['out_dir']} in {seconds:.1f} s ({total / seconds:.0f} clips/s)")
    for split, info in summary["splits"].items():
        print(f"  {split:5s} {info['clips']:6d} clips  {info['captions']:6d} captions")
    print(f"  {len(ACTION_CLASSES)} classes, {config.num_frames} frames of {config.frame_size}x{config.frame_size} "
          f"at {config.fps} fps; caption vocabulary: {summary['caption_vocabulary_size']} words")
    print(f"  UCF-101 layout: {summary['ucf']}; MSR-VTT layout: {summary['msrvtt']}; truth: {summary['truth']}")
    return 0
