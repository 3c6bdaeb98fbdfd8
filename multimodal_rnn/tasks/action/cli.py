"""The action task's commands: ``mmrnn classify-video CLIP...``, ``mmrnn train|predict|eval action``.

Each is a :class:`~multimodal_rnn.tasks.protocol.TaskCommand`; declaring the options imports no
torch: models, data and metrics are imported by ``run``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path

from multimodal_rnn.files import read_json, write_json
from multimodal_rnn.options import add_output_argument, positive_int
from multimodal_rnn.shipped import resolve_weights
from multimodal_rnn.tasks.common import add_trainer_arguments
from multimodal_rnn.tasks.protocol import Report, RunContext
from multimodal_rnn.tasks.training_data import add_validation_arguments
from multimodal_rnn.tasks.video_data import (
    add_clip_reading_arguments,
    add_clip_source_arguments,
    add_max_bad_clips_argument,
    clip_classes,
    clip_records,
    predictions_report,
    save_gif,
)

MODEL_NAMES = ("lrcn",)
"""The names of :data:`multimodal_rnn.tasks.action.models.MODELS`, for ``--model`` without importing
torch (a test checks that they agree)."""

GIF_SUFFIXES = (".gif",)

_CLASSIFY_EPILOG = """\
examples:
  mmrnn classify-video clip.avi
  mmrnn classify-video a.mp4 b.mp4 --top 3 --json
  mmrnn classify-video clip.avi --gif clip_labeled.gif

Each clip is read with the model's number of frames sampled uniformly over its length (video
files: .mp4 .webm .avi .mkv .mov .gif; or a folder of frame images)."""


class ClassifyVideoCommand:
    """``mmrnn classify-video CLIP [CLIP ...]``: the actions of clips (default: the shipped weights)."""

    help = "recognize the action in video clips (defaults to the shipped moving-shapes weights)"

    def __init__(self, shipped: Mapping[str, str]) -> None:
        self.shipped = shipped

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.epilog = _CLASSIFY_EPILOG
        parser.add_argument("clips", nargs="+", metavar="CLIP", help="video files or folders of frame images")
        parser.add_argument(
            "--weights",
            metavar="FILE",
            help="action checkpoint (.safetensors); default: weights/action_moving_shapes.safetensors",
        )
        parser.add_argument(
            "--top",
            type=positive_int,
            default=5,
            metavar="N",
            help="how many classes to list per clip (default: %(default)s)",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help="print one JSON line per clip {clip, label, classes: [{class, probability}]}",
        )
        add_output_argument(
            parser,
            "--gif",
            suffixes=GIF_SUFFIXES,
            metavar="OUT.gif",
            help="save the clip as a GIF with the recognized action under it "
            "(with several clips: OUT-1.gif, OUT-2.gif, ...)",
        )

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        from multimodal_rnn.tasks.action.predictor import ActionClassifier
        from multimodal_rnn.video import read_clip
        from multimodal_rnn.video_figure import annotated_gif

        classifier = ActionClassifier.from_checkpoint(resolve_weights(args.weights, self.shipped, task="action"))
        clips = [read_clip(path, num_frames=classifier.num_frames) for path in args.clips]
        results = classifier.classify(clips, top=args.top)
        lines: list[str] = []
        data = []
        for index, (path, clip, result) in enumerate(zip(args.clips, clips, results)):
            classes = [{"class": name, "probability": round(p, 4)} for name, p in result.classes]
            data.append({"clip": path, "label": result.label, "classes": classes})
            if args.json:
                lines.append(json.dumps(data[-1]))
            else:
                width = max(len(name) for name, _ in result.classes)
                if len(args.clips) > 1:
                    lines.append(f"{path}")
                lines += [f"{name:<{width}}  {p:.4f}" for name, p in result.classes]
            if args.gif is not None:
                out = args.gif if len(args.clips) == 1 else args.gif.with_name(f"{args.gif.stem}-{index + 1}.gif")
                gif = annotated_gif(clip.frames, caption=result.label)
                save_gif(out, gif)
        return Report(lines=tuple(lines), data={"clips": data})


class PredictCommand:
    """``mmrnn predict action``: the classes of every clip of a dataset split, as JSON."""

    help = "classify every clip of a UCF-101-style split and write the results as JSON"

    def __init__(self, shipped: Mapping[str, str]) -> None:
        self.shipped = shipped

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.description = (
            "Classify every clip of a split and write [{video, label, classes: [..top..]}] "
            "(video: the clip's path as in the list file)."
        )
        add_clip_source_arguments(parser, split_default="test")
        add_output_argument(parser, "--out", required=True, metavar="results.json")
        parser.add_argument("--weights", metavar="FILE", help="action checkpoint (default: the shipped weights)")
        parser.add_argument(
            "--top", type=positive_int, default=5, metavar="N", help="classes kept per clip (default: %(default)s)"
        )
        parser.add_argument(
            "--batch-size", type=positive_int, default=32, metavar="N", help="clips per batch (default: %(default)s)"
        )
        add_clip_reading_arguments(parser)

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        from multimodal_rnn.tasks.action.evaluation import predict_records
        from multimodal_rnn.tasks.action.predictor import ActionClassifier

        classifier = ActionClassifier.from_checkpoint(resolve_weights(args.weights, self.shipped, task="action"))
        records = clip_records(args, args.split, context)
        results, skipped = predict_records(
            classifier,
            records,
            top=args.top,
            batch_size=args.batch_size,
            max_bad=args.max_bad_clips,
            workers=args.workers,
            progress=context.progress,
        )
        line = f"wrote {len(results)} clip results to {args.out} ({len(skipped)} unreadable clips skipped)"
        return predictions_report(args.out, results, skipped, line)


_EVAL_EPILOG = """\
examples:
  mmrnn predict action --ucf data/moving_shapes/ucf --split test --out r.json
  mmrnn eval action --results r.json --ucf data/moving_shapes/ucf --split test --confusion confusion.png

