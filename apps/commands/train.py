"""``mmrnn train <task>``: train a model (shapes world by default)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

from apps.caption_data import add_caption_data_arguments, caption_records
from multimodal_rnn.datasets.shapes import ShapesConfig, generate_shapes_world
from multimodal_rnn.errors import ConfigError
from multimodal_rnn.images import load_image
from multimodal_rnn.training.caption import CaptionTrainingConfig, train_captioner
from multimodal_rnn.training.trainer import TrainerConfig

NAME = "train"
HELP = "train a model: caption (more tasks follow)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    tasks = parser.add_subparsers(dest="task", metavar="TASK", required=True)
    caption = tasks.add_parser("caption", help="train an image captioner", description="Train an image captioner. "
                               "Checkpoints (last, best on validation CIDEr-D) and metrics.jsonl go to --out.")
    caption.add_argument("--out", type=Path, required=True, metavar="DIR", help="run folder")
    caption.add_argument("--model", default="show_attend_tell", choices=["show_tell", "show_attend_tell", "updown"],
                         help="caption model (default: %(default)s)")
    caption.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                         help="model option, e.g. --set hidden_size=512 --set cell=gru (JSON values)")
    caption.add_argument("--epochs", type=int, default=10)
    caption.add_argument("--batch-size", type=int, default=64)
    caption.add_argument("--lr", type=float, default=2e-3)
    caption.add_argument("--encoder-lr", type=float, default=None, help="learning rate of the image encoder (default: --lr; 0 freezes it)")
    caption.add_argument("--weight-decay", type=float, default=0.0)
    caption.add_argument("--grad-clip", type=float, default=5.0)
    caption.add_argument("--schedule", choices=["constant", "cosine", "step"], default="cosine")
    caption.add_argument("--warmup-steps", type=int, default=200)
    caption.add_argument("--label-smoothing", type=float, default=None)
    caption.add_argument("--scheduled-sampling", type=float, default=0.0, metavar="MAX_P",
                         help="rise the probability of feeding the model's own word by 0.05 per epoch up to MAX_P")
    caption.add_argument("--patience", type=int, default=None, help="early stopping after N evaluations without a better CIDEr-D")
    caption.add_argument("--eval-images", type=int, default=0, metavar="N", help="validate on the first N images (0 = all)")
    caption.add_argument("--eval-beam", type=int, default=1, metavar="N", help="beam size for validation (default: greedy)")
    caption.add_argument("--min-count", type=int, default=1, help="rarer words become <unk> (default: %(default)s)")
    caption.add_argument("--seed", type=int, default=0)
    caption.add_argument("--device", default="auto", help="auto, cpu or cuda")
    caption.add_argument("--max-steps", type=int, default=None, help="stop after N updates (smoke runs)")
    caption.add_argument("--log-every", type=int, default=10, metavar="N", help="log the training loss every N updates")
    caption.add_argument("--self-critical", action="store_true", help="SCST stage with CIDEr-D reward; needs --init-from")
    caption.add_argument("--scst-baseline", choices=["greedy", "mean"], default="greedy")
    caption.add_argument("--scst-samples", type=int, default=5)
    caption.add_argument("--init-from", metavar="CKPT", help="start from this caption checkpoint's weights and vocabulary")
    caption.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    add_caption_data_arguments(caption)


def _model_overrides(pairs: list[str]) -> dict[str, object]:
    overrides: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {pair!r}: expected KEY=VALUE")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def run(args: argparse.Namespace) -> int:
    if not (args.coco_train or args.karpathy) and not (args.shapes_dir / "captions_train.json").exists():
        print(f"generating the shapes world in {args.shapes_dir} ...", file=sys.stderr)
        config = ShapesConfig()
        with tqdm(total=config.train_size + config.val_size + config.test_size, unit="img", disable=None) as bar:
            generate_shapes_world(args.shapes_dir, config, lambda done, _total: bar.update(done - bar.n))
    model = _model_overrides(args.set)
    if args.label_smoothing is not None:
        model["label_smoothing"] = args.label_smoothing
    task_config = CaptionTrainingConfig(
        model_name=args.model, model=model, min_count=args.min_count, eval_beam_size=args.eval_beam,
        eval_max_images=args.eval_images, scheduled_sampling_max=args.scheduled_sampling,
        self_critical=args.self_critical, scst_samples=args.scst_samples, scst_baseline=args.scst_baseline,
        init_from=args.init_from,
    )
    trainer_config = TrainerConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, encoder_lr=args.encoder_lr,
        encoder_prefix="model.encoder." if args.self_critical else "encoder.",
        weight_decay=args.weight_decay, grad_clip=args.grad_clip, schedule=args.schedule,
        warmup_steps=args.warmup_steps, validation_metric="CIDEr", metric_mode="max",
        early_stopping_patience=args.patience, seed=args.seed, device=args.device, max_steps=args.max_steps,
        log_every=args.log_every,
    )
    result = train_captioner(
        caption_records(args, "train"), caption_records(args, "val"), task_config, trainer_config, args.out,
        load_image=load_image, progress=lambda it, total, desc: tqdm(it, total=total, desc=desc, disable=None),
        resume_from=args.out if args.resume else None,
    )
    print(f"best validation CIDEr-D {result.best_metric} at step {result.best_step}; "
          f"checkpoints: {result.best_checkpoint} (best), {result.last_checkpoint} (last)")
    return 0
