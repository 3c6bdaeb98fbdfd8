"""Training for every task: one :class:`Trainer`, its config, schedules and resumable state.

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
from multimodal_rnn.training.trainer import (
    RESUME_MAY_CHANGE,
    Trainer,
    TrainerConfig,
    TrainerEvent,
    TrainResult,
    save_bare_model,
)

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
