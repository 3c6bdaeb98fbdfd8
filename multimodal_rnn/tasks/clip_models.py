"""What the two clip classifiers share: the action task's LRCN (a class per clip) and the frames
task's FrameRNN (a class per frame) read a clip the same way and are loaded the same way.

:class:`ClipSequenceModel` is their trunk: every frame through the shared image encoder
(:class:`~multimodal_rnn.encoders.clip.ClipEncoder`), optionally each frame's feature change
beside it, then the recurrent cores over time
(:class:`~multimodal_rnn.recurrent.bidirectional.SequenceCores`) and a linear classifier whose
input is the cores' output; a task's model adds only how it pools and scores.
:func:`check_clip_config` is their configs' shared validation. :class:`ClipPredictor` is the base
of their predictors: the model, its class names and its clip transform, loaded from a checkpoint
whose header lists the classes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Protocol, TypeVar

import torch
from torch import nn

from multimodal_rnn.checkpoint import Checkpoint
from multimodal_rnn.encoders.clip import (
    ClipEncoder,
    ClipFrames,
    ClipTransform,
    build_clip_transform,
    stack_clips,
    with_differences,
)
from multimodal_rnn.encoders.image import ImageEncoderConfig
from multimodal_rnn.errors import ConfigError
from multimodal_rnn.recurrent import CoreConfig
from multimodal_rnn.recurrent.bidirectional import SequenceCores
from multimodal_rnn.registry import Registry
from multimodal_rnn.tasks.loading import load_with_classes
from multimodal_rnn.tasks.protocol import Predictor


class ClipModelConfig(Protocol):
    """The fields of a clip classifier's config that the trunk, the checks and the predictor read."""

    @property
    def num_classes(self) -> int: ...
    @property
    def encoder(self) -> ImageEncoderConfig: ...
    @property
    def spatial_size(self) -> int | None: ...
    @property
    def differences(self) -> bool: ...
    @property
    def cell(self) -> str: ...
    @property
    def hidden_size(self) -> int: ...
    @property
    def num_layers(self) -> int: ...
    @property
    def bidirectional(self) -> bool: ...
    @property
    def dropout(self) -> float: ...
    @property
    def num_frames(self) -> int: ...
    @property
    def label_smoothing(self) -> float: ...


def check_clip_config(config: ClipModelConfig, choices: Mapping[str, Sequence[str]] | None = None) -> None:
    """Raise :class:`ConfigError` on the first bad value of a clip classifier's config: fewer than one
    class, a field of ``choices`` (field name -> allowed values, checked in that order) with another
    value, fewer than one frame, a dropout or label smoothing outside [0, 1)."""
    if config.num_classes < 1:
        raise ConfigError(f"num_classes must be at least 1, got {config.num_classes}")
    for name, allowed in (choices or {}).items():
        value = getattr(config, name)
        if value not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    if config.num_frames < 1:
        raise ConfigError(f"num_frames must be at least 1, got {config.num_frames}")
    if not 0.0 <= config.dropout < 1.0 or not 0.0 <= config.label_smoothing < 1.0:
        raise ConfigError("dropout and label_smoothing must lie in [0, 1)")


class ClipSequenceModel(nn.Module):
    """The trunk of a clip classifier: frames (B, T, 3, H, W) -> features (B, T, F) -> the cores'
    outputs (B, T, D*H) and last states (B, D*H); ``classifier`` maps D*H to the classes.

    Its modules (``encoder``, ``cores``, ``dropout``, ``classifier``) are made in that order, so the
    initial weights depend on the seed alone, and they name the checkpoint's tensors.
    """

    def __init__(self, config: ClipModelConfig, *, load_encoder_weights: bool = False) -> None:
        super().__init__()
        self.config = config
        self.encoder = ClipEncoder(config.encoder, spatial_size=config.spatial_size, load_weights=load_encoder_weights)
        inputs = self.encoder.feature_size * (2 if config.differences else 1)
        core = CoreConfig(
            cell=config.cell,
            input_size=inputs,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.cores = SequenceCores(core, bidirectional=config.bidirectional)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(self.cores.output_size, config.num_classes)

    def frame_features(self, batch: dict[str, Any]) -> torch.Tensor:
        """The batch's precomputed frame ``features`` (B, T, F), else its ``frames`` encoded."""
        return batch["features"] if "features" in batch else self.encoder(batch["frames"])

    def read_frames(self, features: torch.Tensor, lengths: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """features (B, T, F) of clips of ``lengths`` (B,) real frames (None: all T) -> the cores'
        outputs (B, T, D*H) and last states (B, D*H), with the feature changes when configured and
        dropout on what the cores read."""
        if self.config.differences:
            features = with_differences(features)
        return self.cores(self.dropout(features), lengths)


C = TypeVar("C", bound="ClipPredictor")


class ClipPredictor(Predictor):
    """Base of the clip classifiers' predictors: the model, its ``classes`` and its ``clip_transform``.

    A subclass names its checkpoints' ``task``, its ``registry`` and its ``model_class``, and
    :meth:`from_checkpoint` loads them (the class names from the header's ``extra["classes"]``).
    """

    task: ClassVar[str]
    registry: ClassVar[Registry]
    model_class: ClassVar[type[ClipSequenceModel]]
    model: ClipSequenceModel

    def __init__(
        self,
        model: ClipSequenceModel,
        classes: Sequence[str],
        *,
        checkpoint: Checkpoint | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__(model, checkpoint=checkpoint, device=device)
        self.classes = tuple(classes)
        self.clip_transform: ClipTransform = build_clip_transform(model.config.encoder)

    @property
    def num_frames(self) -> int:
        """Frames to sample from each clip (what the model was trained on)."""
        return self.model.config.num_frames

    @classmethod
    def from_checkpoint(cls: type[C], path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> C:
        """Load a checkpoint of the subclass's task (.safetensors written by ``mmrnn train TASK``) onto
        ``device``."""
        model, checkpoint, classes = load_with_classes(
            path, registry=cls.registry, task=cls.task, model_class=cls.model_class
        )
        return cls(model, classes, checkpoint=checkpoint, device=device)

    def stacked(self, clips: Sequence[ClipFrames], batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Clips (VideoClips or uint8 (T, H, W, 3) frames) through :attr:`clip_transform`, ``batch_size``
        at a time, each batch padded: frames (B, T, 3, S, S) and lengths (B,)."""
        for start in range(0, len(clips), batch_size):
            yield stack_clips([self.clip_transform(clip) for clip in clips[start : start + batch_size]])
