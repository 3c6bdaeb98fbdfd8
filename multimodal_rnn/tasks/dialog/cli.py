"""The dialog task's commands: ``mmrnn train|predict|eval dialog`` and the VisDial data options
they share (``mmrnn chat`` and ``mmrnn dialog-ablation`` are in :mod:`.cli_tools`).

Commands declare their options on the parser the app gives them and return a
:class:`~multimodal_rnn.tasks.protocol.Report`; they never print. Declaring the options imports no
torch: models and data are imported by ``run``.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from multimodal_rnn.errors import InputError
from multimodal_rnn.files import write_json
from multimodal_rnn.images import load_image
from multimodal_rnn.metrics.dialog import (
    METRIC_NAMES,
    DialogEvaluation,
    check_submission,
    evaluate_submission,
    read_submission,
)
from multimodal_rnn.options import add_output_argument, non_negative_int, positive_int
from multimodal_rnn.shipped import resolve_weights
from multimodal_rnn.tasks.common import (
    TrainingLog,
    add_image_location_arguments,
    add_image_reading_arguments,
    add_trainer_arguments,
    ensure_shapes_world,
    image_location_from_args,
    model_overrides,
    train_report_line,
    trainer_config_from_args,
)
from multimodal_rnn.tasks.protocol import Report, RunContext
from multimodal_rnn.tasks.training_data import add_validation_arguments, check_options, needs

if TYPE_CHECKING:
    from multimodal_rnn.datasets.visdial import VisDialData, VisDialSource
    from multimodal_rnn.tasks.dialog.predictor import DialogAgent

MODEL_NAMES = ("hre_disc", "hre_gen", "lf_disc", "lf_gen")
"""The names of :data:`multimodal_rnn.tasks.dialog.models.MODELS`, for ``--model`` without importing torch
(a test checks that they agree)."""

DEFAULT_IMAGE_PATTERN = "VisualDialog_val2018_{image_id:012d}.jpg"
""":data:`multimodal_rnn.datasets.visdial.DEFAULT_IMAGE_PATTERN`, for ``--image-pattern`` without importing
torch (a test checks that they agree)."""

VALIDATION_METRIC = "mrr"
""":data:`multimodal_rnn.tasks.dialog.training.VALIDATION_METRIC`, the metric that picks the best checkpoint
(a test checks that they agree)."""

WEIGHTS_HELP = "dialog checkpoint (.safetensors); default: weights/dialog_shapes.safetensors"


def add_source_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, prefix: str, split: str) -> None:
    """``--{prefix}dialogs/images/image-pattern/images-list`` naming one VisDial split."""
    parser.add_argument(f"--{prefix}dialogs", type=Path, metavar="JSON", help=f"VisDial v1.0 file of the {split}")
    add_image_location_arguments(parser, prefix, split, default_pattern=DEFAULT_IMAGE_PATTERN)


def source_from_args(args: argparse.Namespace, prefix: str) -> VisDialSource | None:
    """The split named by :func:`add_source_arguments`' options, or None without ``--{prefix}dialogs``."""
    from multimodal_rnn.datasets.visdial import VisDialSource

    attribute = prefix.replace("-", "_")
    dialogs = getattr(args, f"{attribute}dialogs")
    if dialogs is None:
        return None
    return VisDialSource(dialogs=dialogs, **image_location_from_args(args, prefix, needed_by="dialogs"))


def agent_and_split(
    args: argparse.Namespace, shipped: Mapping[str, str]
) -> tuple[DialogAgent, VisDialSource, VisDialData]:
    """The dialog agent of ``--weights`` (default: shipped), and the split of :func:`add_split_arguments`'
    options with its data, which must hold dialogs: what the ranking commands read."""
    from multimodal_rnn.datasets.visdial import shapes_source
    from multimodal_rnn.tasks.dialog.predictor import DialogAgent

    agent = DialogAgent.from_checkpoint(resolve_weights(args.weights, shipped, task="dialog"))
    source = source_from_args(args, "") or shapes_source(args.shapes_dir, args.split)
    data = source.read()
    if not data.dialogs:
        raise InputError(f"{source.dialogs}: no dialogs")
    return agent, source, data


