"""``mmrnn train dialog`` and ``mmrnn predict dialog``: parsers and bodies, wired into train.py / predict.py.

``apps/commands/train.py`` registers the training sub-command with
``add_train_dialog(tasks)`` and ``apps/commands/predict.py`` the prediction one with
``add_predict_dialog(tasks)``; each sets its own ``_run_task``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from apps.commands.train import (
    _model_overrides,
    add_trainer_arguments,
    ensure_shapes_world,
    progress_bar,
    trainer_config_from_args,
)
from apps.weights import resolve_weights
from multimodal_rnn.datasets.visdial import (
    DEFAULT_IMAGE_PATTERN,
    VisDialSource,
    check_dense_rounds,
    read_dense_annotations,
    shapes_source,
)
from multimodal_rnn.tasks.dialog.predictor import DialogAgent
from multimodal_rnn.errors import InputError
from multimodal_rnn.files import write_json
from multimodal_rnn.tasks.dialog.models import DIALOG_MODELS
from multimodal_rnn.images import load_image
from multimodal_rnn.metrics.dialog import check_submission
from multimodal_rnn.tasks.dialog.training import VALIDATION_METRIC, DialogTrainingConfig, train_dialog

_TRAIN_DESCRIPTION = """\
Train a visual dialog model on VisDial v1.0 files (default: the shapes world). A training item
is one dialog with its 10 rounds (--batch-size counts dialogs); the loss is cross-entropy over
the 100 answer options (discriminative models) or the answer's likelihood (generative models).
Validation ranks every validation round and reports MRR (picks best.safetensors), R@1/5/10,
mean rank and, with dense annotations, NDCG. Checkpoints and metrics.jsonl go to --out."""

_TRAIN_EPILOG = """\
examples:
  mmrnn train dialog --out runs/dialog_shapes
  mmrnn train dialog --model hre_disc --out runs/hre --set hidden_size=128
  mmrnn train dialog --out runs/visdial --dialogs visdial_1.0_train.json --images train \\
      --images-list coco_train_and_val_images.json --val-dialogs visdial_1.0_val.json \\
      --val-images VisualDialog_val2018 --val-dense visdial_1.0_val_dense_annotations.json \\
      --set 'encoder={"backbone": "resnet18", "weights": "IMAGENET1K_V1"}'"""


def add_source_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, prefix: str, split: str) -> None:
    """``--{prefix}dialogs/images/image-pattern/images-list`` naming one VisDial split."""
    parser.add_argument(f"--{prefix}dialogs", type=Path, metavar="JSON", help=f"VisDial v1.0 file of the {split}")
    parser.add_argument(f"--{prefix}images", type=Path, metavar="DIR", help=f"image folder of the {split}")
    parser.add_argument(f"--{prefix}image-pattern", default=DEFAULT_IMAGE_PATTERN, metavar="PATTERN",
                        help="image file name with {image_id} (default: %(default)s)")
    parser.add_argument(f"--{prefix}images-list", type=Path, metavar="JSON",
                        help="COCO-style file whose 'images' give each id's file_name (instead of --image-pattern)")


def source_from_args(args: argparse.Namespace, prefix: str) -> VisDialSource | None:
    """The split named by :func:`add_source_arguments`' options, or None without ``--{prefix}dialogs``."""
    attribute = prefix.replace("-", "_")
    dialogs = getattr(args, f"{attribute}dialogs")
    if dialogs is None:
        return None
    images = getattr(args, f"{attribute}images")
    if images is None:
        raise InputError(f"--{prefix}dialogs needs --{prefix}images (the image folder)")
    return VisDialSource(dialogs=dialogs, images_dir=images, image_pattern=getattr(args, f"{attribute}image_pattern"),
                         images_list=getattr(args, f"{attribute}images_list"))


def add_train_dialog(tasks: Any) -> None:
    """Register ``mmrnn train dialog`` on the ``train`` command's sub-parsers."""
    parser = tasks.add_parser("dialog", help="train a visual dialog model", description=_TRAIN_DESCRIPTION,
                              epilog=_TRAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="lf_disc", choices=sorted(DIALOG_MODELS),
                        help="late fusion or hierarchical encoder, discriminative or generative decoder "
                             "(default: %(default)s)")
    add_trainer_arguments(parser, metric=VALIDATION_METRIC, epochs=4, batch_size=16, lr=2e-3, warmup_steps=50)
    parser.add_argument("--min-count", type=int, default=1, help="rarer words become <unk> (default: %(default)s)")
    parser.add_argument("--eval-dialogs", type=int, default=0, metavar="N", help="validate on the first N dialogs (0 = all)")
    group = parser.add_argument_group("data (default: the shapes world in --shapes-dir)")
    group.add_argument("--shapes-dir", type=Path, default=Path("data/shapes"), metavar="DIR",
                       help="a shapes world made by `mmrnn data shapes` (generated there if missing; default: %(default)s)")
    add_source_arguments(group, "", "training split")
    add_source_arguments(group, "val-", "validation split")
    group.add_argument("--val-dense", type=Path, metavar="JSON", help="dense annotations of the validation split (NDCG)")
    parser.set_defaults(_run_task=run_train_dialog)


