"""What the trainer tells its caller: callback events, the result of a run, and the callback types
(``evaluate``, ``save_model``, callbacks, progress) with the default ``save_model``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from multimodal_rnn.checkpoint import save_checkpoint


@dataclass(frozen=True)
class TrainerEvent:
    """What a callback receives.

    ``kind`` is ``step_end`` (after every update; ``metrics`` empty), ``log`` (``metrics`` = the
    training line just logged), ``evaluation`` (``metrics`` = the evaluation metrics),
    ``epoch_end`` (after an epoch and its evaluation, and after the evaluation of a ``max_steps``
    stop; ``metrics`` = ``{"loss", "items", "seconds", "steps", "skipped_batches", "eval", "best"}``:
    the epoch's mean training loss, dataset items read by all processes, seconds spent in training
    steps, updates, batches skipped so far, the evaluation metrics (empty if none) and whether they
    were the best so far) or ``checkpoint`` (the last pair was just written; ``metrics`` empty). ``epoch`` is 0-based;
    after an epoch's checkpoint it is already the next epoch's index. At ``step_end`` the
    parameters still hold the (clipped) gradients of that update. An exception raised by a
    callback propagates out of :meth:`Trainer.fit` (``KeyboardInterrupt`` simulates a kill).
    """

    kind: str
    step: int
    epoch: int
    metrics: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :meth:`Trainer.fit`.

    ``stop_reason`` is ``completed``, ``early_stopping`` or ``max_steps``; ``history`` holds one
    ``{"step", "epoch", **metrics}`` per evaluation of the whole run (resumed parts included);
    ``skipped_batches`` counts the batches without a usable item (e.g. every image unreadable).
    """

    best_metric: float | None
    best_step: int | None
    final_step: int
    epochs_completed: int
    stop_reason: str
    history: list[dict[str, Any]]
    last_checkpoint: Path
    best_checkpoint: Path | None
    metrics_log: Path
    skipped_batches: int = 0


Evaluate = Callable[[nn.Module], Mapping[str, float]]
SaveModel = Callable[[Path, nn.Module, int, dict[str, float]], None]
"""``save_model(path, model, step, metrics)``; the trainer passes a fresh dict of the metrics."""
Callback = Callable[[TrainerEvent], None]
ProgressFactory = Callable[..., Iterable[Any]]


def save_bare_model(path: Path, model: nn.Module, step: int, metrics: Mapping[str, float]) -> None:
    """Default ``save_model``: the weights in a checkpoint of task ``unspecified`` (no config, no vocab)."""
    save_checkpoint(
        path,
        model,
        task="unspecified",
        model_name=type(model).__name__,
        model_config={},
        step=step,
        metrics=dict(metrics),
    )
