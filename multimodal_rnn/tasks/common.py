"""What the task packages share above the base: the training options every ``mmrnn train TASK``
takes, model overrides, the shapes world on demand, and one way to hand a task's model, data and
validation to the :class:`~multimodal_rnn.training.trainer.Trainer`.

A task's training module builds a :class:`TrainingSetup` (its model, datasets, collate function,
validation callback and checkpoint header fields) and calls :func:`run_training`; checkpoints,
resume and logging are then the same for every task.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from multimodal_rnn.errors import ConfigError, InputError
from multimodal_rnn.options import (
    add_output_argument,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from multimodal_rnn.tasks.protocol import ProgressFactory, RunContext

if TYPE_CHECKING:  # the command-line options below are declared without importing torch
    from torch import nn
    from torch.utils.data import Dataset

    from multimodal_rnn.registry import Registry
    from multimodal_rnn.training.trainer import Callback, Trainer, TrainerConfig, TrainResult

__all__ = [
    "TrainingLog",
    "TrainingSetup",
    "add_image_location_arguments",
    "add_trainer_arguments",
    "image_location_from_args",
    "ensure_shapes_world",
    "model_overrides",
    "run_training",
    "trainer_config_from_args",
    "train_report_line",
]


@dataclass
class TrainingSetup:
    """Everything task-specific the trainer needs.

    Attributes:
        task: the task name written into checkpoints.
        model_name: the registered model name written into checkpoints.
        model: the model whose weights are saved (it must have a ``config`` dataclass).
        train_set: the training dataset; ``collate`` turns a list of its items into a batch (or
            None for a batch that cannot be used, e.g. every image unreadable).
        evaluate: ``evaluate(module) -> {metric: value}`` on the validation split; it must use
            the module as given (the trainer has moved it to its device).
        vocab / answers / extra: what every checkpoint's header carries besides the config.
        module: what the trainer optimizes, when it is not ``model`` itself (a wrapper such as
            the self-critical objective, holding ``model``).
        callbacks: trainer event callbacks.
        on_trainer: called with the trainer before :meth:`Trainer.fit` (e.g. to read its
            ``steps_per_epoch``).
    """

    task: str
    model_name: str
    model: nn.Module
    train_set: Dataset
    collate: Callable[[list[Any]], Any]
    evaluate: Callable[[nn.Module], Mapping[str, float]]
    vocab: dict[str, Any] | None = None
    answers: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    module: nn.Module | None = None
    callbacks: Sequence[Callback] = ()
    on_trainer: Callable[[Trainer], None] | None = None


@dataclass(frozen=True)
class TrainingLog:
    """Where a run's progress lines go.

    Attributes:
        write: the sink (a :class:`RunContext`'s ``log``).
        steps: also a line every ``log_every`` updates (for output that is not a terminal, where no
            bar is drawn); there is always one line per epoch (loss, items/s, validation scores,
            elapsed time).
        start_lines: written once the model and trainer are built, just before the first step
            (e.g. where the validation data came from), so that a configuration error stays one line.
    """

    write: Callable[[str], None]
    steps: bool = False
    start_lines: Sequence[str] = ()

    @classmethod
    def of(cls, context: RunContext, start_lines: Sequence[str] = ()) -> TrainingLog:
        """The log of a command's context: step lines when its output is not a terminal."""
        return cls(context.log, steps=not context.interactive, start_lines=tuple(start_lines))


def run_training(
    setup: TrainingSetup,
    trainer_config: TrainerConfig,
    out_dir: str | Path,
    *,
    progress: ProgressFactory | None = None,
    log: TrainingLog | None = None,
    resume_from: str | Path | None = None,
) -> TrainResult:
    """Train ``setup`` with the one :class:`Trainer`; checkpoints go to ``out_dir``.

    ``progress`` (e.g. a :class:`RunContext`'s) draws each epoch's bar; ``log`` gets the progress
    lines (see :class:`TrainingLog`). Only the main process of a distributed run draws or logs.
    """
    from multimodal_rnn.checkpoint import save_checkpoint
    from multimodal_rnn.training import distributed
    from multimodal_rnn.training.progress import ProgressLines
    from multimodal_rnn.training.trainer import Trainer

    def save_model(path: Path, module: nn.Module, step: int, metrics: Mapping[str, float]) -> None:
        model = setup.model
        save_checkpoint(path, model, task=setup.task, model_name=setup.model_name, model_config=model.config,
                        vocab=setup.vocab, answers=setup.answers, step=step, metrics=dict(metrics), extra=setup.extra)

    main = distributed.is_main_process()
    show = progress is not None and main
    log = log if main else None
    lines = ProgressLines(log.write, epochs=trainer_config.epochs, every_step=log.steps) if log is not None else None
    trainer = Trainer(setup.module or setup.model, trainer_config, setup.train_set, setup.collate, out_dir,
                      evaluate=setup.evaluate, save_model=save_model,
                      callbacks=(*setup.callbacks, lines) if lines is not None else setup.callbacks,
                      progress=progress if show else None, resume_from=resume_from)
    if lines is not None:
        lines.total_steps = trainer.total_steps
    if setup.on_trainer is not None:
        setup.on_trainer(trainer)
    if log is not None:
        for line in log.start_lines:
            log.write(line)
    return trainer.fit()


def add_trainer_arguments(parser: argparse.ArgumentParser, *, metric: str, epochs: int, batch_size: int, lr: float,
                          warmup_steps: int) -> None:
    """The options every ``mmrnn train <task>`` shares: run folder, model overrides, optimizer, schedule."""
    add_output_argument(parser, "--out", folder=True, required=True, metavar="DIR", help="run folder")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="model option, e.g. --set hidden_size=512 --set cell=gru (JSON values)")
    parser.add_argument("--epochs", type=positive_int, default=epochs, help="(default: %(default)s)")
    parser.add_argument("--batch-size", type=positive_int, default=batch_size, help="(default: %(default)s)")
    parser.add_argument("--lr", type=positive_float, default=lr, help="(default: %(default)s)")
    parser.add_argument("--encoder-lr", type=non_negative_float, default=None,
                        help="learning rate of the image encoder (default: --lr; 0 freezes it)")
    parser.add_argument("--weight-decay", type=non_negative_float, default=0.0)
    parser.add_argument("--grad-clip", type=positive_float, default=5.0)
    parser.add_argument("--schedule", choices=["constant", "cosine", "step"], default="cosine")
    parser.add_argument("--warmup-steps", type=non_negative_int, default=warmup_steps, help="(default: %(default)s)")
    parser.add_argument("--patience", type=positive_int, default=None,
                        help=f"early stopping after N evaluations without a better {metric}")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: %(default)s)")
    parser.add_argument("--amp", choices=["off", "bf16", "fp16"], default="off",
                        help="mixed precision on CUDA: bfloat16, or float16 with loss scaling (default: %(default)s)")
    parser.add_argument("--distributed", action="store_true",
                        help="one of several processes started by torchrun (DistributedDataParallel; NCCL on GPUs, "
                             "gloo on CPUs); --batch-size is per process")
    parser.add_argument("--max-steps", type=positive_int, default=None,
                        help="stop after N updates (smoke runs); the stop is validated too, so best.safetensors exists")
    parser.add_argument("--log-every", type=positive_int, default=10, metavar="N",
                        help="log the training loss every N updates (metrics.jsonl; also a line on stderr when it is "
                             "not a terminal, besides one line per epoch) (default: %(default)s)")
    parser.add_argument("--init-from", metavar="CKPT", help="start from this checkpoint's weights and vocabulary")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--tensorboard", action="store_true",
                        help="also log to TensorBoard in --out (needs the tensorboard package)")