def add_split_arguments(parser: argparse.ArgumentParser) -> None:
    """The data a ranking command reads: ``--split`` of the shapes world, or a VisDial split."""
    group = parser.add_argument_group("data (default: --split of the shapes world in --shapes-dir)")
    group.add_argument("--shapes-dir", type=Path, default=Path("data/shapes"), metavar="DIR")
    group.add_argument("--split", choices=["train", "val", "test"], default="test")
    add_source_arguments(group, "", "split")


_TRAIN_DESCRIPTION = """\
Train a visual dialog model on VisDial v1.0 files (default: the shapes world). A training item
is one dialog with its 10 rounds (--batch-size counts dialogs); the loss is cross-entropy over
the 100 answer options (discriminative models) or the answer's likelihood (generative models).
Validation ranks every validation round and reports MRR (picks best.safetensors), R@1/5/10,
mean rank and, with dense annotations, NDCG. Checkpoints and metrics.jsonl go to --out.

The validation split is optional: without --val-dialogs, --val-fraction of the training images
(default 0.1, chosen by --seed) are held out for validation with their dialogs; the counts are
logged and recorded in the checkpoints' header. Every image is looked up before training: a split
whose images are all missing (or more than 100 of them) is an error naming the pattern."""

TRAIN_NEEDS = {
    "--dialogs": ("--images",), "--images": ("--dialogs",), "--images-list": ("--dialogs",),
    "--val-dialogs": ("--dialogs", "--val-images"), "--val-images": ("--val-dialogs",),
    "--val-images-list": ("--val-dialogs",),
}
"""What each ``mmrnn train dialog`` data option needs (all problems are reported at once)."""

_TRAIN_EPILOG = """\
examples:
  mmrnn train dialog --out runs/dialog_shapes
  mmrnn train dialog --model hre_disc --out runs/hre --set hidden_size=128
  mmrnn train dialog --out runs/visdial --dialogs visdial_1.0_train.json --images train \\
      --images-list coco_train_and_val_images.json --val-dialogs visdial_1.0_val.json \\
      --val-images VisualDialog_val2018 --val-dense visdial_1.0_val_dense_annotations.json \\
      --set 'encoder={"backbone": "resnet18", "weights": "IMAGENET1K_V1"}'"""


