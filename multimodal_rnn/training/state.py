"""Training state on disk without pickle: optimizer, grad scaler, RNG streams and data position.

``last.trainer.safetensors`` holds every tensor of the state (optimizer moments, RNG states) as
safetensors tensors, and everything else (step, epoch, batch position, best metric, patience,
the trainer config, the optimizer's param groups) as JSON in the ``__metadata__`` entry
``"multimodal_rnn_trainer"``. Nested Python state (an ``optimizer.state_dict()``, a
``GradScaler.state_dict()``) goes through :func:`state_to_tree` / :func:`state_from_tree`, which
keep tuples, integer dict keys and tensors exact, so a load gives back an equal state dict.

The model weights live in a separate file (``last.safetensors``, written by the task's
``save_model``). The pair is written in two phases (:func:`write_checkpoint_pair`): both files go
to hidden ``.pending`` names first (each atomically), then are renamed over the last pair. A crash
in the first phase leaves the previous pair untouched; a crash between the two renames leaves a
pending trainer state that :func:`resolve_checkpoint_pair` completes. Both files carry the step,
and a pair whose steps differ is refused.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from multimodal_rnn.checkpoint import (
    Checkpoint,
    HeaderFormat,
    load_checkpoint,
    read_header,
    read_json_header,
    write_safetensors,
)
from multimodal_rnn.errors import CheckpointError, MMRNNError
from multimodal_rnn.files import fsync_directory

FORMAT_VERSION = 1
METADATA_KEY = "multimodal_rnn_trainer"
MODEL_FILE = "last.safetensors"
STATE_FILE = "last.trainer.safetensors"
_PENDING_MODEL_FILE = ".pending.safetensors"
_PENDING_STATE_FILE = ".pending.trainer.safetensors"
_STATE_FORMAT = HeaderFormat(METADATA_KEY, "training state", FORMAT_VERSION,
                             ("format_version", "step", "epoch", "batch_in_epoch", "config", "progress", "optimizer",
                              "grad_scaler", "rng_ranks"))


@dataclass
class TrainingState:
    """Everything but the model weights that a resumed run needs.

    Attributes:
        step: optimizer updates done.
        epoch: the epoch in progress (0-based); ``batch_in_epoch`` batches of it are done.
        batch_in_epoch: batches of ``epoch`` already trained on (per process).
        config: the trainer config as a JSON dict.
        progress: JSON-ready bookkeeping of the trainer (best metric, patience, log accumulators,
            evaluation history, dataset size, world size).
        optimizer: ``optimizer.state_dict()``.
        grad_scaler: ``GradScaler.state_dict()`` or None.
        rng: one :func:`capture_rng_state` per process, in rank order.
    """

    step: int
    epoch: int
    batch_in_epoch: int
    config: dict[str, Any]
    progress: dict[str, Any]
    optimizer: dict[str, Any]
    grad_scaler: dict[str, Any] | None = None
    rng: list[dict[str, torch.Tensor]] = field(default_factory=list)


def state_to_tree(value: Any, tensors: dict[str, torch.Tensor], prefix: str) -> Any:
    """Turn nested state into JSON-ready data; every tensor moves to ``tensors`` under ``prefix/...``.

    Tensors become ``{"__tensor__": key}``, tuples ``{"__tuple__": [...]}`` and dicts whose keys are
    not all strings ``{"__items__": [[key, value], ...]}``, so :func:`state_from_tree` rebuilds the
    same types. Supported leaves: None, bool, int, float, str.
    """
    if isinstance(value, torch.Tensor):
        tensors[prefix] = value.detach().to("cpu").contiguous().clone()
        return {"__tensor__": prefix}
    if isinstance(value, tuple):
        return {"__tuple__": [state_to_tree(v, tensors, f"{prefix}/{i}") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [state_to_tree(v, tensors, f"{prefix}/{i}") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: state_to_tree(v, tensors, f"{prefix}/{k}") for k, v in value.items()}
        items = enumerate(value.items())
        return {"__items__": [[state_to_tree(k, tensors, f"{prefix}/{i}k"), state_to_tree(v, tensors, f"{prefix}/{i}v")]
                              for i, (k, v) in items]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"{prefix}: cannot store a {type(value).__name__} in a training state")


def state_from_tree(tree: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`state_to_tree`; raises KeyError naming a tensor that ``tensors`` lacks."""
    if isinstance(tree, list):
        return [state_from_tree(v, tensors) for v in tree]
    if isinstance(tree, dict):
        if set(tree) == {"__tensor__"}:
            key = tree["__tensor__"]
            if key not in tensors:
                raise KeyError(key)
            return tensors[key]
        if set(tree) == {"__tuple__"}:
            return tuple(state_from_tree(v, tensors) for v in tree["__tuple__"])
        if set(tree) == {"__items__"}:
            return {state_from_tree(k, tensors): state_from_tree(v, tensors) for k, v in tree["__items__"]}
        return {k: state_from_tree(v, tensors) for k, v in tree.items()}
    return tree


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def capture_rng_state(*, include_cuda: bool) -> dict[str, torch.Tensor]:
    """The global RNG streams of this process as tensors (all shapes fixed, so ranks can gather them).

    Keys: ``python`` (int64, 625: Mersenne Twister words + position), ``python_gauss`` (float64, 2:
    has-value flag, value), ``numpy`` (int64, 624 words), ``numpy_extra`` (float64, 3: position,
    has-gauss flag, cached gaussian), ``torch`` (uint8 CPU generator state) and, when
    ``include_cuda``, ``cuda/<i>`` for every visible CUDA device.
    """
    version, words, gauss = random.getstate()
    if version != 3:
        raise RuntimeError(f"unsupported Python random state version {version}")
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    if kind != "MT19937":
        raise RuntimeError(f"unsupported NumPy random state {kind}")
    state = {
        "python": torch.tensor(words, dtype=torch.int64),
        "python_gauss": torch.tensor([0.0 if gauss is None else 1.0, gauss or 0.0], dtype=torch.float64),
        "numpy": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "numpy_extra": torch.tensor([position, has_gauss, cached_gaussian], dtype=torch.float64),
        "torch": torch.get_rng_state(),
    }
    if include_cuda:
        for index, cuda_state in enumerate(torch.cuda.get_rng_state_all()):
            state[f"cuda/{index}"] = cuda_state
    return state


