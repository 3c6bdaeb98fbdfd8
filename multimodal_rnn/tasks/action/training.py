"""Training an action classifier: the clip datasets, the validation metric and the checkpoint header.

:func:`action_training_setup` turns labelled clip records (:class:`~multimodal_rnn.datasets.video_records.VideoRecord`)
into the :class:`~multimodal_rnn.tasks.common.TrainingSetup` the one trainer runs: the model from
the registry (its ``num_classes`` from the class list), training clips with random frame sampling
and a random shift per clip, and a validation callback that classifies the validation clips
(uniform sampling) and reports top-1 and top-5 accuracy. The class names go into the checkpoint
header (``extra["classes"]``), where :class:`~multimodal_rnn.tasks.action.predictor.ActionClassifier` reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from multimodal_rnn.datasets.video_records import VideoRecord
from multimodal_rnn.metrics.video import clip_metrics
from multimodal_rnn.tasks.action.models import LRCN, MODELS
from multimodal_rnn.tasks.action.predictor import ActionClassifier
from multimodal_rnn.tasks.clip_training import (
    ClipTrainingConfig,
    clip_training_setup,
    clip_validation,
    initial_clip_model,
)
from multimodal_rnn.tasks.common import TrainingSetup

VALIDATION_METRICS = ("top1", "top5")


@dataclass(frozen=True, kw_only=True)
class ActionTrainingConfig(ClipTrainingConfig):
    """What the action task adds to the trainer's options (:class:`ClipTrainingConfig`): a
    registered action model (default ``lrcn``) and the class names in ``classInd.txt`` order."""

    model_name: str = "lrcn"


def make_validation(
    records: Sequence[VideoRecord], classes: Sequence[str], *, batch_size: int = 32, max_bad_clips: int = 100
) -> Callable[[nn.Module], dict[str, float]]:
    """``evaluate(model) -> {"top1", "top5"}`` (fractions) on ``records``, uniform frame sampling.

    Unreadable clips are left out of the scores; when none can be read, ``evaluate`` raises an
    InputError (a score that measured nothing).
    """

    def classifier(module: nn.Module) -> ActionClassifier:
        assert isinstance(module, LRCN)
        return ActionClassifier(module, classes)

    def score(ranked: list[list[str]], truth: list[str]) -> dict[str, float]:
        scores = clip_metrics(ranked, truth)
        return {name: scores[name] for name in VALIDATION_METRICS}

    return clip_validation(
        records, classifier, _ranked, score, classes=classes, batch_size=batch_size, max_bad_clips=max_bad_clips
    )


def _ranked(classifier: ActionClassifier, batch: dict[str, Any]) -> Iterator[tuple[list[str], str]]:
    """(the ranked class names, the true class) of every clip of a batch."""
    for result, label in zip(classifier.classify_tensors(batch["frames"], batch["length"]), batch["label_name"]):
        yield [name for name, _ in result.classes], label


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
    model = initial_clip_model(
        config,
        task="action",
        registry=MODELS,
        model_class=LRCN,
        no_classes="no action classes: the dataset's classInd.txt lists none",
    )
    return clip_training_setup(
        train_records,
        val_records,
        model,
        make_validation,
        config,
        task="action",
        per_frame=False,
        seed=seed,
        validation=validation,
    )
