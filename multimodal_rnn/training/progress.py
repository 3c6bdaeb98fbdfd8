"""What the trainer tells a person watching: per-epoch figures (:class:`EpochStats`), the log lines
made of them (:func:`progress_lines`), and the bookkeeping that keeps the evaluation at a
``max_steps`` stop out of the resumable state (:func:`keep_best_before_stop`, :func:`undo_stop_evaluation`).

A run stopped by ``max_steps`` is evaluated once more at its last step (unless that step was just
evaluated), so that a smoke run has a ``best.safetensors`` and a best score. That evaluation is not
part of the last checkpoint pair: a resumed run continues as the uninterrupted run would, so before
such an evaluation overwrites ``best.safetensors`` the previous best is kept as
:data:`BEST_BEFORE_STOP_FILE` (an empty file when there was none), and a resume puts it back.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from multimodal_rnn.training.events import TrainerEvent

BEST_BEFORE_STOP_FILE = ".best.before-stop.safetensors"


class EpochStats:
    """Training figures of the current epoch: mean loss, items read and seconds spent in training steps.

    The loss is summed on the device (no synchronization per step); :meth:`summary` reads it once.
    After a resume in the middle of an epoch, the figures cover the resumed part only.
    """

    def __init__(self, device: torch.device) -> None:
        self._loss_sum = torch.zeros((), device=device)
        self._steps = 0
        self.items = 0
        self.seconds = 0.0
        self._started: float | None = None

    def start(self) -> None:
        """Start timing (the beginning of an epoch's training part)."""
        self._started = time.perf_counter()

    def add(self, loss: torch.Tensor | None, items: int) -> None:
        """Count one batch of ``items`` dataset items and its ``loss`` (None: a skipped batch)."""
        self.items += items
        if loss is not None:
            self._loss_sum += loss.detach().float()
            self._steps += 1

    def stop(self) -> None:
        """Stop timing (the end of the training part of an epoch)."""
        if self._started is not None:
            self.seconds += time.perf_counter() - self._started
            self._started = None

    def summary(self) -> dict[str, float]:
        """``{"loss", "items", "seconds", "steps"}`` of the epoch so far, then reset for the next one."""
        values = {
            "loss": self._loss_sum.item() / self._steps if self._steps else float("nan"),
            "items": float(self.items),
            "seconds": self.seconds,
            "steps": float(self._steps),
        }
        self._loss_sum.zero_()
        self._steps, self.items, self.seconds = 0, 0, 0.0
        return values


class ProgressLines:
    """A trainer callback that writes one line per epoch (and, with ``every_step``, one per
    training log line, i.e. every ``log_every`` updates) through ``write``.

    An epoch line: ``epoch 2/10: loss 1.2345, 310.2 items/s (9.7 steps/s), val accuracy 61.2
    (best), 0:01:07 elapsed``; a step line: ``step 120/400 (epoch 2/10): loss 1.3001, 9.8
    steps/s, 0:00:52 elapsed``. Elapsed time counts from the callback's creation; set
    ``total_steps`` once the trainer knows it.
    """

    def __init__(self, write: Callable[[str], None], *, epochs: int, every_step: bool) -> None:
        self.write, self.epochs, self.every_step = write, epochs, every_step
        self.total_steps = 0
        self.started = time.monotonic()
        self._last_time, self._last_step = self.started, 0

    def __call__(self, event: TrainerEvent) -> None:
        if event.kind == "log" and self.every_step:
            now = time.monotonic()
            steps = event.step - self._last_step
            rate = steps / max(now - self._last_time, 1e-9) if steps > 0 else 0.0
            self._last_time, self._last_step = now, event.step
            self.write(
                f"step {event.step}/{self.total_steps} (epoch {event.epoch + 1}/{self.epochs}): "
                f"loss {event.metrics['loss']:.4f}, {rate:.1f} steps/s, {self._elapsed()}"
            )
        elif event.kind == "epoch_end":
            self.write(f"{_epoch_line(event, self.epochs)}, {self._elapsed()}")

    def _elapsed(self) -> str:
        seconds = int(time.monotonic() - self.started)
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d} elapsed"


def _epoch_line(event: TrainerEvent, epochs: int) -> str:
    figures = event.metrics
    seconds = max(float(figures["seconds"]), 1e-9)
    parts = [
        f"epoch {event.epoch + 1}/{epochs}: loss {figures['loss']:.4f}",
        f"{figures['items'] / seconds:.1f} items/s ({figures['steps'] / seconds:.1f} steps/s)",
    ]
    if figures.get("skipped_batches"):
        parts.append(f"{figures['skipped_batches']} batches without a readable image skipped so far")
    evaluation: Mapping[str, Any] = figures.get("eval") or {}
    if evaluation:
        scores = " ".join(f"{name} {value:.4g}" for name, value in evaluation.items())
        parts.append(f"val {scores}" + (" (best)" if figures.get("best") else ""))
    return ", ".join(parts)


def keep_best_before_stop(out_dir: Path) -> None:
    """Before a ``max_steps`` stop's evaluation overwrites ``best.safetensors``: keep the previous
    best as :data:`BEST_BEFORE_STOP_FILE` (an empty file when there is none)."""
    best, kept = out_dir / "best.safetensors", out_dir / BEST_BEFORE_STOP_FILE
    if best.is_file():
        os.replace(best, kept)
    else:
        kept.write_bytes(b"")


def undo_stop_evaluation(out_dir: Path) -> None:
    """On resume: put back the best model that a ``max_steps`` stop's evaluation replaced (if any)."""
    best, kept = out_dir / "best.safetensors", out_dir / BEST_BEFORE_STOP_FILE
    if not kept.is_file():
        return
    if kept.stat().st_size == 0:
        best.unlink(missing_ok=True)
        kept.unlink()
    else:
        os.replace(kept, best)
