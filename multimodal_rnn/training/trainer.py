"""One trainer for every task: AdamW, schedules, clipping, evaluation, checkpoints, exact resume.

The trainer knows a model only through its contract: ``model(batch) -> dict`` with a scalar
``"loss"`` in training mode, where ``batch`` is whatever ``collate_fn`` makes of a list of dataset
items (a dict of tensors and plain lists). Validation and model checkpoints are the task's
business, passed in as callbacks: ``evaluate(model) -> {name: float}`` and
``save_model(path, model, step, metrics)`` (the task calls
:func:`multimodal_rnn.checkpoint.save_checkpoint` with its vocabulary and config there).

Run folder (``out_dir``), written by the main process only:

* ``config.json``: the trainer config and the facts of the run (device, sizes, steps);
* ``metrics.jsonl``: see :mod:`multimodal_rnn.training.logging`; ``tensorboard/`` if asked for;
* ``last.safetensors`` + ``last.trainer.safetensors``: the latest model and training state, one
  consistent pair (see :mod:`multimodal_rnn.training.state`), written after every epoch, every
  ``checkpoint_every_steps`` updates and when ``max_steps`` stops the run;
* ``best.safetensors``: the model at the best value of ``validation_metric``.

Resume (``resume_from=`` a run folder or checkpoint file) restores weights, optimizer, grad
scaler, the RNG streams of Python, NumPy and torch (CUDA included) and the position in the data,
so an interrupted run ends where an uninterrupted one would, bit for bit on the CPU with
``num_workers=0``. (With worker processes, a resume at an epoch boundary is exact; in the middle
of an epoch the workers' own random augmentations restart. On CUDA, exactness also needs
deterministic kernels.)

Distributed (inside :func:`multimodal_rnn.training.launch.torchrun_process_group`): every process
trains on its shard of each epoch (:func:`~multimodal_rnn.training.distributed.epoch_batches`)
and DistributedDataParallel averages the gradients, so with a loss that is a mean over samples one
update equals a single process's update on the union of the shards' batches (``world_size *
batch_size`` samples). Only rank 0 writes the run folder. ``evaluate`` runs on every process and
its values are averaged, so the best checkpoint and early stopping are decided identically
everywhere. A batch that any process cannot use (``collate_fn`` returned None) is skipped by all.
A resume needs the same number of processes; each restores its own RNG streams.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from multimodal_rnn.checkpoint import atomic_write, save_checkpoint
from multimodal_rnn.config import config_to_dict
from multimodal_rnn.errors import CheckpointError, ConfigError, InputError
from multimodal_rnn.training import distributed
from multimodal_rnn.training.logging import MetricsLog, require_tensorboard, truncate_metrics
from multimodal_rnn.training.schedules import SCHEDULES, learning_rate_factor
from multimodal_rnn.training.state import (
    MODEL_FILE,
    STATE_FILE,
    TrainingState,
    capture_rng_state,
    checkpoint_pair_paths,
    resolve_checkpoint_pair,
    restore_rng_state,
    seed_everything,
    write_checkpoint_pair,
)

BEST_FILE = "best.safetensors"
METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "config.json"

RESUME_MAY_CHANGE: frozenset[str] = frozenset(
    {"epochs", "max_steps", "num_workers", "device", "log_every", "tensorboard", "checkpoint_every_steps",
     "early_stopping_patience", "eval_every"}
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
        problems = []
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
            problems.append(f"gamma must be in (0, 1] and min_lr_ratio in [0, 1], got {self.gamma}, {self.min_lr_ratio}")
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


@dataclass(frozen=True)
class TrainerEvent:
    """What a callback receives.

    ``kind`` is ``step_end`` (after every update; ``metrics`` empty), ``log`` (``metrics`` = the
    training line just logged), ``evaluation`` (``metrics`` = the evaluation metrics) or
    ``checkpoint`` (the last pair was just written; ``metrics`` empty). ``epoch`` is 0-based;
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
    ``{"step", "epoch", **metrics}`` per evaluation of the whole run (resumed parts included).
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


Evaluate = Callable[[nn.Module], Mapping[str, float]]
SaveModel = Callable[[Path, nn.Module, int, Mapping[str, float]], None]
Callback = Callable[[TrainerEvent], None]
ProgressFactory = Callable[..., Iterable[Any]]


def save_bare_model(path: Path, model: nn.Module, step: int, metrics: Mapping[str, float]) -> None:
    """Default ``save_model``: the weights in a checkpoint of task ``unspecified`` (no config, no vocab)."""
    save_checkpoint(path, model, task="unspecified", model_name=type(model).__name__, model_config={},
                    step=step, metrics=dict(metrics))


