"""Training an action classifier: the clip datasets, the validation metric and the checkpoint header.

:func:`action_training_setup` turns labelled clip records (:class:`~multimodal_rnn.datasets.video_records.VideoRecord`)
into the :class:`~multimodal_rnn.tasks.common.TrainingSetup` the one trainer runs: the model from
the registry (its ``num_classes`` from the class list), training clips with random frame sampling
and a random shift per clip, and a validation callback that classifies the validation clips
(uniform sampling) and reports top-1 and top-5 accuracy. The class names go into the checkpoint
header (``extra["classes"]``), where :class:`~multimodal_rnn.tasks.action.predictor.ActionClassifier` reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from multimodal_rnn.config import config_to_dict
from multimodal_rnn.datasets.image_reader import read_batches
from multimodal_rnn.datasets.video_clips import ClipDataset, collate_clips
from multimodal_rnn.datasets.video_records import VideoRecord
from multimodal_rnn.encoders.clip import build_clip_transform
from multimodal_rnn.errors import ConfigError, InputError
from multimodal_rnn.metrics.video import clip_metrics
from multimodal_rnn.tasks.action.models import LRCN, MODELS
from multimodal_rnn.tasks.action.predictor import ActionClassifier
from multimodal_rnn.tasks.common import TrainingLog, TrainingSetup, run_training
from multimodal_rnn.tasks.protocol import ProgressFactory
from multimodal_rnn.training.state import seed_everything
from multimodal_rnn.training.trainer import Trainer, TrainerConfig, TrainerEvent, TrainResult

VALIDATION_METRICS = ("top1", "top5")


@dataclass(frozen=True, kw_only=True)
class ActionTrainingConfig:
    """What the action task adds to the trainer's options.

    Attributes:
        model_name: a registered action model (``lrcn``).
        model: overrides of the model's config (``num_classes`` is filled in from ``classes``).
        classes: the class names, in class-number order (``classInd.txt``).
        max_bad_clips: unreadable clips skipped (and counted) before the run stops.
        init_from: an action checkpoint whose weights start the run (same classes).
    """

    model_name: str = "lrcn"
    model: dict[str, Any] = field(default_factory=dict)
    classes: tuple[str, ...] = ()
    max_bad_clips: int = 100
    init_from: str | None = None


def make_validation(
    records: Sequence[VideoRecord], classes: Sequence[str], *, batch_size: int = 32, max_bad_clips: int = 100
) -> Callable[[torch.nn.Module], dict[str, float]]:
    """``evaluate(model) -> {"top1", "top5"}`` (fractions) on ``records``, uniform frame sampling.

    Unreadable clips are left out of the scores; when none can be read, ``evaluate`` raises an
    InputError (a score that measured nothing).
    """
    if not records:
        raise InputError("no validation clips: the validation split is empty")
    state: dict[str, ClipDataset] = {}

    def evaluate(module: torch.nn.Module) -> dict[str, float]:
        assert isinstance(module, LRCN)
        if "dataset" not in state:  # the model's own frame count and transform, known once it exists
            state["dataset"] = ClipDataset(
                records,
                num_frames=module.config.num_frames,
                transform=build_clip_transform(module.config.encoder),
                classes=classes,
                max_bad_clips=max_bad_clips,
            )
        dataset = state["dataset"]
        classifier = ActionClassifier(module, classes)
        ranked: list[list[str]] = []
        truth: list[str] = []
        batches = [range(start, min(start + batch_size, len(dataset))) for start in range(0, len(dataset), batch_size)]
        was_training = module.training
        try:
            for batch in read_batches(dataset, dataset.reader, batches, collate_clips):
                if "frames" not in batch:
                    continue
                for result, label in zip(
                    classifier.classify_tensors(batch["frames"], batch["length"]), batch["label_name"]
                ):
                    ranked.append([name for name, _ in result.classes])
                    truth.append(label)
        finally:
            module.train(was_training)
        if not truth:
            raise InputError(f"validation read nothing: none of its {len(dataset)} clips could be read")
        scores = clip_metrics(ranked, truth)
        return {name: scores[name] for name in VALIDATION_METRICS}

    return evaluate


class _EpochSampling:
    """Tells the training clips which epoch it is, so ``random`` sampling draws new frames."""

    def __init__(self, dataset: ClipDataset) -> None:
        self.dataset = dataset

    def attach(self, trainer: Trainer) -> None:
        self.dataset.set_epoch(trainer.epoch)

    def on_event(self, event: TrainerEvent) -> None:
        if event.kind == "epoch_end":
            self.dataset.set_epoch(event.epoch + 1)


def _collate(items: list[Any]) -> dict[str, Any] | None:
    batch = collate_clips(items)
    return batch if "frames" in batch else None  # every clip unreadable: the trainer skips the batch


def action_training_setup(
    train_records: Sequence[VideoRecord],
    val_records: Sequence[VideoRecord],
    config: ActionTrainingConfig,
    *,
    seed: int = 0,
    validation: Mapping[str, Any] | None = None,
) -> TrainingSetup:
    """The model, data, validation and checkpoint header of an action run (seed the RNGs first:
    the initial weights depend on them); ``validation`` (where the validation clips came from)
    goes into the header's ``extra["validation"]``."""
    model = _initial_model(config)
    classes = list(config.classes)
    train_set = ClipDataset(
        train_records,
        num_frames=model.config.num_frames,
        sampling="random",
        seed=seed,
        transform=build_clip_transform(model.config.encoder, train=True),
        classes=classes,
        max_bad_clips=config.max_bad_clips,
    )
    evaluate = make_validation(val_records, classes, max_bad_clips=config.max_bad_clips)
    extra: dict[str, Any] = {"classes": classes, "training": config_to_dict(config)}
    if validation is not None:
        extra["validation"] = dict(validation)
    sampling = _EpochSampling(train_set)
    return TrainingSetup(
        task="action",
        model_name=config.model_name,
        model=model,
        train_set=train_set,
        collate=_collate,
        evaluate=evaluate,
        callbacks=(sampling.on_event,),
        on_trainer=sampling.attach,
        extra=extra,
    )


