"""Training a clip classifier: the steps the action task (a class per clip) and the frames task (a
class per frame) share.

:func:`initial_clip_model` makes the run's model (from the registry, or from a checkpoint of the
same classes); :func:`clip_training_setup` the :class:`~multimodal_rnn.tasks.common.TrainingSetup`
the one trainer runs: training clips with random frame sampling (new frames every epoch,
:class:`EpochSampling`) and a random shift per clip, the task's validation, and the class names
in the checkpoint header (``extra["classes"]``). :func:`clip_validation` runs a task's predictor
over the validation clips (uniform sampling, the model's own frame count and transform) and
scores what it predicts. :func:`run_clip_training` is the whole of ``mmrnn train action|frames``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from torch import nn

from multimodal_rnn.config import config_to_dict
from multimodal_rnn.datasets.video_clips import ClipDataset, collate_clips
from multimodal_rnn.datasets.video_records import VideoRecord
from multimodal_rnn.encoders.clip import build_clip_transform
from multimodal_rnn.errors import ConfigError, InputError
from multimodal_rnn.registry import Registry
from multimodal_rnn.tasks.common import (
    TrainingLog,
    TrainingSetup,
    model_overrides,
    run_training,
    train_report_line,
    trainer_config_from_args,
)
from multimodal_rnn.tasks.loading import load_with_classes
from multimodal_rnn.tasks.protocol import Report, RunContext
from multimodal_rnn.tasks.video_data import readable_batches, training_clips
from multimodal_rnn.training.state import seed_everything
from multimodal_rnn.training.trainer import Trainer, TrainerEvent

M = TypeVar("M", bound=nn.Module)
R = TypeVar("R")
P = TypeVar("P")
T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class ClipTrainingConfig:
    """What a clip classification task adds to the trainer's options (written into the checkpoint
    header's ``extra["training"]``).

    Attributes:
        model_name: a model of the task's registry.
        model: overrides of the model's config (``num_classes`` is filled in from ``classes``).
        classes: the class names, in class-number order.
        max_bad_clips: unreadable clips skipped (and counted) before the run stops.
        init_from: a checkpoint of the task whose weights start the run (same classes).
    """

    model_name: str
    model: dict[str, Any] = field(default_factory=dict)
    classes: tuple[str, ...] = ()
    max_bad_clips: int = 100
    init_from: str | None = None


def initial_clip_model(
    config: ClipTrainingConfig, *, task: str, registry: Registry, model_class: type[M], no_classes: str
) -> M:
    """The model a run starts from, in training mode: ``config.init_from``'s (its classes must be
    ``config.classes``), else a new ``config.model_name`` of ``registry`` with one output per class
    (the encoder's pretrained weights loaded).

    Raises:
        ConfigError: an unknown model name, or a starting checkpoint of other classes.
        InputError: no classes (``no_classes`` is the message).
    """
    if config.model_name not in registry.names(task=task):
        raise ConfigError(f"unknown {task} model {config.model_name!r} (known: {', '.join(registry.names())})")
    if not config.classes:
        raise InputError(no_classes)
    if config.init_from is not None:
        start, _, classes = load_with_classes(config.init_from, registry=registry, task=task, model_class=model_class)
        if list(classes) != list(config.classes):
            raise ConfigError(f"{config.init_from}: its classes differ from the dataset's")
        return start.train()
    model_config = registry.config(config.model_name, {**config.model, "num_classes": len(config.classes)})
    model = registry.build(config.model_name, model_config, load_encoder_weights=True)
    assert isinstance(model, model_class)
    return model


def clip_validation(
    records: Sequence[VideoRecord],
    predictor: Callable[[nn.Module], R],
    pairs: Callable[[R, dict[str, Any]], Iterable[tuple[P, T]]],
    score: Callable[[list[P], list[T]], dict[str, float]],
    *,
    classes: Sequence[str] | None = None,
    batch_size: int = 32,
    max_bad_clips: int = 100,
) -> Callable[[nn.Module], dict[str, float]]:
    """``evaluate(model) -> score(predicted, truth)`` over the validation clips ``records``.

    ``predictor(model)`` makes the task's predictor (in eval mode), ``pairs(predictor, batch)`` gives
    ``(predicted, true)`` for every clip of a batch of :func:`~multimodal_rnn.datasets.video_clips.collate_clips`,
    and ``score`` turns all of them into the metrics (fractions). The clips are read once the model
    exists (its ``config.num_frames``, uniform sampling, its encoder's transform; ``classes`` give
    the items their class numbers); unreadable ones are left out, and the model's training mode
    after the call is the one it had under its predictor.

    Raises:
        InputError: no validation records; at evaluation, none of the clips could be read.
    """
    if not records:
        raise InputError("no validation clips: the validation split is empty")
    state: dict[str, ClipDataset] = {}

    def evaluate(module: nn.Module) -> dict[str, float]:
        run = predictor(module)
        if "dataset" not in state:  # the model's own frame count and transform, known once it exists
            config: Any = module.config
            state["dataset"] = ClipDataset(
                records,
                num_frames=config.num_frames,
                transform=build_clip_transform(config.encoder),
                classes=classes,
                max_bad_clips=max_bad_clips,
            )
        dataset = state["dataset"]
        predicted: list[P] = []
        truth: list[T] = []
        was_training = module.training
        try:
            for batch in readable_batches(dataset, batch_size=batch_size):
                for guess, true in pairs(run, batch):
                    predicted.append(guess)
                    truth.append(true)
        finally:
            module.train(was_training)
        if not truth:
            raise InputError(f"validation read nothing: none of its {len(dataset)} clips could be read")
        return score(predicted, truth)

    return evaluate


class EpochSampling:
    """Tells the training clips which epoch it is, so ``random`` sampling draws new frames."""

    def __init__(self, dataset: ClipDataset) -> None:
        self.dataset = dataset

    def attach(self, trainer: Trainer) -> None:
        self.dataset.set_epoch(trainer.epoch)

    def on_event(self, event: TrainerEvent) -> None:
        if event.kind == "epoch_end":
            self.dataset.set_epoch(event.epoch + 1)


def collate_readable(items: list[Any]) -> dict[str, Any] | None:
    """:func:`~multimodal_rnn.datasets.video_clips.collate_clips`, or None when no clip of the batch
    could be read (the trainer skips the batch)."""
    batch = collate_clips(items)
    return batch if "frames" in batch else None


class ValidationFactory(Protocol):
    """A task's ``make_validation``: ``evaluate(model) -> metrics`` over validation clips."""

    def __call__(
        self, records: Sequence[VideoRecord], classes: Sequence[str], *, max_bad_clips: int
    ) -> Callable[[nn.Module], dict[str, float]]: ...


def clip_training_setup(
    train_records: Sequence[VideoRecord],
    val_records: Sequence[VideoRecord],
    model: nn.Module,
    make_validation: ValidationFactory,
    config: ClipTrainingConfig,
    *,
    task: str,
    per_frame: bool,
    seed: int = 0,
    validation: Mapping[str, Any] | None = None,
) -> TrainingSetup:
    """The :class:`TrainingSetup` of a clip classification run of ``task``: ``model`` trained on
    ``train_records`` (its frame count, ``random`` sampling seeded by ``seed``, the training
    transform; the labels of the clips, or with ``per_frame`` of their frames, as class numbers of
    ``config.classes``), ``make_validation`` on ``val_records`` as the validation, and the
    header's ``extra``: the classes, the training config and ``validation`` (where the validation
    clips came from), if given."""
    model_config: Any = model.config
    classes = list(config.classes)
    train_set = ClipDataset(
        train_records,
        num_frames=model_config.num_frames,
        sampling="random",
        seed=seed,
        transform=build_clip_transform(model_config.encoder, train=True),
        classes=None if per_frame else classes,
        frame_classes=classes if per_frame else None,
        max_bad_clips=config.max_bad_clips,
    )
    evaluate = make_validation(val_records, classes, max_bad_clips=config.max_bad_clips)
    extra: dict[str, Any] = {"classes": classes, "training": config_to_dict(config)}
    if validation is not None:
        extra["validation"] = dict(validation)
    sampling = EpochSampling(train_set)
    return TrainingSetup(
        task=task,
        model_name=config.model_name,
        model=model,
        train_set=train_set,
        collate=collate_readable,
        evaluate=evaluate,
        callbacks=(sampling.on_event,),
        on_trainer=sampling.attach,
        extra=extra,
    )


class SetupFactory(Protocol):
    """A task's ``*_training_setup``: the :class:`TrainingSetup` of a run (the RNGs seeded first)."""

    def __call__(
        self,
        train_records: Sequence[VideoRecord],
        val_records: Sequence[VideoRecord],
        config: Any,
        *,
        seed: int,
        validation: Mapping[str, Any] | None,
    ) -> TrainingSetup: ...


def run_clip_training(
    args: argparse.Namespace,
    context: RunContext,
    *,
    registry: Registry,
    config_class: type[ClipTrainingConfig],
    make_setup: SetupFactory,
    classes: Callable[[argparse.Namespace, RunContext], list[str]],
    with_frame_labels: bool,
    validation_metric: str,
    metric_name: str,
) -> Report:
    """Train a clip classifier from the options of ``mmrnn train action|frames``: the model
    (``--model``, ``--set``) of ``registry``, the clips of the options' dataset (with per-frame
    labels if asked; the validation split logged), ``classes(args, context)`` as its classes, and
    the trainer's options (best checkpoint: the highest ``validation_metric``). The RNGs are seeded
    with ``--seed`` before the model is made, so the initial weights depend on it alone. The report
    is the closing line, with the best ``metric_name``."""
    model = model_overrides(args.set, models=registry, model_name=args.model)
    lines: list[str] = []
    train, val, validation = training_clips(args, context, lines.append, with_frame_labels=with_frame_labels)
    task_config = config_class(
        model_name=args.model,
        model=model,
        classes=tuple(classes(args, context)),
        max_bad_clips=args.max_bad_clips,
        init_from=args.init_from,
    )
    trainer_config = trainer_config_from_args(args, validation_metric=validation_metric)
    log = TrainingLog.of(context, lines)
    seed_everything(trainer_config.seed)
    setup = make_setup(train, val, task_config, seed=trainer_config.seed, validation=validation)
    resume_from = args.out if args.resume else None
    result = run_training(setup, trainer_config, args.out, progress=context.progress, log=log, resume_from=resume_from)
    return Report(lines=(train_report_line(result, metric_name),))
