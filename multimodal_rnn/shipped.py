"""The shipped weights: where they live (inside the installed package) and how a command finds a
checkpoint when the user names none."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from multimodal_rnn.errors import InputError


def weights_dir() -> Path:
    """``$MMRNN_WEIGHTS_DIR`` if set, else the package's ``weights`` folder (in a source checkout:
    the repository's ``weights/``)."""
    env = os.environ.get("MMRNN_WEIGHTS_DIR")
    if env:
        return Path(env)
    package = Path(__file__).resolve().parent
    installed = package / "weights"
    return installed if installed.is_dir() else package.parent / "weights"


def resolve_weights(path: str | os.PathLike[str] | None, shipped: Mapping[str, str], *, task: str,
                    variant: str = "default") -> Path:
    """The checkpoint to load: ``path`` if given, else the shipped file of ``variant``.

    ``shipped`` is a task's variant -> file name mapping (:attr:`multimodal_rnn.tasks.protocol.Task.shipped`).
    """
    if path:
        return Path(path)
    if variant not in shipped:
        listed = ", ".join(shipped) or "none"
        raise InputError(f"no shipped {task} weights for {variant} (shipped: {listed}); pass --weights FILE")
    default = weights_dir() / shipped[variant]
    if not default.exists():
        raise InputError(f"{default}: shipped {task} weights not found; pass --weights FILE")
    return default
