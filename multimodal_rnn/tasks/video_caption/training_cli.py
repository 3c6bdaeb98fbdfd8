"""``mmrnn train video_caption``: cross-entropy training or the SCST stage, on the moving-shapes world
(generated on demand) or on MSR-VTT / MSVD. Declaring the options imports no torch."""

from __future__ import annotations

import argparse
from pathlib import Path

from multimodal_rnn.errors import InputError
from multimodal_rnn.options import MAX_BEAM_SIZE, beam_size, non_negative_int, positive_int
from multimodal_rnn.tasks.common import (
    TrainingLog,
    add_trainer_arguments,
    model_overrides,
    train_report_line,
    trainer_config_from_args,
)
from multimodal_rnn.tasks.protocol import Report, RunContext
from multimodal_rnn.tasks.video_caption.cli import MODEL_NAMES
from multimodal_rnn.tasks.video_caption.data import WORLD_INFO, add_data_arguments, training_splits, uses_world
from multimodal_rnn.tasks.video_data import add_max_bad_clips_argument

_TRAIN_DESCRIPTION = """\
Train a video captioner. Checkpoints (last, best on validation CIDEr-D) and metrics.jsonl go to
--out. Every batch holds all the captions of its clips (a clip is encoded once for all of them).
By default it trains on the moving-shapes world in --data-dir (MSR-VTT layout), generating the
world there first when it is missing."""

_TRAIN_EPILOG = """\
examples:
  mmrnn train video_caption --out runs/video_caption
  mmrnn train video_caption --out runs/msrvtt --msrvtt MSRVTT/videodatainfo.json --videos MSRVTT/videos \\
      --set 'encoder={"backbone": "resnet18", "weights": "DEFAULT", "trainable": false}'
  mmrnn train video_caption --out runs/msvd --msvd AllVideoDescriptions.txt --videos YouTubeClips --model s2vt
  mmrnn train video_caption --out runs/scst --self-critical --init-from runs/video_caption/best.safetensors"""


class TrainCommand:
    """``mmrnn train video_caption``: cross-entropy training or the SCST stage (moving shapes by default)."""

    help = "train a video captioner"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.description, parser.epilog = _TRAIN_DESCRIPTION, _TRAIN_EPILOG
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        parser.add_argument(
            "--model",
            default="temporal_attention",
            choices=MODEL_NAMES,
            help="video caption model (default: %(default)s)",
        )
        add_trainer_arguments(parser, metric="CIDEr-D", epochs=10, batch_size=16, lr=2e-3, warmup_steps=100)
        parser.add_argument(
            "--encoder-from",
            metavar="CKPT",
            help="start the frame encoder from this checkpoint's image encoder (any task, same "
            "architecture), e.g. weights/caption_shapes.safetensors",
        )
        parser.add_argument(
            "--sampling",
            choices=["uniform", "random"],
            default="uniform",
            help="frames of the training clips: the centre (uniform) or a random frame (random, new "
            "every epoch) of each of the model's num_frames segments (default: %(default)s)",
        )
        parser.add_argument(
            "--min-count", type=positive_int, default=1, help="rarer words become <unk> (default: %(default)s)"
        )
        parser.add_argument(
            "--eval-clips",
            type=non_negative_int,
            default=0,
            metavar="N",
            help="validate on the first N clips (0 = all)",
        )
        parser.add_argument(
            "--eval-beam",
            type=beam_size,
            default=1,
            metavar="N",
            help=f"beam size for validation, 1-{MAX_BEAM_SIZE} (default: greedy)",
        )
        add_max_bad_clips_argument(parser)
        parser.add_argument(
            "--self-critical", action="store_true", help="SCST stage with CIDEr-D reward; needs --init-from"
        )
        parser.add_argument("--scst-baseline", choices=["greedy", "mean"], default="greedy")
        parser.add_argument(
            "--scst-samples",
            type=positive_int,
            default=5,
            metavar="K",
            help="captions sampled per clip in the SCST stage (default: %(default)s)",
        )
        parser.add_argument(
            "--feature-cache",
            metavar="DIR",
            help="compute the frozen encoder's frame features of the training and validation clips "
            "here once and train on them (needs --set 'encoder={\"trainable\": false}' and "
            "uniform --sampling)",
        )
        add_data_arguments(parser, training=True)

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        from multimodal_rnn.tasks.video_caption.models import MODELS
        from multimodal_rnn.tasks.video_caption.training import VideoCaptionTrainingConfig, train_video_captioner

        if args.self_critical and args.init_from is None:
            raise InputError("--self-critical: needs --init-from CKPT (a model trained with cross-entropy)")
        model = model_overrides(args.set, models=MODELS, model_name=args.model)
        if uses_world(args):
            ensure_world(args.data_dir, context)
        train_records, val_records = training_splits(args)
        task_config = VideoCaptionTrainingConfig(
            model_name=args.model,
            model=model,
            min_count=args.min_count,
            sampling=args.sampling,
            eval_beam_size=args.eval_beam,
            eval_max_clips=args.eval_clips,
            max_bad_clips=args.max_bad_clips,
            self_critical=args.self_critical,
            scst_samples=args.scst_samples,
            scst_baseline=args.scst_baseline,
            init_from=args.init_from,
            encoder_from=args.encoder_from,
            feature_cache=args.feature_cache,
        )
        trainer_config = trainer_config_from_args(
            args, validation_metric="CIDEr", encoder_prefix="model.encoder." if args.self_critical else "encoder."
        )
        lines = [f"data: {len(train_records)} training clips, {len(val_records)} validation clips"]
        result = train_video_captioner(
            train_records,
            val_records,
            task_config,
            trainer_config,
            args.out,
            progress=context.progress,
            log=TrainingLog.of(context, lines),
            resume_from=args.out if args.resume else None,
        )
        return Report(lines=(train_report_line(result, "CIDEr-D"),))


def ensure_world(data_dir: Path, context: RunContext) -> None:
    """Generate the default moving-shapes world in ``data_dir`` unless it is there."""
    from multimodal_rnn.datasets.moving_shapes import MovingShapesConfig, generate_moving_shapes
    from multimodal_rnn.tasks.video_caption.training import counting_bar

    if (data_dir / WORLD_INFO).exists():
        return
    context.log(f"generating the moving-shapes world in {data_dir} ...")
    config = MovingShapesConfig()
    total = config.train_size + config.val_size + config.test_size
    with counting_bar(context.progress, total, "moving shapes") as advance:
        generate_moving_shapes(data_dir, config, advance)