def restore_rng_state(state: dict[str, torch.Tensor]) -> None:
    """Set the global RNG streams from :func:`capture_rng_state` output (CUDA ones if present)."""
    has_gauss, gauss = state["python_gauss"].tolist()
    random.setstate((3, tuple(int(w) for w in state["python"].tolist()), gauss if has_gauss else None))
    position, has_np_gauss, cached_gaussian = state["numpy_extra"].tolist()
    np.random.set_state(
        ("MT19937", state["numpy"].numpy().astype(np.uint32), int(position), int(has_np_gauss), float(cached_gaussian))
    )
    torch.set_rng_state(state["torch"])
    cuda_keys = sorted((k for k in state if k.startswith("cuda/")), key=lambda k: int(k.split("/")[1]))
    cuda_states = [state[k] for k in cuda_keys]
    if cuda_states:
        torch.cuda.set_rng_state_all(cuda_states)


def save_training_state(path: str | os.PathLike[str], state: TrainingState) -> None:
    """Atomically write ``state`` to ``path`` (a safetensors file; no pickle anywhere)."""
    tensors: dict[str, torch.Tensor] = {}
    header = {
        "format_version": FORMAT_VERSION,
        "step": int(state.step),
        "epoch": int(state.epoch),
        "batch_in_epoch": int(state.batch_in_epoch),
        "config": state.config,
        "progress": state.progress,
        "optimizer": state_to_tree(state.optimizer, tensors, "optimizer"),
        "grad_scaler": state_to_tree(state.grad_scaler, tensors, "grad_scaler"),
        "rng_ranks": len(state.rng),
    }
    for rank, rng in enumerate(state.rng):
        for key, value in rng.items():
            tensors[f"rng/{rank}/{key}"] = value.detach().to("cpu").contiguous().clone()
    metadata = {METADATA_KEY: json.dumps(header)}
    write_safetensors(path, lambda tmp: save_file(tensors, tmp, metadata=metadata), noun="training state")


def read_state_step(path: str | os.PathLike[str]) -> int:
    """The step recorded in a training-state file, reading only its header."""
    return int(read_json_header(path, _STATE_FORMAT, load_tensors=False)[0]["step"])