results format: [{"video": "<path as in the list file>", "label": str, "classes": [str, ...] | [{class, ...}]}]"""


class EvalCommand:
    """``mmrnn eval action``: top-1/top-5, per-class accuracy and the confusion matrix of results."""

    help = "action recognition metrics (top-1, top-5, per-class accuracy, confusion matrix)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.description = (
            "Score clip results against the true classes of a split: top-1 and top-5 accuracy, "
            "the mean of the per-class accuracies, each class's accuracy and the confusion matrix. "
            "Every clip of the split needs a result."
        )
        parser.epilog = _EVAL_EPILOG
        parser.add_argument("--results", required=True, type=Path, metavar="JSON", help="results of predict action")
        add_clip_source_arguments(parser, split_default="test")
        add_output_argument(parser, "--out", metavar="JSON", help="also write the metrics here")
        add_output_argument(
            parser, "--confusion", suffixes=(".png",), metavar="OUT.png", help="save the confusion matrix as a picture"
        )

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        from multimodal_rnn.tasks.action.evaluation import evaluate_results, format_report

        records = clip_records(args, args.split, context)
        report = evaluate_results(
            read_json(args.results),
            records,
            clip_classes(args, context),
            where=str(args.results),
            confusion_png=args.confusion,
        )
        if args.out is not None:
            write_json(args.out, report)
        return Report(lines=tuple(format_report(report)), data=report)


_TRAIN_EPILOG = """\
examples:
  mmrnn train action --out runs/action                      # the moving-shapes world (generated if missing)
  mmrnn train action --out runs/action --set cell=gru --set pooling=mean --set bidirectional=true
  mmrnn train action --out runs/ucf --videos UCF-101 --lists ucfTrainTestlist --set num_frames=8

Validation uses vallistNN.txt when the dataset has one, else --val-fraction of the training clips."""


class TrainCommand:
    """``mmrnn train action``: train an action classifier (the moving-shapes world by default)."""

    help = "train an action classifier (LRCN)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.description = (
            "Train an action classifier on the clips of a UCF-101-style dataset. Checkpoints (last, "
            "best on validation top-1 accuracy) and metrics.jsonl go to --out."
        )
        parser.epilog = _TRAIN_EPILOG
        parser.add_argument("--model", default="lrcn", choices=MODEL_NAMES, help="action model (default: %(default)s)")
        add_trainer_arguments(parser, metric="top-1 accuracy", epochs=5, batch_size=16, lr=3e-3, warmup_steps=100)
        add_max_bad_clips_argument(parser)
        add_clip_source_arguments(parser)
        add_validation_arguments(parser, unit="clips")

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        from multimodal_rnn.tasks.action.models import MODELS
        from multimodal_rnn.tasks.action.training import ActionTrainingConfig, action_training_setup
        from multimodal_rnn.tasks.clip_training import run_clip_training

        return run_clip_training(
            args,
            context,
            registry=MODELS,
            config_class=ActionTrainingConfig,
            make_setup=action_training_setup,
            classes=clip_classes,
            with_frame_labels=False,
            validation_metric="top1",
            metric_name="top-1 accuracy",
        )