def trainer_config_from_args(args: argparse.Namespace, *, validation_metric: str,
                             encoder_prefix: str = "encoder.") -> TrainerConfig:
    """The :class:`TrainerConfig` of the options added by :func:`add_trainer_arguments`."""
    from multimodal_rnn.training.trainer import TrainerConfig

    return TrainerConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, encoder_lr=args.encoder_lr,
        encoder_prefix=encoder_prefix, weight_decay=args.weight_decay, grad_clip=args.grad_clip,
        schedule=args.schedule, warmup_steps=args.warmup_steps, validation_metric=validation_metric,
        metric_mode="max", early_stopping_patience=args.patience, seed=args.seed, device=args.device,
        max_steps=args.max_steps, log_every=args.log_every, tensorboard=args.tensorboard,
        amp=args.amp != "off", amp_dtype="float16" if args.amp == "fp16" else "bfloat16",
    )


def model_overrides(
    pairs: Sequence[str], *, models: Registry | None = None, model_name: str | None = None
) -> dict[str, object]:
    """``--set KEY=VALUE`` pairs as a dict; values are JSON when they parse, strings otherwise.

    With ``models`` and ``model_name`` the keys and values are checked against that model's
    config (:meth:`Registry.check_overrides`) here, before the command reads any data.
    """
    overrides: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {pair!r}: expected KEY=VALUE")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
        except RecursionError:
            raise ConfigError(f"--set {key}: value nested too deep") from None
    if models is not None and model_name is not None:
        models.check_overrides(model_name, overrides)
    return overrides