@dataclass
class TrainCommand:
    """``mmrnn train dialog``."""

    help: str = "train a visual dialog model"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.description, parser.epilog = _TRAIN_DESCRIPTION, _TRAIN_EPILOG
        parser.add_argument("--model", default="lf_disc", choices=MODEL_NAMES,
                            help="late fusion or hierarchical encoder, discriminative or generative decoder "
                                 "(default: %(default)s)")
        add_trainer_arguments(parser, metric=VALIDATION_METRIC, epochs=4, batch_size=16, lr=2e-3, warmup_steps=50)
        parser.add_argument("--min-count", type=positive_int, default=1,
                            help="rarer words become <unk> (default: %(default)s)")
        parser.add_argument("--eval-dialogs", type=non_negative_int, default=0, metavar="N",
                            help="validate on the first N dialogs (0 = all)")
        group = parser.add_argument_group("data (default: the shapes world in --shapes-dir)")
        group.add_argument("--shapes-dir", type=Path, default=Path("data/shapes"), metavar="DIR",
                           help="a shapes world made by `mmrnn data shapes` (generated there if missing; "
                                "default: %(default)s)")
        add_source_arguments(group, "", "training split")
        add_source_arguments(group, "val-", "validation split (optional)")
        group.add_argument("--val-dense", type=Path, metavar="JSON",
                           help="dense annotations of the validation split (NDCG)")
        add_validation_arguments(group, unit="dialogs' images")

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        from multimodal_rnn.datasets.visdial import check_dense_rounds, read_dense_annotations, shapes_source
        from multimodal_rnn.tasks.dialog.models import MODELS
        from multimodal_rnn.tasks.dialog.training import DialogTrainingConfig, dialog_splits, train_dialog

        check_options(needs(args, TRAIN_NEEDS) + (["--val-dense needs --val-dialogs"]
                                                  if args.dialogs and args.val_dense and not args.val_dialogs else []))
        model = model_overrides(args.set, models=MODELS, model_name=args.model)
        train_source, val_source = source_from_args(args, ""), source_from_args(args, "val-")
        dense_path = args.val_dense
        names = ("--dialogs", "--val-dialogs")
        if train_source is None:
            ensure_shapes_world(args.shapes_dir, "visdial_train.json", context)
            train_source, val_source = shapes_source(args.shapes_dir, "train"), shapes_source(args.shapes_dir, "val")
            dense_path = dense_path or args.shapes_dir / "visdial_val_dense_annotations.json"
            names = ("shapes world training split", "shapes world validation split")
        lines: list[str] = []
        where = tuple("" if source is None else f"{source.images_dir}/<file_name in {source.images_list}>"
                      if source.images_list is not None else f"{source.images_dir}/{source.image_pattern}"
                      for source in (train_source, val_source))
        train_data, val_data, validation = dialog_splits(
            train_source.read(), val_source.read() if val_source is not None else None, names=names,
            where=(where[0], where[1]), val_fraction=args.val_fraction, seed=args.seed, log=lines.append)
        dense = None
        if dense_path is not None:
            dense = read_dense_annotations(dense_path)
            check_dense_rounds(val_data, dense, where=str(dense_path))
        config = DialogTrainingConfig(model_name=args.model, model=model,
                                      min_word_count=args.min_count, eval_max_dialogs=args.eval_dialogs,
                                      init_from=args.init_from)
        result = train_dialog(
            train_data, val_data, config, trainer_config_from_args(args, validation_metric=VALIDATION_METRIC),
            args.out, load_image=load_image, dense=dense,
            validation=validation.header() if validation.source == "holdout" else None, progress=context.progress,
            log=TrainingLog.of(context, lines), resume_from=args.out if args.resume else None,
        )
        return Report(lines=(train_report_line(result, "MRR"),))


@dataclass
class PredictCommand:
    """``mmrnn predict dialog``: the submission format of every round's ranks."""

    shipped: Mapping[str, str]
    help: str = "rank the answer options of every round of a VisDial file (submission format)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.description = ("Rank the 100 answer options of every round of a VisDial v1.0 file and write the "
                              'submission format [{"image_id", "round_id", "ranks"}], scored by `mmrnn eval dialog`.')
        add_output_argument(parser, "--out", required=True, metavar="JSON", help="submission file to write")
        parser.add_argument("--weights", metavar="FILE", help=WEIGHTS_HELP)
        parser.add_argument("--last-round-only", action="store_true",
                            help="one entry per dialog, its last round (the VisDial test-std submission)")
        parser.add_argument("--batch-size", type=positive_int, default=32, metavar="N",
                            help="dialogs per batch (default: %(default)s)")
        add_image_reading_arguments(parser)
        add_split_arguments(parser)

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        agent, _, data = agent_and_split(args, self.shipped)
        ranked = agent.rank(data, load_image, batch_size=args.batch_size, max_bad_images=args.max_bad_images,
                            progress=context.progress, workers=args.workers)
        entries = ranked.entries
        if args.last_round_only:
            last = {dialog.image_id: dialog.num_rounds for dialog in data.dialogs}
            entries = [entry for entry in entries if entry["round_id"] == last[entry["image_id"]]]
        if not entries:
            raise InputError("no image could be read; nothing to write")
        write_json(args.out, check_submission(entries, where=str(args.out)))
        skipped = len(ranked.bad_images)
        written = f"wrote ranks for {len(entries)} rounds to {args.out} ({skipped} unreadable images skipped)"
        return Report(lines=(written,), notes=tuple(f"skipped: {reason}" for reason in ranked.bad_images.values()))


