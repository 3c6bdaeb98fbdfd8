"""The server's models: which tasks it can serve, loading their checkpoints, and what it says about them.

A task is served when it has a :class:`~multimodal_rnn.tasks.protocol.Serving` (its route, form
fields and batched call); the server iterates :data:`multimodal_rnn.tasks.TASKS` and names none.
Models are loaded through their task (``Task.load_predictor``: a checkpoint, or for caption and VQA an
export folder of ``mmrnn export``, run by onnxruntime); ``GET /v1/models`` describes them with their
model cards (:func:`multimodal_rnn.shipped.read_card`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multimodal_rnn.errors import InputError
from multimodal_rnn.shipped import read_card
from multimodal_rnn.tasks import TASKS
from multimodal_rnn.tasks.protocol import Serving, Task


@dataclass(frozen=True)
class LoadedModel:
    """A loaded checkpoint as ``GET /v1/models`` lists it."""

    task: str
    path: Path
    predictor: Any
    info: dict[str, Any] = field(default_factory=dict)


def servings(tasks: Mapping[str, Task] | None = None) -> dict[str, Serving[Any, Any]]:
    """Task name -> its :class:`~multimodal_rnn.tasks.protocol.Serving`, for every task of ``tasks``
    (default: :data:`~multimodal_rnn.tasks.TASKS`, in its order) that the server can serve."""
    tasks = TASKS if tasks is None else tasks
    return {name: task.serving for name, task in tasks.items() if task.serving is not None}


def servable_tasks(tasks: Mapping[str, Task] | None = None) -> list[str]:
    """The names of the tasks the server has a route for (``POST /v1/<task>``), in ``tasks`` order."""
    return list(servings(tasks))


def check_servable(task: str, tasks: Mapping[str, Task] | None = None) -> None:
    """Raise :class:`~multimodal_rnn.errors.InputError` unless the server has a route for ``task``."""
    servable = servable_tasks(tasks)
    if task not in servable:
        raise InputError(f"the server has no route for task {task!r} (it serves {', '.join(servable)})")


def describe(task: str, path: Path, predictor: Any) -> dict[str, Any]:
    """What ``GET /v1/models`` says about a loaded checkpoint: file, sha256, model, step, metrics and
    its model card (None for a file without one, or whose card is about other bytes); for an export
    folder the same from its manifest (sha256 of ``export.json``, which holds the graphs' sha256)."""
    if path.is_dir():  # an export folder (mmrnn export), run by onnxruntime: its manifest says what it is
        manifest = predictor.manifest
        return {
            "task": task,
            "file": path.name,
            "sha256": hashlib.sha256((path / "export.json").read_bytes()).hexdigest(),
            "model": manifest["model"],
            "runtime": "onnx" + (f" {manifest['quantized']}" if manifest.get("quantized") else ""),
            "parameters": None,
            "attention": bool(predictor.attends),
            "step": manifest["source"]["step"],
            "metrics": {},
            "card": manifest["card"],
        }
    checkpoint = predictor.checkpoint
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    card = read_card(path)
    return {
        "task": task,
        "file": path.name,
        "sha256": digest,
        "model": checkpoint.model_name if checkpoint else type(predictor.model).__name__,
        "parameters": sum(p.numel() for p in predictor.model.parameters()),
        "attention": bool(getattr(predictor.model, "attends", False)),
        "step": checkpoint.step if checkpoint else None,
        "metrics": checkpoint.metrics if checkpoint else {},
        "card": card if card is not None and card["sha256"] == digest else None,
    }


def load_models(
    paths: Mapping[str, Path], *, device: str = "cpu", tasks: Mapping[str, Task] | None = None
) -> dict[str, LoadedModel]:
    """Load the checkpoints of ``paths`` (task -> file; tasks of :func:`servable_tasks`) with each
    task's own predictor loader."""
    tasks = TASKS if tasks is None else tasks
    models = {}
    for task, path in paths.items():
        check_servable(task, tasks)
        predictor = tasks[task].load_predictor(path, device=device)
        models[task] = LoadedModel(task, Path(path), predictor, describe(task, Path(path), predictor))
    return models
