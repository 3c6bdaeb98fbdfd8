"""Learning-rate schedules as pure functions of the optimizer step.

A schedule here is a multiplier of the base learning rate, computed from the number of optimizer
updates already done. Nothing is stored but the step, so a resumed run gets exactly the rate an
uninterrupted run would have used (no scheduler object, no lambdas to serialize).

* ``constant``: 1.
* ``cosine``: from 1 down to ``min_lr_ratio`` along half a cosine, between the end of warmup and
  ``total_steps``; it stays at ``min_lr_ratio`` after that.
* ``step``: ``gamma ** (step // step_size)``, counted from step 0 (warmup included).

A linear warmup multiplies any of them: the update with index ``step < warmup_steps`` uses the
factor ``(step + 1) / warmup_steps``, so the first update is never taken with a zero rate.
"""

from __future__ import annotations

import math

SCHEDULES: tuple[str, ...] = ("constant", "cosine", "step")
"""Names accepted by :func:`learning_rate_factor`."""


def learning_rate_factor(
    step: int,
    *,
    schedule: str,
    total_steps: int,
    warmup_steps: int = 0,
    step_size: int = 1,
    gamma: float = 1.0,
    min_lr_ratio: float = 0.0,
) -> float:
    """Multiplier of the base learning rate for the update that follows ``step`` done updates.

    Args:
        step: optimizer updates already taken (0 for the first update of a run).
        schedule: one of :data:`SCHEDULES`.
        total_steps: updates in the whole run (epochs x batches per epoch); only ``cosine`` uses it.
        warmup_steps: updates of linear warmup (0 = none).
        step_size: updates between two decays of the ``step`` schedule.
        gamma: decay factor of the ``step`` schedule.
        min_lr_ratio: final multiplier of the ``cosine`` schedule.

    Returns:
        A factor in ``[0, 1]`` (for ``gamma <= 1``).
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if schedule == "constant":
        factor = 1.0
    elif schedule == "cosine":
        span = max(1, total_steps - warmup_steps)
        progress = min(1.0, max(0.0, (step - warmup_steps) / span))
        factor = min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
    elif schedule == "step":
        factor = gamma ** (step // step_size)
    else:
        raise ValueError(f"unknown schedule {schedule!r} (known: {', '.join(SCHEDULES)})")
    if step < warmup_steps:
        factor *= (step + 1) / warmup_steps
    return factor
