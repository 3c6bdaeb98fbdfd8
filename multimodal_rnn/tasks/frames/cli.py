"""The frames task's commands: ``mmrnn label-frames CLIP``, ``mmrnn train|predict|eval frames``.

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
    clip_records,
    frame_classes,
    predictions_report,
    save_gif,
)

MODEL_NAMES = ("frame_rnn",)
"""The names of :data:`multimodal_rnn.tasks.frames.models.MODELS`, for ``--model`` without importing
torch (a test checks that they agree)."""

_LABEL_EPILOG = """\
examples:
  mmrnn label-frames clip.avi
  mmrnn label-frames clip.avi --json
  mmrnn label-frames clip.avi --gif clip_labeled.gif

Every frame of the clip is labeled (video files: .mp4 .webm .avi .mkv .mov .gif; or a folder of
frame images); --frames N samples N frames uniformly instead."""


class LabelFramesCommand:
    """``mmrnn label-frames CLIP``: a label for every frame of a clip (default: the shipped weights)."""

    help = "label every frame of a video clip (defaults to the shipped moving-shapes weights)"

    def __init__(self, shipped: Mapping[str, str]) -> None:
        self.shipped = shipped

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.epilog = _LABEL_EPILOG
        parser.add_argument("clip", metavar="CLIP", help="a video file or a folder of frame images")
        parser.add_argument(
            "--weights",
            metavar="FILE",
            help="frames checkpoint (.safetensors); default: weights/frames_moving_shapes.safetensors",
        )
        parser.add_argument(
            "--frames",
            type=positive_int,
            default=None,
            metavar="N",
            help="label N frames sampled uniformly (default: every frame)",
        )
        parser.add_argument(
            "--json", action="store_true", help="print one JSON object {clip, frames: [{index, label, probability}]}"
        )
        add_output_argument(
            parser,
            "--gif",
            suffixes=(".gif",),
            metavar="OUT.gif",
            help="save the clip as a GIF with each frame's label under it",
        )

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        from multimodal_rnn.tasks.frames.predictor import FrameLabeler
        from multimodal_rnn.video import read_clip
        from multimodal_rnn.video_figure import annotated_gif

        labeler = FrameLabeler.from_checkpoint(resolve_weights(args.weights, self.shipped, task="frames"))
        clip = read_clip(args.clip, num_frames=args.frames)
        result = labeler.label([clip])[0]
        frames = [
            {"index": index, "label": label, "probability": round(p, 4)}
            for index, label, p in zip(clip.indices, result.labels, result.probabilities)
        ]
        data = {"clip": args.clip, "frames": frames}
        if args.json:
            lines = [json.dumps(data)]
        else:
            width = max(len(label) for label in result.labels)
            lines = [f"{item['index']:>5}  {item['label']:<{width}}  {item['probability']:.4f}" for item in frames]
        if args.gif is not None:
            gif = annotated_gif(clip.frames, labels=list(result.labels))
            save_gif(args.gif, gif)
        return Report(lines=tuple(lines), data=data)


_TRAIN_EPILOG = """\
examples:
  mmrnn train frames --out runs/frames                      # the moving-shapes world (generated if missing)
  mmrnn train frames --out runs/frames --set cell=gru --set bidirectional=false
  mmrnn train frames --out runs/mine --videos DIR --frame-labels DIR/labels.json

