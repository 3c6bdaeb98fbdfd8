"""The tasks: one package each, every one a vertical slice on the shared base.

``TASKS`` is the one list of tasks the apps iterate; adding a task is one package under
``tasks/`` plus one line here. ``MODELS`` unites the tasks' model registries, so
:func:`multimodal_rnn.checkpoint.load_model` can rebuild any checkpoint of this package.

Listing the tasks imports no torch: each task names its models, predictor and serving spec by
import path (:class:`~multimodal_rnn.tasks.protocol.TaskSpec`), and ``MODELS`` is built on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from multimodal_rnn.tasks.action import TASK as ACTION
from multimodal_rnn.tasks.caption import TASK as CAPTION
from multimodal_rnn.tasks.dialog import TASK as DIALOG
from multimodal_rnn.tasks.frames import TASK as FRAMES
from multimodal_rnn.tasks.navigation import TASK as NAVIGATION
from multimodal_rnn.tasks.protocol import Task
from multimodal_rnn.tasks.video_caption import TASK as VIDEO_CAPTION
from multimodal_rnn.tasks.vqa import TASK as VQA

if TYPE_CHECKING:
    from multimodal_rnn.registry import Registry

TASKS: dict[str, Task] = {task.name: task for task in (CAPTION, VQA, DIALOG, NAVIGATION, ACTION, FRAMES, VIDEO_CAPTION)}
"""Every task by name, in the order the CLI lists them."""

MODELS: Registry
"""Every registered model of every task (built, and torch imported, on first use)."""


def __getattr__(name: str) -> Any:
    if name == "MODELS":
        from multimodal_rnn.registry import Registry

        globals()["MODELS"] = registry = Registry.union(task.models for task in TASKS.values())
        return registry
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["MODELS", "TASKS", "Task"]
