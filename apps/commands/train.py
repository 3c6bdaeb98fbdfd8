"""``mmrnn train <task>``: train a model (shapes world by default)."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from pathlib import Path

from typing import Any

import torch
from tqdm import tqdm

import multimodal_rnn.heads.caption  # noqa: F401  (registers the caption models)
import multimodal_rnn.heads.vqa  # noqa: F401  (registers the VQA models)
from apps.caption_data import add_caption_data_arguments, caption_records
from multimodal_rnn.datasets.shapes import ShapesConfig, generate_shapes_world
from multimodal_rnn.datasets.vqa import DEFAULT_IMAGE_PATTERN, VQASource, shapes_source
from multimodal_rnn.errors import ConfigError, InputError
from multimodal_rnn.images import load_image
from multimodal_rnn.registry import MODELS
from multimodal_rnn.training import distributed
from multimodal_rnn.training.caption import CaptionTrainingConfig, train_captioner
from multimodal_rnn.training.launch import torchrun_process_group
from multimodal_rnn.training.trainer import TrainerConfig
from multimodal_rnn.training.vqa import VQATrainingConfig, train_vqa

NAME = "train"
HELP = "train a model: caption, vqa, dialog, navigation"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    tasks = parser.add_subparsers(dest="task", metavar="TASK", required=True)
    caption = tasks.add_parser("caption", help="train an image captioner", description="Train an image captioner. "
                               "Checkpoints (last, best on validation CIDEr-D) and metrics.jsonl go to --out.")
    caption.add_argument("--model", default="show_attend_tell", choices=MODELS.names(task="caption"),
                         help="caption model (default: %(default)s)")
    add_trainer_arguments(caption, metric="CIDEr-D", epochs=10, batch_size=64, lr=2e-3, warmup_steps=200)
    caption.add_argument("--label-smoothing", type=float, default=None)
    caption.add_argument("--scheduled-sampling", type=float, default=0.0, metavar="MAX_P",
                         help="rise the probability of feeding the model's own word by 0.05 per epoch up to MAX_P")
    caption.add_argument("--eval-images", type=int, default=0, metavar="N", help="validate on the first N images (0 = all)")
    caption.add_argument("--eval-beam", type=int, default=1, metavar="N", help="beam size for validation (default: greedy)")
    caption.add_argument("--min-count", type=int, default=1, help="rarer words become <unk> (default: %(default)s)")
    caption.add_argument("--self-critical", action="store_true", help="SCST stage with CIDEr-D reward; needs --init-from")
    caption.add_argument("--scst-baseline", choices=["greedy", "mean"], default="greedy")
    caption.add_argument("--scst-samples", type=int, default=5)
    caption.add_argument("--feature-cache", metavar="DIR",
                         help="precompute the frozen encoder's grid features here once and train on them "
                              "(needs --set 'encoder={\"trainable\": false}')")
    add_caption_data_arguments(caption)
    caption.set_defaults(_run_task=_run_caption)

    vqa = tasks.add_parser("vqa", help="train a visual question answering model", description=_VQA_DESCRIPTION,
                           epilog=_VQA_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    vqa.add_argument("--model", default="saaa", choices=MODELS.names(task="vqa"), help="VQA model (default: %(default)s)")
    add_trainer_arguments(vqa, metric="accuracy", epochs=40, batch_size=32, lr=2e-3, warmup_steps=100)
    vqa.add_argument("--answers", type=int, default=3000, metavar="K",
                     help="answer vocabulary: the K most frequent training answers (default: %(default)s)")
    vqa.add_argument("--loss", choices=["bce", "softmax"], default=None,
                     help="bce on soft scores (default) or softmax cross-entropy on a sampled answer")
    vqa.add_argument("--min-count", type=int, default=1, help="rarer question words become <unk> (default: %(default)s)")
    vqa.add_argument("--eval-questions", type=int, default=0, metavar="N", help="validate on the first N questions (0 = all)")
    vqa.add_argument("--per-question", action="store_true",
                     help="one training item per question (default: per image with all its questions; "
                          "--batch-size then counts images)")
    group = vqa.add_argument_group("data (default: the shapes world in --shapes-dir)")
    group.add_argument("--shapes-dir", type=Path, default=Path("data/shapes"), metavar="DIR",
                       help="a shapes world made by `mmrnn data shapes` (generated there if missing; default: %(default)s)")
    add_vqa_source_arguments(group, "", "training split")
    add_vqa_source_arguments(group, "val-", "validation split")
    vqa.set_defaults(_run_task=_run_vqa)

    from apps.dialog_commands import add_train_dialog  # here: dialog_commands imports this module

    add_train_dialog(tasks)

    from apps.navigation_commands import add_train_navigation

    add_train_navigation(tasks)


_VQA_DESCRIPTION = """\
Train a VQA model on any dataset in VQA v1/v2 format (default: the shapes world). The answer
vocabulary is the K most frequent normalized training answers; targets are soft scores
min(1, 0.3 * count). Training skips questions with no answer in the vocabulary; validation
keeps them and reports the official-style accuracy (overall and per answer type). Checkpoints
(last, best on validation accuracy) and metrics.jsonl go to --out."""

_VQA_EPILOG = """\
examples:
  mmrnn train vqa --model saaa_rel --out runs/vqa_shapes --epochs 24 --set embed_size=64 --set hidden_size=128 \\
      --set attention_size=128 --set classifier_size=256 --set normalize_image=false \\
      --set 'encoder={"channels": [32, 64, 64]}'    # the shipped shapes model (weights/README.md)
  mmrnn train vqa --out runs/vqa_coco --set 'encoder={"backbone": "resnet18", "weights": "IMAGENET1K_V1"}' \\
      --questions v2_OpenEnded_mscoco_train2014_questions.json --annotations v2_mscoco_train2014_annotations.json \\
      --images train2014 --image-pattern 'COCO_train2014_{image_id:012d}.jpg' \\
      --val-questions v2_OpenEnded_mscoco_val2014_questions.json --val-annotations v2_mscoco_val2014_annotations.json \\
      --val-images val2014"""


def add_trainer_arguments(parser: argparse.ArgumentParser, *, metric: str, epochs: int, batch_size: int, lr: float,
                          warmup_steps: int) -> None:
    """The options every ``mmrnn train <task>`` shares: run folder, model overrides, optimizer, schedule."""
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="run folder")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="model option, e.g. --set hidden_size=512 --set cell=gru (JSON values)")
    parser.add_argument("--epochs", type=int, default=epochs, help="(default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=batch_size, help="(default: %(default)s)")
    parser.add_argument("--lr", type=float, default=lr, help="(default: %(default)s)")
    parser.add_argument("--encoder-lr", type=float, default=None, help="learning rate of the image encoder (default: --lr; 0 freezes it)")
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--grad-clip", type=float, default=5.0)
    parser.add_argument("--schedule", choices=["constant", "cosine", "step"], default="cosine")
    parser.add_argument("--warmup-steps", type=int, default=warmup_steps, help="(default: %(default)s)")
    parser.add_argument("--patience", type=int, default=None, help=f"early stopping after N evaluations without a better {metric}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: %(default)s)")
    parser.add_argument("--amp", choices=["off", "bf16", "fp16"], default="off",
                        help="mixed precision on CUDA: bfloat16, or float16 with loss scaling (default: %(default)s)")
    parser.add_argument("--distributed", action="store_true",
                        help="one of several processes started by torchrun (DistributedDataParallel; NCCL on GPUs, "
                             "gloo on CPUs); --batch-size is per process")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after N updates (smoke runs)")
    parser.add_argument("--log-every", type=int, default=10, metavar="N", help="log the training loss every N updates")
    parser.add_argument("--init-from", metavar="CKPT", help="start from this checkpoint's weights and vocabulary")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--tensorboard", action="store_true", help="also log to TensorBoard in --out (needs the tensorboard package)")


def trainer_config_from_args(args: argparse.Namespace, *, validation_metric: str,
                             encoder_prefix: str = "encoder.") -> TrainerConfig:
    """The :class:`TrainerConfig` of the options added by :func:`add_trainer_arguments`."""
    return TrainerConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, encoder_lr=args.encoder_lr,
        encoder_prefix=encoder_prefix, weight_decay=args.weight_decay, grad_clip=args.grad_clip,
        schedule=args.schedule, warmup_steps=args.warmup_steps, validation_metric=validation_metric,
        metric_mode="max", early_stopping_patience=args.patience, seed=args.seed, device=args.device,
        max_steps=args.max_steps, log_every=args.log_every, tensorboard=args.tensorboard,
        amp=args.amp != "off", amp_dtype="float16" if args.amp == "fp16" else "bfloat16",
    )


def add_vqa_source_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, prefix: str, split: str) -> None:
    """``--{prefix}questions/annotations/images/image-pattern/images-list`` naming one VQA split."""
    parser.add_argument(f"--{prefix}questions", type=Path, metavar="JSON", help=f"VQA questions file of the {split}")
    parser.add_argument(f"--{prefix}annotations", type=Path, metavar="JSON", help=f"VQA annotations file of the {split}")
    parser.add_argument(f"--{prefix}images", type=Path, metavar="DIR", help=f"image folder of the {split}")
    parser.add_argument(f"--{prefix}image-pattern", default=DEFAULT_IMAGE_PATTERN, metavar="PATTERN",
                        help="image file name with {image_id} (default: %(default)s)")
    parser.add_argument(f"--{prefix}images-list", type=Path, metavar="JSON",
                        help="COCO-style file whose 'images' give each id's file_name (instead of --image-pattern)")


def vqa_source_from_args(args: argparse.Namespace, prefix: str, *, need_annotations: bool) -> VQASource | None:
    """The split named by :func:`add_vqa_source_arguments`' options, or None when ``--{prefix}questions`` is absent."""
    attribute = prefix.replace("-", "_")
    questions = getattr(args, f"{attribute}questions")
    if questions is None:
        return None
    images, annotations = getattr(args, f"{attribute}images"), getattr(args, f"{attribute}annotations")
    if images is None:
        raise InputError(f"--{prefix}questions needs --{prefix}images (the image folder)")
    if need_annotations and annotations is None:
        raise InputError(f"--{prefix}questions needs --{prefix}annotations for training and validation")
    return VQASource(questions=questions, annotations=annotations, images_dir=images,
                     image_pattern=getattr(args, f"{attribute}image_pattern"),
                     images_list=getattr(args, f"{attribute}images_list"))


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