def load_training_state(path: str | os.PathLike[str]) -> TrainingState:
    """Read a file written by :func:`save_training_state`; any problem is a one-line CheckpointError."""
    path = Path(path)
    header, tensors = read_json_header(path, _STATE_FORMAT, load_tensors=True)
    try:
        rng = []
        for rank in range(int(header["rng_ranks"])):
            prefix = f"rng/{rank}/"
            rng.append({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        return TrainingState(
            step=int(header["step"]),
            epoch=int(header["epoch"]),
            batch_in_epoch=int(header["batch_in_epoch"]),
            config=dict(header["config"]),
            progress=dict(header["progress"]),
            optimizer=state_from_tree(header["optimizer"], tensors),
            grad_scaler=state_from_tree(header["grad_scaler"], tensors),
            rng=rng,
        )
    except KeyError as exc:
        raise CheckpointError(f"{path}: training state lacks {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: malformed training state ({exc})") from None


def write_checkpoint_pair(
    directory: str | os.PathLike[str],
    write_model: Callable[[Path], None],
    state: TrainingState,
) -> tuple[Path, Path]:
    """Write the model (through ``write_model(path)``) and ``state`` as the consistent last pair.

    ``write_model`` must write a :mod:`multimodal_rnn.checkpoint` file whose header step equals
    ``state.step`` (``save_checkpoint(..., step=state.step)`` does). Returns ``(model_path, state_path)``.
    If writing fails (an ``OSError`` such as a full disk), the previous pair is left as it was.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    pending_model, pending_state = directory / _PENDING_MODEL_FILE, directory / _PENDING_STATE_FILE
    try:
        write_model(pending_model)
        save_training_state(pending_state, state)
    except Exception:  # e.g. a full disk: the last pair is untouched, the half-written new one goes
        pending_model.unlink(missing_ok=True)
        pending_state.unlink(missing_ok=True)
        raise
    model_path, state_path = directory / MODEL_FILE, directory / STATE_FILE
    os.replace(pending_model, model_path)
    os.replace(pending_state, state_path)
    fsync_directory(directory)
    return model_path, state_path


def checkpoint_pair_paths(location: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(model_path, state_path)`` of a run directory, a ``last.trainer.safetensors`` or a ``last.safetensors``."""
    location = Path(location)
    if location.is_dir():
        return location / MODEL_FILE, location / STATE_FILE
    if location.name.endswith(".trainer.safetensors"):
        return location.with_name(location.name[: -len(".trainer.safetensors")] + ".safetensors"), location
    if location.name.endswith(".safetensors"):
        return location, location.with_name(location.name[: -len(".safetensors")] + ".trainer.safetensors")
    raise CheckpointError(f"{location}: not a run directory or a .safetensors checkpoint")


def resolve_checkpoint_pair(location: str | os.PathLike[str]) -> tuple[Checkpoint, TrainingState]:
    """Load the model checkpoint and training state of ``location``, checking they share one step.

    A pair left half-renamed by a crash during :func:`write_checkpoint_pair` is completed first.
    Raises:
        CheckpointError: a missing, unreadable or inconsistent pair (one line naming the files).
    """
    model_path, state_path = checkpoint_pair_paths(location)
    if not model_path.is_file():
        raise CheckpointError(f"{model_path}: no model checkpoint to resume from")
    model_step = int(read_header(model_path).get("step", 0))
    pending_state = model_path.parent / _PENDING_STATE_FILE
    state_step = read_state_step(state_path) if state_path.is_file() else None
    if state_step != model_step and pending_state.is_file() and _pending_step(pending_state) == model_step:
        os.replace(pending_state, state_path)  # finish the commit that a crash interrupted
        state_step = model_step
    if state_step is None:
        raise CheckpointError(f"{state_path}: no training state next to {model_path.name}")
    if state_step != model_step:
        raise CheckpointError(
            f"{state_path}: training state is at step {state_step} but {model_path.name} is at step {model_step} (inconsistent pair)"
        )
    return load_checkpoint(model_path), load_training_state(state_path)


def _pending_step(path: Path) -> int | None:
    try:
        return read_state_step(path)
    except MMRNNError:
        return None
