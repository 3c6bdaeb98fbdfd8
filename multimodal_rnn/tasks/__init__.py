"""The tasks: one package each, every one a vertical slice on the shared base.

``TASKS`` is the one list of tasks the apps iterate; adding a task is one package under
``tasks/`` plus one line here. ``MODELS`` unites the tasks' model registries, so
:func:`multimodal_rnn.checkpoint.load_model` can rebuild any checkpoint of this package.
"""

from multimodal_rnn.registry import Registry
from multimodal_rnn.tasks.caption import TASK as CAPTION
from multimodal_rnn.tasks.dialog import TASK as DIALOG
from multimodal_rnn.tasks.navigation import TASK as NAVIGATION
from multimodal_rnn.tasks.protocol import Task
from multimodal_rnn.tasks.vqa import TASK as VQA

TASKS: dict[str, Task] = {task.name: task for task in (CAPTION, VQA, DIALOG, NAVIGATION)}
"""Every task by name, in the order the CLI lists them."""

MODELS = Registry.union(task.models for task in TASKS.values())
"""Every registered model of every task."""

__all__ = ["MODELS", "TASKS", "Task"]
