"""The run folder side of the :class:`~multimodal_rnn.training.trainer.Trainer`: the last
checkpoint pair with the progress it needs to resume, the resume itself, and the run log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from multimodal_rnn.config import config_to_dict
from multimodal_rnn.training import distributed
from multimodal_rnn.training.events import SaveModel, TrainerEvent
from multimodal_rnn.training.logging import MetricsLog, open_run_log
from multimodal_rnn.training.progress import undo_stop_evaluation
from multimodal_rnn.training.resume import restore_checkpoint_pair
from multimodal_rnn.training.state import TrainingState, capture_rng_state, write_checkpoint_pair
from multimodal_rnn.training.trainer_config import TrainerConfig


class RunFolderMixin:
    """The trainer's checkpoint, resume and log methods (the attributes are the trainer's)."""

    config: TrainerConfig
    out_dir: Path
    model: nn.Module
    optimizer: torch.optim.Optimizer
    grad_scaler: torch.amp.GradScaler
    save_model: SaveModel
    device: torch.device
    rank: int
    world_size: int
    dataset_size: int
    steps_per_epoch: int
    total_steps: int
    step: int
    epoch: int
    batch_in_epoch: int
    best_metric: float | None
    best_step: int | None
    evaluations_without_improvement: int
    history: list[dict[str, Any]]
    skipped_batches: int
    _loss_sum: torch.Tensor
    _loss_count: int
    _last_metrics: dict[str, float]
    _saved_rng: dict[str, torch.Tensor] | None

    def _emit(self, event: TrainerEvent) -> None:
        raise NotImplementedError

    def _save_last(self) -> None:
        """Write the last model + training-state pair (collective: every process must call it)."""
        rng = distributed.all_gather_tensors(capture_rng_state(include_cuda=self.device.type == "cuda"), self.device)
        loss_sum = distributed.all_reduce_mean({"loss_sum": self._loss_sum.item()}, self.device)["loss_sum"]
        self._loss_sum.fill_(loss_sum)
        if distributed.is_main_process():
            state = TrainingState(
                step=self.step,
                epoch=self.epoch,
                batch_in_epoch=self.batch_in_epoch,
                config=config_to_dict(self.config),
                progress=self._progress_json(),
                optimizer=self.optimizer.state_dict(),
                grad_scaler=self.grad_scaler.state_dict() if self.grad_scaler.is_enabled() else None,
                rng=rng,
            )
            metrics = dict(self._last_metrics)
            write_checkpoint_pair(
                self.out_dir, lambda path: self.save_model(path, self.model, self.step, metrics), state
            )
        distributed.barrier()
        self._emit(TrainerEvent("checkpoint", self.step, self.epoch))

    def _progress_json(self) -> dict[str, Any]:
        return {
            "best_metric": self.best_metric,
            "best_step": self.best_step,
            "evaluations_without_improvement": self.evaluations_without_improvement,
            "loss_sum": self._loss_sum.item(),
            "loss_count": self._loss_count,
            "last_metrics": self._last_metrics,
            "history": self.history,
            "dataset_size": self.dataset_size,
            "world_size": self.world_size,
            "skipped_batches": self.skipped_batches,
        }

    def _resume(self, location: str | Path) -> None:
        state = restore_checkpoint_pair(
            location,
            self.model,
            self.optimizer,
            self.grad_scaler,
            config=config_to_dict(self.config),
            dataset_size=self.dataset_size,
            world_size=self.world_size,
        )
        progress = state.progress
        self.step, self.epoch, self.batch_in_epoch = state.step, state.epoch, state.batch_in_epoch
        self.best_metric, self.best_step = progress["best_metric"], progress["best_step"]
        self.evaluations_without_improvement = int(progress["evaluations_without_improvement"])
        self._loss_sum.fill_(float(progress["loss_sum"]))
        self._loss_count = int(progress["loss_count"])
        self._last_metrics = dict(progress["last_metrics"])
        self.history = list(progress["history"])
        self._saved_rng = state.rng[self.rank]
        self.skipped_batches = int(progress.get("skipped_batches", 0))
        if distributed.is_main_process():
            undo_stop_evaluation(self.out_dir)

    def _open_log(self) -> MetricsLog:
        facts = {
            "device": str(self.device),
            "world_size": self.world_size,
            "dataset_size": self.dataset_size,
            "steps_per_epoch": self.steps_per_epoch,
            "total_steps": self.total_steps,
            "resumed_at_step": self.step,
            "torch_version": torch.__version__,
        }
        return open_run_log(self.out_dir, config_to_dict(self.config), facts, self.step, self.config.tensorboard)
