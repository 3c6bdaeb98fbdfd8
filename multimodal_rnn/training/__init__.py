"""Training for every task: one :class:`Trainer`, its config, schedules and resumable state.

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
  ``checkpoint_every_steps`` updates and when ``max_steps`` stops the run (a failed write, e.g. a
  full disk, leaves the previous pair as it was);
* ``best.safetensors``: the model at the best value of ``validation_metric`` (a ``max_steps`` stop
  is evaluated too; see :mod:`multimodal_rnn.training.progress`).

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
everywhere. A batch that any process cannot use (``collate_fn`` returned None, or a dict holding only
``num_skipped``) is skipped by all.
A resume needs the same number of processes; each restores its own RNG streams.

Typical use from task code::

    trainer = Trainer(model, TrainerConfig(epochs=20, lr=4e-4, encoder_lr=1e-4, grad_clip=5.0,
                                           validation_metric="CIDEr", early_stopping_patience=5),
                      train_dataset, collate_fn, out_dir,
                      evaluate=lambda m: {"CIDEr": score(m)},
                      save_model=lambda path, m, step, metrics: save_checkpoint(path, m, task="caption", ...,
                                                                                 step=step, metrics=metrics))
    result = trainer.fit()                      # later: Trainer(..., resume_from=out_dir).fit()
"""

from multimodal_rnn.training.schedules import SCHEDULES, learning_rate_factor
from multimodal_rnn.training.state import (
    TrainingState,
    capture_rng_state,
    load_training_state,
    restore_rng_state,
    save_training_state,
    seed_everything,
)
from multimodal_rnn.training.trainer import Trainer, TrainerConfig, TrainerEvent, TrainResult, save_bare_model
from multimodal_rnn.training.trainer_config import RESUME_MAY_CHANGE

__all__ = [
    "RESUME_MAY_CHANGE",
    "SCHEDULES",
    "Trainer",
    "TrainerConfig",
    "TrainerEvent",
    "TrainResult",
    "TrainingState",
    "capture_rng_state",
    "learning_rate_factor",
    "load_training_state",
    "restore_rng_state",
    "save_bare_model",
    "save_training_state",
    "seed_everything",
]
