"""Training a frame labeler: the clip datasets, the validation metric and the checkpoint header.

:func:`frames_training_setup` turns clip records with per-frame labels into the
:class:`~multimodal_rnn.tasks.common.TrainingSetup` the one trainer runs: the model from the
registry (``num_classes`` from the frame classes), training clips with random frame sampling and a
random shift per clip, and a validation callback that labels the frames of the validation clips
(uniform sampling) and reports the frame accuracy and the segmental F1@k. The class names go into
the checkpoint header (``extra["classes"]``), where
:class:`~multimodal_rnn.tasks.frames.predictor.FrameLabeler` reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from multimodal_rnn.datasets.video_records import VideoRecord
from multimodal_rnn.metrics.video import frame_metrics
from multimodal_rnn.tasks.clip_training import (
    ClipTrainingConfig,
    clip_training_setup,
    clip_validation,
    initial_clip_model,
)
from multimodal_rnn.tasks.common import TrainingSetup
from multimodal_rnn.tasks.frames.models import MODELS, FrameRNN
from multimodal_rnn.tasks.frames.predictor import FrameLabeler


@dataclass(frozen=True, kw_only=True)
class FramesTrainingConfig(ClipTrainingConfig):
    """What the frames task adds to the trainer's options (:class:`ClipTrainingConfig`): a
    registered frames model (default ``frame_rnn``) and the frame classes."""

    model_name: str = "frame_rnn"


def make_validation(
    records: Sequence[VideoRecord], classes: Sequence[str], *, batch_size: int = 32, max_bad_clips: int = 100
) -> Callable[[nn.Module], dict[str, float]]:
    """``evaluate(model) -> {"frame_accuracy", "F1@0.1", "F1@0.25", "F1@0.5"}`` (fractions) over the
    sampled frames of ``records`` (uniform sampling); unreadable clips are left out."""

    def labeler(module: nn.Module) -> FrameLabeler:
        assert isinstance(module, FrameRNN)
        return FrameLabeler(module, classes)

    def score(predicted: list[tuple[str, ...]], truth: list[tuple[str, ...]]) -> dict[str, float]:
        return dict(frame_metrics(predicted, truth))

    return clip_validation(records, labeler, _labels, score, batch_size=batch_size, max_bad_clips=max_bad_clips)


def _labels(labeler: FrameLabeler, batch: dict[str, Any]) -> Iterator[tuple[tuple[str, ...], tuple[str, ...]]]:
    """(the predicted labels, the true labels) of the sampled frames of every clip of a batch."""
    for result, names in zip(labeler.label_tensors(batch["frames"], batch["length"]), batch["frame_label_names"]):
        yield result.labels, names


def frames_training_setup(
    train_records: Sequence[VideoRecord],
    val_records: Sequence[VideoRecord],
    config: FramesTrainingConfig,
    *,
    seed: int = 0,
    validation: Mapping[str, Any] | None = None,
) -> TrainingSetup:
    """The model, data, validation and checkpoint header of a frames run (seed the RNGs first)."""
    model = initial_clip_model(
        config,
        task="frames",
        registry=MODELS,
        model_class=FrameRNN,
        no_classes="no frame classes: the per-frame labels file has none",
    )
    return clip_training_setup(
        train_records,
        val_records,
        model,
        make_validation,
        config,
        task="frames",
        per_frame=True,
        seed=seed,
        validation=validation,
    )
