"""The :class:`Trainer`: the loop over epochs and batches, evaluation, the best model, early
stopping, the run folder and exact resume (the behaviour is described in :mod:`multimodal_rnn.training`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from multimodal_rnn.errors import ConfigError, InputError
from multimodal_rnn.training import distributed
from multimodal_rnn.training.devices import resolve_device, to_device
from multimodal_rnn.training.events import (
    Callback,
    Evaluate,
    ProgressFactory,
    SaveModel,
    TrainerEvent,
    TrainResult,
    save_bare_model,
)
from multimodal_rnn.training.logging import METRICS_FILE, MetricsLog, require_tensorboard
from multimodal_rnn.training.optimizer import build_optimizer, optimizer_update
from multimodal_rnn.training.progress import EpochStats, keep_best_before_stop
from multimodal_rnn.training.run_folder import RunFolderMixin
from multimodal_rnn.training.state import (
    MODEL_FILE,
    STATE_FILE,
    capture_rng_state,
    restore_rng_state,
    seed_everything,
)
from multimodal_rnn.training.trainer_config import TrainerConfig

BEST_FILE = "best.safetensors"


class Trainer(RunFolderMixin):
    """Train ``model`` on ``train_dataset``; see :mod:`multimodal_rnn.training` for the files it writes.

    Args:
        model: ``forward(batch: dict) -> dict`` with a scalar ``"loss"``; moved to the device.
        config: the :class:`TrainerConfig`.
        train_dataset: a map-style dataset (``len`` and integer indexing).
        collate_fn: turns a list of dataset items into one batch, or None (or a dict holding only
            ``num_skipped``) when none of them is usable, e.g. every image unreadable; such a batch
            is consumed without an update (by every process, when distributed) and counted in
            :attr:`TrainResult.skipped_batches`.
        out_dir: the run folder; a fresh run refuses a folder that already holds a training state.
        evaluate: ``evaluate(model) -> {name: float}``, called on every process in eval mode under
            ``torch.no_grad`` with the bare (unwrapped) model; values are averaged over processes.
        save_model: ``save_model(path, model, step, metrics)`` writes a
            :mod:`multimodal_rnn.checkpoint` file with that ``step`` in its header; default
            :func:`save_bare_model`. Called on the main process only.
        callbacks: each called with a :class:`TrainerEvent` (on every process).
        progress: wraps each epoch's batch iterable, called as ``progress(iterable, total=, desc=)``
            (``tqdm.tqdm`` fits); None = no progress display.
        resume_from: a run folder or a ``last[.trainer].safetensors`` file to continue from.

    Attributes (read them, do not assign): ``model`` (the bare model), ``optimizer`` (AdamW with
    param groups named ``main`` and ``encoder``), ``device``, ``step`` (updates done), ``epoch``,
    ``batch_in_epoch``, ``steps_per_epoch``, ``total_steps``, ``best_metric``, ``best_step``, ``history``,
    ``skipped_batches``.

    A run that ``max_steps`` stops is evaluated at its last step too (unless that step was just
    evaluated), so it has a best model; see :mod:`multimodal_rnn.training.progress`.

    Raises:
        ConfigError: an impossible configuration (e.g. ``amp`` without CUDA, ``tensorboard``
            without the package, an ``encoder_lr`` whose prefix matches no parameter, a resumed
            config that changes more than :data:`RESUME_MAY_CHANGE`).
        CheckpointError: a resume checkpoint that is missing, corrupt or does not fit the model.
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainerConfig,
        train_dataset: Dataset,
        collate_fn: Callable[[list[Any]], Any],
        out_dir: str | Path,
        *,
        evaluate: Evaluate | None = None,
        save_model: SaveModel | None = None,
        callbacks: Sequence[Callback] = (),
        progress: ProgressFactory | None = None,
        resume_from: str | Path | None = None,
    ) -> None:
        self.config = config
        self.out_dir = Path(out_dir)
        self.model = model
        self.train_dataset = train_dataset
        self.collate_fn = collate_fn
        self.evaluate = evaluate
        self.save_model = save_model or save_bare_model
        self.callbacks = tuple(callbacks)
        self.progress = progress
        self.rank, self.world_size = distributed.rank(), distributed.world_size()
        self.device = resolve_device(config.device)
        if config.amp and self.device.type != "cuda":
            raise ConfigError(f"TrainerConfig: amp needs a CUDA device, got {self.device}")
        if config.tensorboard:
            require_tensorboard()
        if config.validation_metric is not None and evaluate is None:
            raise ConfigError(
                f"TrainerConfig: validation_metric {config.validation_metric!r} needs an evaluate callback"
            )
        self.dataset_size = len(train_dataset)  # type: ignore[arg-type]
        if self.dataset_size == 0:
            raise InputError(f"{type(train_dataset).__name__}: the training dataset is empty")
        self.steps_per_epoch = len(self._batches(0))
        if self.steps_per_epoch == 0:
            raise ConfigError(
                f"TrainerConfig: drop_last with batch_size {config.batch_size} leaves no batch of "
                f"{self.dataset_size} samples"
            )
        self.total_steps = config.epochs * self.steps_per_epoch
        self.model.to(self.device)
        # 4-D tensors only; a model loaded by --init-from arrives channels_last and may go back
        self.model.to(memory_format=torch.channels_last if config.channels_last else torch.contiguous_format)
        self.optimizer, self.grad_scaler = build_optimizer(model, config)
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.best_metric: float | None = None
        self.best_step: int | None = None
        self.evaluations_without_improvement = 0
        self.history: list[dict[str, Any]] = []
        self._last_metrics: dict[str, float] = {}
        self._loss_sum = torch.zeros((), device=self.device)
        self._loss_count = 0
        self._saved_rng: dict[str, torch.Tensor] | None = None
        self.skipped_batches = 0
        self._epoch_stats = EpochStats(self.device)
        self._fit_started = False
        if resume_from is not None:
            self._resume(resume_from)
        elif (self.out_dir / STATE_FILE).exists():
            raise ConfigError(f"{self.out_dir}: already holds a training run; resume from it or choose another out_dir")
        self._train_model = distributed.wrap_model(model, self.device)

    # -- public -------------------------------------------------------------------------------------

    def fit(self) -> TrainResult:
        """Train until ``epochs`` are done, early stopping triggers or ``max_steps`` is reached."""
        if self._fit_started:
            raise RuntimeError("Trainer.fit() runs once per Trainer; build a new one with resume_from to continue")
        self._fit_started = True
        config = self.config
        if self._saved_rng is not None:
            restore_rng_state(self._saved_rng)
        else:
            seed_everything(config.seed + self.rank)
        log = self._open_log() if distributed.is_main_process() else None
        stop_reason = "completed"
        try:
            self.model.train()
            while self.epoch < config.epochs:
                if self._patience_exhausted():
                    stop_reason = "early_stopping"
                    break
                if config.max_steps is not None and self.step >= config.max_steps:
                    stop_reason = "max_steps"
                    break
                if self._train_epoch(log):
                    stop_reason = "max_steps"
                    self._save_last()
                    break
                self._end_epoch(log)
            if stop_reason == "max_steps":
                self._evaluate_at_stop(log)
        finally:
            if log is not None:
                log.close()
        best = self.out_dir / BEST_FILE if self.best_step is not None else None
        return TrainResult(
            best_metric=self.best_metric,
            best_step=self.best_step,
            final_step=self.step,
            epochs_completed=self.epoch,
            stop_reason=stop_reason,
            history=list(self.history),
            last_checkpoint=self.out_dir / MODEL_FILE,
            best_checkpoint=best,
            metrics_log=self.out_dir / METRICS_FILE,
            skipped_batches=self.skipped_batches,
        )

    # -- the loop -----------------------------------------------------------------------------------

    def _batches(self, epoch: int) -> list[list[int]]:
        return distributed.epoch_batches(
            self.dataset_size,
            self.config.batch_size,
            seed=self.config.seed,
            epoch=epoch,
            rank=self.rank,
            world_size=self.world_size,
            drop_last=self.config.drop_last,
        )

    def _train_epoch(self, log: MetricsLog | None) -> bool:
        """Train the rest of the current epoch; True if ``max_steps`` stopped it before its end."""
        config = self.config
        remaining = self._batches(self.epoch)[self.batch_in_epoch :]  # skip what a resumed run already did
        loader_generator = torch.Generator().manual_seed(distributed.derived_seed(config.seed, self.epoch, 1))
        loader = DataLoader(
            self.train_dataset,
            batch_sampler=remaining,
            collate_fn=self.collate_fn,
            num_workers=config.num_workers,
            pin_memory=self.device.type == "cuda",
            generator=loader_generator,
        )
        batches: Iterable[Any] = loader
        if self.progress is not None:
            batches = self.progress(loader, total=len(remaining), desc=f"epoch {self.epoch + 1}/{config.epochs}")
        self._epoch_stats.start()
        try:
            for indices, batch in zip(remaining, batches):
                # No usable item (e.g. every image unreadable): the skip is decided together; when any
                # process has no batch, every process skips this update, so that all make the same
                # updates and meet in the same gradient all-reduces.
                if distributed.all_true(_usable(batch), self.device):
                    self._epoch_stats.add(self._train_step(batch, log), len(indices))
                else:
                    self.skipped_batches += 1
                    self._epoch_stats.add(None, len(indices))
                self.batch_in_epoch += 1
                if self.batch_in_epoch == self.steps_per_epoch:
                    break
                if config.max_steps is not None and self.step >= config.max_steps:
                    return True
                if config.checkpoint_every_steps and self.step % config.checkpoint_every_steps == 0:
                    self._save_last()
        finally:
            self._epoch_stats.stop()
            close = getattr(batches, "close", None)
            if callable(close):
                close()
        return False

    def _train_step(self, batch: Any, log: MetricsLog | None) -> torch.Tensor:
        loss, grad_norm = optimizer_update(
            self._train_model,
            to_device(batch, self.device),
            self.optimizer,
            self.grad_scaler,
            self.config,
            step=self.step,
            total_steps=self.total_steps,
            model_name=type(self.model).__name__,
        )
        self.step += 1
        self._loss_sum += loss.detach().float()
        self._loss_count += 1
        self._emit(TrainerEvent("step_end", self.step, self.epoch))
        if self.step % self.config.log_every == 0:
            self._log_training(log, grad_norm)
        return loss

    def _log_training(self, log: MetricsLog | None, grad_norm: torch.Tensor | None) -> None:
        values = {"loss": self._loss_sum.item() / self._loss_count}
        if grad_norm is not None:
            values["grad_norm"] = float(grad_norm)
        values = distributed.all_reduce_mean(values, self.device)
        record: dict[str, Any] = {"step": self.step, "epoch": self.epoch, "loss": values["loss"]}
        for group in self.optimizer.param_groups:
            record["lr" if group["name"] == "main" else f"{group['name']}_lr"] = group["lr"]
        if "grad_norm" in values:
            record["grad_norm"] = values["grad_norm"]
        self._loss_sum.zero_()
        self._loss_count = 0
        if log is not None:
            log.write({**record, "time": round(time.time(), 3)})
        self._emit(TrainerEvent("log", self.step, self.epoch, record))

    def _end_epoch(self, log: MetricsLog | None) -> None:
        """Evaluate if due, keep the best model, move to the next epoch and write the last pair."""
        config = self.config
        finished = self.epoch
        figures: dict[str, Any] = {**self._epoch_figures(), "eval": {}, "best": False}
        if self.evaluate is not None and ((finished + 1) % config.eval_every == 0 or finished + 1 == config.epochs):
            figures["eval"], figures["best"] = self._evaluation(log, finished)
        self._emit(TrainerEvent("epoch_end", self.step, finished, figures))
        self.epoch, self.batch_in_epoch = finished + 1, 0
        self._save_last()

    def _evaluate_at_stop(self, log: MetricsLog | None) -> None:
        """The evaluation of a ``max_steps`` stop, after its last pair was written (so a resume ignores it)."""
        if self.evaluate is None or (self.history and self.history[-1]["step"] == self.step):
            return
        rng = capture_rng_state(include_cuda=self.device.type == "cuda")
        metrics, improved = self._evaluation(log, self.epoch, at_stop=True)
        restore_rng_state(rng)
        self._emit(
            TrainerEvent(
                "epoch_end", self.step, self.epoch, {**self._epoch_figures(), "eval": metrics, "best": improved}
            )
        )

    def _epoch_figures(self) -> dict[str, float]:
        figures = distributed.all_reduce_mean(self._epoch_stats.summary(), self.device)
        figures["items"] *= self.world_size
        return {**figures, "skipped_batches": self.skipped_batches}

    def _evaluation(
        self, log: MetricsLog | None, epoch: int, *, at_stop: bool = False
    ) -> tuple[dict[str, float], bool]:
        """Evaluate, keep the best model, record the metrics; returns them and whether they improved."""
        metrics = self._evaluate()
        improved = self._track_best(metrics, at_stop=at_stop)
        self._last_metrics = metrics
        self.history.append({"step": self.step, "epoch": epoch, **metrics})
        if log is not None:
            record = {
                "step": self.step,
                "epoch": epoch,
                "eval": metrics,
                "best": improved,
                "time": round(time.time(), 3),
            }
            log.write({**record, "at_stop": True} if at_stop else record)
        self._emit(TrainerEvent("evaluation", self.step, epoch, metrics))
        return metrics, improved

    def _evaluate(self) -> dict[str, float]:
        self.model.eval()
        try:
            with torch.no_grad():
                metrics = {str(k): float(v) for k, v in self.evaluate(self.model).items()}  # type: ignore[misc]
        finally:
            self.model.train()
        return distributed.all_reduce_mean(metrics, self.device)

    def _track_best(self, metrics: Mapping[str, float], *, at_stop: bool = False) -> bool:
        name = self.config.validation_metric
        if name is None:
            return False
        if name not in metrics:
            raise ConfigError(
                f"TrainerConfig: validation_metric {name!r} is not among the evaluation metrics "
                f"({', '.join(sorted(metrics)) or 'none'})"
            )
        value = metrics[name]
        best = self.best_metric
        improved = best is None or (value > best if self.config.metric_mode == "max" else value < best)
        if improved:
            self.best_metric, self.best_step = value, self.step
            self.evaluations_without_improvement = 0
            if distributed.is_main_process():
                if at_stop:
                    keep_best_before_stop(self.out_dir)
                self.save_model(self.out_dir / BEST_FILE, self.model, self.step, dict(metrics))
        else:
            self.evaluations_without_improvement += 1
        return improved

    def _patience_exhausted(self) -> bool:
        patience = self.config.early_stopping_patience
        return patience is not None and self.evaluations_without_improvement >= patience

    def _emit(self, event: TrainerEvent) -> None:
        for callback in self.callbacks:
            callback(event)


def _usable(batch: Any) -> bool:
    """False for what a collate function returns when no item was usable: None, or a dict holding
    only ``num_skipped`` (the dataset collates' answer when every image was unreadable)."""
    return batch is not None and not (isinstance(batch, Mapping) and set(batch) <= {"num_skipped"})
