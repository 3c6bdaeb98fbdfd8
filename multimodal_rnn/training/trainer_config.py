"""The trainer's configuration: :class:`TrainerConfig` and what a resumed run may change."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multimodal_rnn.errors import ConfigError
from multimodal_rnn.training.schedules import SCHEDULES

RESUME_MAY_CHANGE: frozenset[str] = frozenset(
    {
        "epochs",
        "max_steps",
        "num_workers",
        "device",
        "log_every",
        "tensorboard",
        "checkpoint_every_steps",
        "early_stopping_patience",
        "eval_every",
    }
)
"""Config fields a resumed run may change; any other difference is a ConfigError. A new
``epochs`` stretches the ``cosine`` schedule from the resume point on."""


@dataclass(frozen=True)
class TrainerConfig:
    """How to train; every field is plain JSON and is stored with each training state.

    Attributes:
        epochs: passes over the training set.
        batch_size: samples per batch and per process.
        lr: AdamW learning rate of all parameters outside the encoder.
        encoder_lr: learning rate of parameters whose name starts with ``encoder_prefix``;
            None = same as ``lr`` (one group), 0 = frozen (``requires_grad`` is switched off).
        encoder_prefix: parameter-name prefix of the encoder group.
        weight_decay: AdamW decoupled weight decay (all trained parameters).
        betas, eps: AdamW moment coefficients and denominator epsilon.
        grad_clip: max total L2 norm of the gradients (None = no clipping).
        schedule: ``constant``, ``cosine`` or ``step`` (see :mod:`.schedules`), after
            ``warmup_steps`` updates of linear warmup.
        step_size, gamma: the ``step`` schedule multiplies the rate by ``gamma`` every ``step_size`` updates.
        min_lr_ratio: final rate of the ``cosine`` schedule, as a fraction of the base rate.
        validation_metric: name in ``evaluate``'s dict that picks ``best.safetensors`` and drives
            early stopping (None = neither).
        metric_mode: ``max`` (higher is better, e.g. CIDEr) or ``min`` (e.g. a loss).
        early_stopping_patience: stop after this many evaluations without improvement (None = never).
        eval_every: evaluate after every ``eval_every`` epochs (and after the last one).
        seed: seeds the RNGs at the start of a fresh run (``seed + rank``) and the data order.
        num_workers: DataLoader worker processes.
        drop_last: drop each epoch's last, smaller batch.
        device: ``auto`` (CUDA if available), ``cpu``, ``cuda`` or ``cuda:<index>``.
        amp: mixed precision with ``amp_dtype`` (CUDA only; ``float16`` adds a GradScaler).
        log_every: updates between two training lines of ``metrics.jsonl``.
        tensorboard: also write TensorBoard scalars to ``out_dir/tensorboard`` (needs ``tensorboard``).
        max_steps: stop after this many updates in total (smoke runs); the schedule is unchanged.
        checkpoint_every_steps: also write the last checkpoint every N updates (None = per epoch only).
        channels_last: keep 4-D weights (convolutions) in NHWC order during training, which oneDNN
            runs faster on CPU (the shapes VQA model's encoder: 218 -> 148 ms per update of 32
            images, one thread); values and checkpoints are unchanged, only the layout in memory.
    """

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    encoder_lr: float | None = None
    encoder_prefix: str = "encoder."
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    grad_clip: float | None = None
    schedule: str = "constant"
    warmup_steps: int = 0
    step_size: int = 1000
    gamma: float = 0.1
    min_lr_ratio: float = 0.0
    validation_metric: str | None = None
    metric_mode: str = "max"
    early_stopping_patience: int | None = None
    eval_every: int = 1
    seed: int = 0
    num_workers: int = 0
    drop_last: bool = False
    device: str = "auto"
    amp: bool = False
    amp_dtype: str = "bfloat16"
    log_every: int = 10
    tensorboard: bool = False
    max_steps: int | None = None
    checkpoint_every_steps: int | None = None
    channels_last: bool = True

    def __post_init__(self) -> None:
        problems: list[str] = []
        for name in ("epochs", "batch_size", "step_size", "eval_every", "log_every"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("max_steps", "checkpoint_every_steps", "early_stopping_patience"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1 or null, got {getattr(self, name)}")
        if not self.lr > 0:
            problems.append(f"lr must be > 0, got {self.lr}")
        if self.encoder_lr is not None and not self.encoder_lr >= 0:
            problems.append(f"encoder_lr must be >= 0 or null, got {self.encoder_lr}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            problems.append(f"grad_clip must be > 0 or null, got {self.grad_clip}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            problems.append(f"betas must be two numbers in [0, 1), got {self.betas}")
        if self.weight_decay < 0 or self.warmup_steps < 0 or self.num_workers < 0 or self.eps <= 0:
            problems.append("weight_decay, warmup_steps and num_workers must be >= 0 and eps > 0")
        if self.schedule not in SCHEDULES:
            problems.append(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if not (0 < self.gamma <= 1 and 0 <= self.min_lr_ratio <= 1):
            problems.append(
                f"gamma must be in (0, 1] and min_lr_ratio in [0, 1], got {self.gamma}, {self.min_lr_ratio}"
            )
        if self.metric_mode not in ("max", "min"):
            problems.append(f"metric_mode must be 'max' or 'min', got {self.metric_mode!r}")
        if self.early_stopping_patience is not None and self.validation_metric is None:
            problems.append("early_stopping_patience needs a validation_metric")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            problems.append(f"device must be auto, cpu, cuda or cuda:<index>, got {self.device!r}")
        if self.amp_dtype not in ("float16", "bfloat16"):
            problems.append(f"amp_dtype must be float16 or bfloat16, got {self.amp_dtype!r}")
        if problems:
            raise ConfigError(f"TrainerConfig: {problems[0]}")


def check_resumed_config(saved: Mapping[str, Any], current: Mapping[str, Any], where: Path) -> None:
    """Refuse a resumed config (``current``) that differs from the saved one outside :data:`RESUME_MAY_CHANGE`."""
    changed = sorted(
        k for k in set(saved) | set(current) if k not in RESUME_MAY_CHANGE and saved.get(k) != current.get(k)
    )
    if changed:
        name = changed[0]
        raise ConfigError(
            f"{where}: resumed config changes {name} ({saved.get(name)!r} -> {current.get(name)!r}); "
            f"only {', '.join(sorted(RESUME_MAY_CHANGE))} may change"
        )