def train_action(
    train_records: Sequence[VideoRecord],
    val_records: Sequence[VideoRecord],
    config: ActionTrainingConfig,
    trainer_config: TrainerConfig,
    out_dir: str | Path,
    *,
    validation: Mapping[str, Any] | None = None,
    progress: ProgressFactory | None = None,
    log: TrainingLog | None = None,
    resume_from: str | Path | None = None,
) -> TrainResult:
    """Train an action classifier; checkpoints go to ``out_dir`` (best: highest validation top-1)."""
    seed_everything(trainer_config.seed)  # the initial weights depend on the seed only
    setup = action_training_setup(train_records, val_records, config, seed=trainer_config.seed, validation=validation)
    return run_training(setup, trainer_config, out_dir, progress=progress, log=log, resume_from=resume_from)


def _initial_model(config: ActionTrainingConfig) -> LRCN:
    if config.model_name not in MODELS.names(task="action"):
        raise ConfigError(f"unknown action model {config.model_name!r} (known: {', '.join(MODELS.names())})")
    if not config.classes:
        raise InputError("no action classes: the dataset's classInd.txt lists none")
    if config.init_from is not None:
        start = ActionClassifier.from_checkpoint(config.init_from)
        if list(start.classes) != list(config.classes):
            raise ConfigError(f"{config.init_from}: its classes differ from the dataset's")
        return start.model.train()
    model_config = MODELS.config(config.model_name, {**config.model, "num_classes": len(config.classes)})
    model = MODELS.build(config.model_name, model_config, load_encoder_weights=True)
    assert isinstance(model, LRCN)
    return model