def ensure_shapes_world(shapes_dir: Path, marker: str) -> None:
    """Generate the default shapes world in ``shapes_dir`` unless its file ``marker`` is there.

    Distributed, rank 0 generates it while the other processes wait.
    """
    with distributed.main_process_first():
        if not (shapes_dir / marker).exists():
            _generate_shapes_world(shapes_dir)


def _generate_shapes_world(shapes_dir: Path) -> None:
    print(f"generating the shapes world in {shapes_dir} ...", file=sys.stderr)
    config = ShapesConfig()
    with tqdm(total=config.train_size + config.val_size + config.test_size, unit="img", disable=None) as bar:
        generate_shapes_world(shapes_dir, config, lambda done, _total: bar.update(done - bar.n))


def progress_bar(iterable: Any, total: int, desc: str) -> Any:
    """A tqdm bar over a training epoch (the trainer's ``progress``); none on ranks other than 0."""
    return tqdm(iterable, total=total, desc=desc, disable=None if distributed.is_main_process() else True)


def _run_caption(args: argparse.Namespace) -> int:
    if not (args.coco_train or args.karpathy):
        ensure_shapes_world(args.shapes_dir, "captions_train.json")
    model = _model_overrides(args.set)
    if args.label_smoothing is not None:
        model["label_smoothing"] = args.label_smoothing
    task_config = CaptionTrainingConfig(
        model_name=args.model, model=model, min_count=args.min_count, eval_beam_size=args.eval_beam,
        eval_max_images=args.eval_images, scheduled_sampling_max=args.scheduled_sampling,
        self_critical=args.self_critical, scst_samples=args.scst_samples, scst_baseline=args.scst_baseline,
        init_from=args.init_from, feature_cache=args.feature_cache,
    )
    trainer_config = trainer_config_from_args(
        args, validation_metric="CIDEr", encoder_prefix="model.encoder." if args.self_critical else "encoder.")
    result = train_captioner(
        caption_records(args, "train"), caption_records(args, "val"), task_config, trainer_config, args.out,
        load_image=load_image, progress=progress_bar, resume_from=args.out if args.resume else None,
    )
    print(f"best validation CIDEr-D {result.best_metric} at step {result.best_step}; "
          f"checkpoints: {result.best_checkpoint} (best), {result.last_checkpoint} (last)")
    return 0