Validation uses vallistNN.txt when the dataset has one, else --val-fraction of the training clips."""


class TrainCommand:
    """``mmrnn train frames``: train a frame labeler (the moving-shapes world by default)."""

    help = "train a frame labeler (a class per frame)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.description = (
            "Train a frame labeler on the clips of a UCF-101-style dataset with per-frame labels. "
            "Checkpoints (last, best on validation frame accuracy) and metrics.jsonl go to --out."
        )
        parser.epilog = _TRAIN_EPILOG
        parser.add_argument(
            "--model", default="frame_rnn", choices=MODEL_NAMES, help="frames model (default: %(default)s)"
        )
        add_trainer_arguments(parser, metric="frame accuracy", epochs=4, batch_size=16, lr=3e-3, warmup_steps=100)
        add_max_bad_clips_argument(parser)
        add_clip_source_arguments(parser, frame_labels=True)
        add_validation_arguments(parser, unit="clips")

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        from multimodal_rnn.tasks.clip_training import run_clip_training
        from multimodal_rnn.tasks.frames.models import MODELS
        from multimodal_rnn.tasks.frames.training import FramesTrainingConfig, frames_training_setup

        return run_clip_training(
            args,
            context,
            registry=MODELS,
            config_class=FramesTrainingConfig,
            make_setup=frames_training_setup,
            classes=frame_classes,
            with_frame_labels=True,
            validation_metric="frame_accuracy",
            metric_name="frame accuracy",
        )


class PredictCommand:
    """``mmrnn predict frames``: the frame labels of every clip of a dataset split, as JSON."""

    help = "label every frame of the clips of a UCF-101-style split and write the results as JSON"

    def __init__(self, shipped: Mapping[str, str]) -> None:
        self.shipped = shipped

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.description = (
            "Label every frame of every clip of a split and write [{video, frames: [label, ...]}] "
            "(video: the clip's path as in the list file; one label per source frame)."
        )
        add_clip_source_arguments(parser, split_default="test")
        add_output_argument(parser, "--out", required=True, metavar="results.json")
        parser.add_argument("--weights", metavar="FILE", help="frames checkpoint (default: the shipped weights)")
        parser.add_argument(
            "--batch-size", type=positive_int, default=32, metavar="N", help="clips per batch (default: %(default)s)"
        )
        add_clip_reading_arguments(parser)

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        from multimodal_rnn.tasks.frames.evaluation import predict_records
        from multimodal_rnn.tasks.frames.predictor import FrameLabeler

        labeler = FrameLabeler.from_checkpoint(resolve_weights(args.weights, self.shipped, task="frames"))
        records = clip_records(args, args.split, context)
        results, skipped = predict_records(
            labeler,
            records,
            batch_size=args.batch_size,
            max_bad=args.max_bad_clips,
            workers=args.workers,
            progress=context.progress,
        )
        line = f"wrote the frame labels of {len(results)} clips to {args.out} ({len(skipped)} unreadable clips skipped)"
        return predictions_report(args.out, results, skipped, line)


_EVAL_EPILOG = """\
examples:
  mmrnn predict frames --split test --out r.json
  mmrnn eval frames --results r.json --split test

results format: [{"video": "<path as in the list file>", "frames": ["label of frame 0", ...]}]"""


class EvalCommand:
    """``mmrnn eval frames``: frame accuracy and segmental F1@{10,25,50} of results."""

    help = "frame labeling metrics (frame accuracy, segmental F1@{0.1,0.25,0.5})"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.description = (
            "Score frame labels against the per-frame labels of a split: the accuracy over all "
            "frames and the segmental F1 at IoU 0.1, 0.25 and 0.5 (action segmentation, as MS-TCN "
            "computes it). Every clip of the split needs a result with one label per frame."
        )
        parser.epilog = _EVAL_EPILOG
        parser.add_argument("--results", required=True, type=Path, metavar="JSON", help="results of predict frames")
        add_clip_source_arguments(parser, split_default="test", frame_labels=True)
        add_output_argument(parser, "--out", metavar="JSON", help="also write the metrics here")

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        from multimodal_rnn.tasks.frames.evaluation import evaluate_results, format_report

        records = clip_records(args, args.split, context, with_frame_labels=True)
        report = evaluate_results(read_json(args.results), records, where=str(args.results))
        if args.out is not None:
            write_json(args.out, report)
        return Report(lines=tuple(format_report(report)), data=report)