def run_train_dialog(args: argparse.Namespace) -> int:
    """Body of ``mmrnn train dialog``."""
    train_source, val_source = source_from_args(args, ""), source_from_args(args, "val-")
    if (train_source is None) != (val_source is None):
        raise InputError("dialog training on your own data needs both --dialogs (training) and --val-dialogs")
    dense_path = args.val_dense
    if train_source is None or val_source is None:
        ensure_shapes_world(args.shapes_dir, "visdial_train.json")
        train_source, val_source = shapes_source(args.shapes_dir, "train"), shapes_source(args.shapes_dir, "val")
        dense_path = dense_path or args.shapes_dir / "visdial_val_dense_annotations.json"
    val_data = val_source.read()
    dense = None
    if dense_path is not None:
        dense = read_dense_annotations(dense_path)
        check_dense_rounds(val_data, dense, where=str(dense_path))
    config = DialogTrainingConfig(model_name=args.model, model=_model_overrides(args.set), min_word_count=args.min_count,
                                  eval_max_dialogs=args.eval_dialogs, init_from=args.init_from)
    result = train_dialog(
        train_source.read(), val_data, config, trainer_config_from_args(args, validation_metric=VALIDATION_METRIC),
        args.out, load_image=load_image, dense=dense, progress=progress_bar,
        resume_from=args.out if args.resume else None,
    )
    print(f"best validation MRR {result.best_metric} at step {result.best_step}; "
          f"checkpoints: {result.best_checkpoint} (best), {result.last_checkpoint} (last)")
    return 0


def add_predict_dialog(tasks: Any) -> None:
    """Register ``mmrnn predict dialog`` on the ``predict`` command's sub-parsers."""
    parser = tasks.add_parser(
        "dialog", help="rank the answer options of every round of a VisDial file (submission format)",
        description="Rank the 100 answer options of every round of a VisDial v1.0 file and write the "
                    'submission format [{"image_id", "round_id", "ranks"}], scored by `mmrnn eval dialog`.',
    )
    parser.add_argument("--out", type=Path, required=True, metavar="JSON", help="submission file to write")
    parser.add_argument("--weights", metavar="FILE",
                        help="dialog checkpoint (.safetensors); default: weights/dialog_shapes.safetensors")
    parser.add_argument("--last-round-only", action="store_true",
                        help="one entry per dialog, its last round (the VisDial test-std submission)")
    parser.add_argument("--batch-size", type=int, default=32, help="dialogs per batch (default: %(default)s)")
    parser.add_argument("--max-bad-images", type=int, default=100, metavar="N",
                        help="give up after N unreadable images (default: %(default)s)")
    group = parser.add_argument_group("data (default: --split of the shapes world in --shapes-dir)")
    group.add_argument("--shapes-dir", type=Path, default=Path("data/shapes"), metavar="DIR")
    group.add_argument("--split", choices=["train", "val", "test"], default="test")
    add_source_arguments(group, "", "split")
    parser.set_defaults(_run_task=run_predict_dialog)


def run_predict_dialog(args: argparse.Namespace) -> int:
    """Body of ``mmrnn predict dialog``."""
    agent = DialogAgent.from_checkpoint(resolve_weights(args.weights, "dialog"))
    source = source_from_args(args, "") or shapes_source(args.shapes_dir, args.split)
    data = source.read()
    if not data.dialogs:
        raise InputError(f"{source.dialogs}: no dialogs")
    ranked = agent.rank(data, load_image, batch_size=args.batch_size, max_bad_images=args.max_bad_images,
                        progress=lambda it, total, desc: tqdm(it, total=total, desc=desc, unit="batch", disable=None))
    entries = ranked.entries
    if args.last_round_only:
        last = {dialog.image_id: dialog.num_rounds for dialog in data.dialogs}
        entries = [entry for entry in entries if entry["round_id"] == last[entry["image_id"]]]
    if not entries:
        raise InputError("no image could be read; nothing to write")
    write_json(args.out, check_submission(entries, where=str(args.out)))
    for reason in ranked.bad_images.values():
        print(f"skipped: {reason}", file=sys.stderr)
    print(f"wrote ranks for {len(entries)} rounds to {args.out} ({len(ranked.bad_images)} unreadable images skipped)")
    return 0