def _run_vqa(args: argparse.Namespace) -> int:
    train_source = vqa_source_from_args(args, "", need_annotations=True)
    val_source = vqa_source_from_args(args, "val-", need_annotations=True)
    if (train_source is None) != (val_source is None):
        raise InputError("VQA training on your own data needs both --questions (training) and --val-questions")
    if train_source is None or val_source is None:
        ensure_shapes_world(args.shapes_dir, "vqa_questions_train.json")
        train_source, val_source = shapes_source(args.shapes_dir, "train"), shapes_source(args.shapes_dir, "val")
    model = _model_overrides(args.set)
    if args.loss is not None:
        model["loss"] = args.loss
    task_config = VQATrainingConfig(
        model_name=args.model, model=model, num_answers=args.answers, min_word_count=args.min_count,
        group_by_image=not args.per_question, eval_max_questions=args.eval_questions, init_from=args.init_from,
    )
    result = train_vqa(
        train_source.read(), val_source.read(), task_config, trainer_config_from_args(args, validation_metric="accuracy"),
        args.out, load_image=load_image, progress=progress_bar, resume_from=args.out if args.resume else None,
    )
    print(f"best validation accuracy {result.best_metric} at step {result.best_step}; "
          f"checkpoints: {result.best_checkpoint} (best), {result.last_checkpoint} (last)")
    return 0


def run(args: argparse.Namespace) -> int:
    _check_amp(args.amp, args.device)
    if not args.distributed:
        return int(args._run_task(args))
    with torchrun_process_group(args.device) as device:
        args.device = str(device)  # cuda:<LOCAL_RANK> or cpu
        if distributed.is_main_process():
            return int(args._run_task(args))
        with contextlib.redirect_stdout(io.StringIO()):  # rank 0 alone reports; errors still reach stderr
            return int(args._run_task(args))


def _check_amp(amp: str, device: str) -> None:
    """Refuse ``--amp`` without CUDA before any data is read (the trainer would refuse it later)."""
    if amp == "off":
        return
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if not cuda:
        raise ConfigError(f"--amp {amp}: mixed precision runs on CUDA only; drop --amp on the CPU (--device {device})")