class Trainer:
    """Train ``model`` on ``train_dataset``; see the module docstring for the files it writes.

    Args:
        model: ``forward(batch: dict) -> dict`` with a scalar ``"loss"``; moved to the device.
        config: the :class:`TrainerConfig`.
        train_dataset: a map-style dataset (``len`` and integer indexing).
        collate_fn: turns a list of dataset items into one batch, or None when none of them is
            usable; such a batch is consumed without an update (by every process, when distributed).
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
    ``batch_in_epoch``, ``steps_per_epoch``, ``total_steps``, ``best_metric``, ``best_step``, ``history``.

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
        self.device = _resolve_device(config.device)
        if config.amp and self.device.type != "cuda":
            raise ConfigError(f"TrainerConfig: amp needs a CUDA device, got {self.device}")
        if config.tensorboard:
            require_tensorboard()
        if config.validation_metric is not None and evaluate is None:
            raise ConfigError(f"TrainerConfig: validation_metric {config.validation_metric!r} needs an evaluate callback")
        self.dataset_size = len(train_dataset)  # type: ignore[arg-type]
        if self.dataset_size == 0:
            raise InputError(f"{type(train_dataset).__name__}: the training dataset is empty")
        self.steps_per_epoch = len(self._batches(0))
        if self.steps_per_epoch == 0:
            raise ConfigError(f"TrainerConfig: drop_last with batch_size {config.batch_size} leaves no batch of "
                              f"{self.dataset_size} samples")
        self.total_steps = config.epochs * self.steps_per_epoch
        self.model.to(self.device)
        # 4-D tensors only; a model loaded by --init-from arrives channels_last and may go back
        self.model.to(memory_format=torch.channels_last if config.channels_last else torch.contiguous_format)
        self.optimizer = torch.optim.AdamW(_parameter_groups(model, config), lr=config.lr, betas=config.betas,
                                           eps=config.eps, weight_decay=config.weight_decay)
        use_scaler = config.amp and config.amp_dtype == "float16"
        self.grad_scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
        self._trained_parameters = [p for group in self.optimizer.param_groups for p in group["params"]]
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.best_metric: float | None = None
        self.best_step: int | None = None
        self.evaluations_without_improvement = 0
        self.history: list[dict[str, Any]] = []
        self._last_metrics: dict[str, float] = {}
        self._loss_sum = torch.zeros((), device=self.device)
        self._loss_count = 0
        self._saved_rng: dict[str, torch.Tensor] | None = None
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
        finally:
            if log is not None:
                log.close()
        best = self.out_dir / BEST_FILE if self.best_step is not None else None
        return TrainResult(
            best_metric=self.best_metric, best_step=self.best_step, final_step=self.step,
            epochs_completed=self.epoch, stop_reason=stop_reason, history=list(self.history),
            last_checkpoint=self.out_dir / MODEL_FILE, best_checkpoint=best, metrics_log=self.out_dir / METRICS_FILE,
        )

    # -- the loop -----------------------------------------------------------------------------------

    def _batches(self, epoch: int) -> list[list[int]]:
        return distributed.epoch_batches(
            self.dataset_size, self.config.batch_size, seed=self.config.seed, epoch=epoch,
            rank=self.rank, world_size=self.world_size, drop_last=self.config.drop_last,
        )

    def _train_epoch(self, log: MetricsLog | None) -> bool:
        """Train the rest of the current epoch; True if ``max_steps`` stopped it before its end."""
        config = self.config
        remaining = self._batches(self.epoch)[self.batch_in_epoch:]  # skip what a resumed run already did
        loader_generator = torch.Generator().manual_seed(distributed.derived_seed(config.seed, self.epoch, 1))
        loader = DataLoader(self.train_dataset, batch_sampler=remaining, collate_fn=self.collate_fn,
                            num_workers=config.num_workers, pin_memory=self.device.type == "cuda",
                            generator=loader_generator)
        batches: Iterable[Any] = loader
        if self.progress is not None:
            batches = self.progress(loader, total=len(remaining), desc=f"epoch {self.epoch + 1}/{config.epochs}")
        try:
            for batch in batches:
                # None: the collate function found no usable item (e.g. unreadable images). The skip is
                # decided together: when any process has no batch, every process skips this update, so
                # that all make the same updates and meet in the same gradient all-reduces.
                if distributed.all_true(batch is not None, self.device):
                    self._train_step(batch, log)
                self.batch_in_epoch += 1
                if self.batch_in_epoch == self.steps_per_epoch:
                    break
                if config.max_steps is not None and self.step >= config.max_steps:
                    return True
                if config.checkpoint_every_steps and self.step % config.checkpoint_every_steps == 0:
                    self._save_last()
        finally:
            close = getattr(batches, "close", None)
            if callable(close):
                close()
        return False

    def _train_step(self, batch: Any, log: MetricsLog | None) -> None:
        config = self.config
        factor = learning_rate_factor(
            self.step, schedule=config.schedule, total_steps=self.total_steps, warmup_steps=config.warmup_steps,
            step_size=config.step_size, gamma=config.gamma, min_lr_ratio=config.min_lr_ratio,
        )
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        batch = _to_device(batch, self.device)
        self.optimizer.zero_grad(set_to_none=True)
        amp_dtype = torch.float16 if config.amp_dtype == "float16" else torch.bfloat16
        with torch.autocast(device_type=self.device.type, dtype=amp_dtype, enabled=config.amp):
            outputs = self._train_model(batch)
        if not isinstance(outputs, Mapping) or "loss" not in outputs:
            raise TypeError(f"{type(self.model).__name__}.forward must return a dict with a 'loss' entry")
        loss = outputs["loss"]
        if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
            raise TypeError(f"{type(self.model).__name__}.forward: 'loss' must be a scalar tensor")
        self.grad_scaler.scale(loss).backward()
        grad_norm = None
        if config.grad_clip is not None:
            self.grad_scaler.unscale_(self.optimizer)
            grad_norm = torch.nn.utils.clip_grad_norm_(self._trained_parameters, config.grad_clip)
        self.grad_scaler.step(self.optimizer)
        self.grad_scaler.update()
        self.step += 1
        self._loss_sum += loss.detach().float()
        self._loss_count += 1
        self._emit(TrainerEvent("step_end", self.step, self.epoch))
        if self.step % config.log_every == 0:
            self._log_training(log, grad_norm)

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
        if self.evaluate is not None and ((finished + 1) % config.eval_every == 0 or finished + 1 == config.epochs):
            metrics = self._evaluate()
            improved = self._track_best(metrics)
            self._last_metrics = metrics
            self.history.append({"step": self.step, "epoch": finished, **metrics})
            if log is not None:
                log.write({"step": self.step, "epoch": finished, "eval": metrics, "best": improved,
                           "time": round(time.time(), 3)})
            self._emit(TrainerEvent("evaluation", self.step, finished, metrics))
        self.epoch, self.batch_in_epoch = finished + 1, 0
        self._save_last()

    def _evaluate(self) -> dict[str, float]:
        self.model.eval()
        try:
            with torch.no_grad():
                metrics = {str(k): float(v) for k, v in self.evaluate(self.model).items()}  # type: ignore[misc]
        finally:
            self.model.train()
        return distributed.all_reduce_mean(metrics, self.device)

    def _track_best(self, metrics: Mapping[str, float]) -> bool:
        name = self.config.validation_metric
        if name is None:
            return False
        if name not in metrics:
            raise ConfigError(f"TrainerConfig: validation_metric {name!r} is not among the evaluation metrics "
                              f"({', '.join(sorted(metrics)) or 'none'})")
        value = metrics[name]
        best = self.best_metric
        improved = best is None or (value > best if self.config.metric_mode == "max" else value < best)
        if improved:
            self.best_metric, self.best_step = value, self.step
            self.evaluations_without_improvement = 0
            if distributed.is_main_process():
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

    # -- checkpoints --------------------------------------------------------------------------------

    def _save_last(self) -> None:
        """Write the last model + training-state pair (collective: every process must call it)."""
        rng = distributed.all_gather_tensors(capture_rng_state(include_cuda=self.device.type == "cuda"), self.device)
        loss_sum = distributed.all_reduce_mean({"loss_sum": self._loss_sum.item()}, self.device)["loss_sum"]
        self._loss_sum.fill_(loss_sum)
        if distributed.is_main_process():
            state = TrainingState(
                step=self.step, epoch=self.epoch, batch_in_epoch=self.batch_in_epoch,
                config=config_to_dict(self.config), progress=self._progress_json(),
                optimizer=self.optimizer.state_dict(),
                grad_scaler=self.grad_scaler.state_dict() if self.grad_scaler.is_enabled() else None, rng=rng,
            )
            metrics = dict(self._last_metrics)
            write_checkpoint_pair(self.out_dir, lambda path: self.save_model(path, self.model, self.step, metrics), state)
        distributed.barrier()
        self._emit(TrainerEvent("checkpoint", self.step, self.epoch))

    def _progress_json(self) -> dict[str, Any]:
        return {
            "best_metric": self.best_metric, "best_step": self.best_step,
            "evaluations_without_improvement": self.evaluations_without_improvement,
            "loss_sum": self._loss_sum.item(), "loss_count": self._loss_count,
            "last_metrics": self._last_metrics, "history": self.history,
            "dataset_size": self.dataset_size, "world_size": self.world_size,
        }

    def _resume(self, location: str | Path) -> None:
        checkpoint, state = resolve_checkpoint_pair(location)
        where = checkpoint_pair_paths(location)[1]
        _check_resumed_config(state.config, config_to_dict(self.config), where)
        progress = state.progress
        if progress.get("dataset_size") != self.dataset_size or progress.get("world_size") != self.world_size:
            raise ConfigError(
                f"{where}: run had {progress.get('dataset_size')} samples on {progress.get('world_size')} process(es), "
                f"now {self.dataset_size} on {self.world_size}; the data position cannot be restored"
            )
        if len(state.rng) != self.world_size:
            raise CheckpointError(f"{where}: holds RNG states of {len(state.rng)} process(es), expected {self.world_size}")
        try:
            self.model.load_state_dict(checkpoint.tensors, strict=True)
        except RuntimeError as exc:
            detail = " ".join(str(exc).split())[:300]
            raise CheckpointError(f"{checkpoint_pair_paths(location)[0]}: weights do not fit the model: {detail}") from None
        try:
            self.optimizer.load_state_dict(state.optimizer)
        except (ValueError, KeyError, RuntimeError) as exc:
            detail = " ".join(str(exc).split())[:300]
            raise CheckpointError(f"{where}: optimizer state does not fit the model's parameters: {detail}") from None
        if state.grad_scaler is not None:
            self.grad_scaler.load_state_dict(state.grad_scaler)
        self.step, self.epoch, self.batch_in_epoch = state.step, state.epoch, state.batch_in_epoch
        self.best_metric, self.best_step = progress["best_metric"], progress["best_step"]
        self.evaluations_without_improvement = int(progress["evaluations_without_improvement"])
        self._loss_sum.fill_(float(progress["loss_sum"]))
        self._loss_count = int(progress["loss_count"])
        self._last_metrics = dict(progress["last_metrics"])
        self.history = list(progress["history"])
        self._saved_rng = state.rng[self.rank]

    def _open_log(self) -> MetricsLog:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        run = {"device": str(self.device), "world_size": self.world_size, "dataset_size": self.dataset_size,
               "steps_per_epoch": self.steps_per_epoch, "total_steps": self.total_steps,
               "resumed_at_step": self.step, "torch_version": torch.__version__}
        text = json.dumps({"trainer": config_to_dict(self.config), "run": run}, indent=2) + "\n"
        atomic_write(self.out_dir / CONFIG_FILE, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
        truncate_metrics(self.out_dir / METRICS_FILE, self.step)
        tensorboard_dir = self.out_dir / "tensorboard" if self.config.tensorboard else None
        return MetricsLog(self.out_dir / METRICS_FILE, tensorboard_dir=tensorboard_dir)


def _parameter_groups(model: nn.Module, config: TrainerConfig) -> list[dict[str, Any]]:
    """AdamW groups ``main`` and (with ``encoder_lr``) ``encoder``; ``encoder_lr == 0`` freezes the encoder."""
    main, encoder = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        in_encoder = config.encoder_lr is not None and name.startswith(config.encoder_prefix)
        (encoder if in_encoder else main).append(parameter)
    if config.encoder_lr is not None and not encoder:
        raise ConfigError(f"TrainerConfig: encoder_lr is set but no trainable parameter name starts with "
                          f"{config.encoder_prefix!r}")
    groups = []
    if main:
        groups.append({"name": "main", "params": main, "lr": config.lr, "base_lr": config.lr})
    if config.encoder_lr == 0:
        for parameter in encoder:
            parameter.requires_grad_(False)
    elif encoder:
        groups.append({"name": "encoder", "params": encoder, "lr": config.encoder_lr, "base_lr": config.encoder_lr})
    if not groups:
        raise ConfigError(f"{type(model).__name__}: no trainable parameters")
    return groups


def _check_resumed_config(saved: Mapping[str, Any], current: Mapping[str, Any], where: Path) -> None:
    changed = sorted(k for k in set(saved) | set(current) if k not in RESUME_MAY_CHANGE and saved.get(k) != current.get(k))
    if changed:
        name = changed[0]
        raise ConfigError(f"{where}: resumed config changes {name} ({saved.get(name)!r} -> {current.get(name)!r}); "
                          f"only {', '.join(sorted(RESUME_MAY_CHANGE))} may change")


def _resolve_device(requested: str) -> torch.device:
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"TrainerConfig: device {requested!r} but CUDA is not available")
        return torch.device(requested) if ":" in requested else torch.device("cuda", torch.cuda.current_device())
    return torch.device(requested)


def _to_device(value: Any, device: torch.device) -> Any:
    """Tensors of a (nested) batch moved to ``device``; everything else as is."""
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, Mapping):
        return {k: _to_device(v, device) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and any(isinstance(v, torch.Tensor) for v in value):
        return type(value)(_to_device(v, device) for v in value)
    return value