def ensure_shapes_world(shapes_dir: Path, marker: str, context: RunContext) -> None:
    """Generate the default shapes world in ``shapes_dir`` unless its file ``marker`` is there.

    Distributed, rank 0 generates it while the other processes wait.
    """
    from multimodal_rnn.datasets.shapes.world import ShapesConfig, generate_shapes_world
    from multimodal_rnn.training import distributed

    with distributed.main_process_first():
        if not (shapes_dir / marker).exists():
            context.log(f"generating the shapes world in {shapes_dir} ...")
            config = ShapesConfig()
            total = config.train_size + config.val_size + config.test_size
            bar = iter(context.progress(range(total), total, "shapes world"))
            done = [0]

            def advance(count: int, _total: int) -> None:
                for _ in range(count - done[0]):
                    next(bar, None)
                done[0] = count

            generate_shapes_world(shapes_dir, config, advance)
            for _ in bar:  # close the bar
                pass



def train_report_line(result: TrainResult, metric: str) -> str:
    """The closing line of every ``mmrnn train TASK``."""
    return (f"best validation {metric} {result.best_metric} at step {result.best_step}; "
            f"checkpoints: {result.best_checkpoint} (best), {result.last_checkpoint} (last)")


def add_image_location_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, prefix: str, split: str,
                                 *, default_pattern: str) -> None:
    """``--{prefix}images DIR``, ``--{prefix}image-pattern`` and ``--{prefix}images-list``: where the
    images of one split of a dataset file (VQA, VisDial, ...) are."""
    parser.add_argument(f"--{prefix}images", type=Path, metavar="DIR", help=f"image folder of the {split}")
    parser.add_argument(f"--{prefix}image-pattern", default=default_pattern, metavar="PATTERN",
                        help="image file name with {image_id} (default: %(default)s)")
    parser.add_argument(f"--{prefix}images-list", type=Path, metavar="JSON",
                        help="COCO-style file whose 'images' give each id's file_name (instead of --image-pattern)")


def image_location_from_args(args: argparse.Namespace, prefix: str, *, needed_by: str) -> dict[str, Any]:
    """``{"images_dir", "image_pattern", "images_list"}`` from :func:`add_image_location_arguments`'
    options; ``--{prefix}images`` is required (``needed_by`` names the option that needs it)."""
    attribute = prefix.replace("-", "_")
    images = getattr(args, f"{attribute}images")
    if images is None:
        raise InputError(f"--{prefix}{needed_by} needs --{prefix}images (the image folder)")
    return {"images_dir": images, "image_pattern": getattr(args, f"{attribute}image_pattern"),
            "images_list": getattr(args, f"{attribute}images_list")}


def add_image_reading_arguments(parser: argparse.ArgumentParser) -> None:
    """``--max-bad-images`` and ``--workers``: how a predict command reads its images."""
    parser.add_argument("--max-bad-images", type=non_negative_int, default=100, metavar="N",
                        help="give up after this many unreadable images (default: %(default)s)")
    parser.add_argument("--workers", type=non_negative_int, default=None, metavar="N",
                        help="processes reading images while the model runs; 0: none "
                             "(default: 2 with more than 2 cores, else 0)")