_EVAL_DESCRIPTION = """\
VisDial v1.0 retrieval metrics with the numbers of visdial-challenge-starter-pytorch metrics.py:
the rank of the ground-truth option among the 100 (1-based), R@1/5/10 (percent), mean rank and
MRR over the submitted rounds that have a ground-truth answer, and with --dense NDCG over the
densely annotated rounds (k = options with relevance > 0). Every submitted round must be a
round of the dialogs file; every densely annotated round must be submitted."""

_EVAL_EPILOG = """\
examples:
  mmrnn eval dialog --dialogs visdial_1.0_val.json --results submission.json \\
      --dense visdial_1.0_val_dense_annotations.json
  mmrnn eval dialog --dialogs visdial_val.json --results submission.json --out metrics.json

results format: [{"image_id": int, "round_id": int (1-based), "ranks": [100 ints, a permutation of 1..100]}, ...]
--out writes {"metrics", "num_rounds", "num_dense_rounds", "per_round"} as JSON; recalls are 0..1 there."""

_METRIC_LABELS = {"r@1": "R@1", "r@5": "R@5", "r@10": "R@10", "mean_rank": "Mean rank", "mrr": "MRR", "ndcg": "NDCG"}


def format_dialog_table(evaluation: DialogEvaluation) -> list[str]:
    """A (metric, value) table: recalls in percent, then mean rank, MRR and NDCG; n/a when not computable."""
    rows = [("metric", "value")]
    for name in METRIC_NAMES:
        value = evaluation.metrics[name]
        label = _METRIC_LABELS[name]
        if value is None:
            reason = "no --dense annotations" if name == "ndcg" else "no submitted round has a ground truth"
            rows.append((label, f"n/a ({reason})"))
        elif name.startswith("r@"):
            rows.append((label, f"{100.0 * value:.2f}"))
        else:
            rows.append((label, f"{value:.4f}"))
    rows += [("rounds", str(evaluation.num_rounds)), ("dense rounds", str(evaluation.num_dense_rounds))]
    width = max(len(name) for name, _ in rows)
    return [f"{name:<{width}}  {value}" for name, value in rows]


@dataclass
class EvalCommand:
    """``mmrnn eval dialog``: score a submission with the official VisDial metrics."""

    help: str = "visual dialog retrieval metrics (R@1/5/10, MRR, mean rank, NDCG)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.description, parser.epilog = _EVAL_DESCRIPTION, _EVAL_EPILOG
        parser.add_argument("--dialogs", required=True, type=Path, metavar="JSON", help="VisDial v1.0 dialogs file")
        parser.add_argument("--results", required=True, type=Path, metavar="JSON",
                            help="submission (ranks per round)")
        parser.add_argument("--dense", type=Path, metavar="JSON", help="dense relevance annotations: also report NDCG")
        add_output_argument(parser, "--out", metavar="JSON", help="also write the metrics and per-round ranks here")

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        from multimodal_rnn.datasets.visdial import check_dense_rounds, read_dense_annotations, read_visdial

        data = read_visdial(args.dialogs)
        dense = None
        if args.dense is not None:
            dense = read_dense_annotations(args.dense)
            check_dense_rounds(data, dense, where=str(args.dense))
        evaluation = evaluate_submission(read_submission(args.results), data.gt_indices(), dense,
                                         where=str(args.results))
        report = evaluation.to_dict()
        if args.out is not None:
            try:
                write_json(args.out, report)
            except OSError as exc:
                raise InputError(f"{args.out}: cannot write ({exc.strerror or exc})") from None
        return Report(lines=tuple(format_dialog_table(evaluation)), data=report)
