"""The contract every task package fulfils, and the pieces all predictors share.

A task (``multimodal_rnn/tasks/<task>/``) exposes one :class:`Task` value, ``TASK``. The apps
(``mmrnn train|predict|eval TASK``, the server, shipped-weight lookup) iterate
:data:`multimodal_rnn.tasks.TASKS` and never name a task. A task declares:

* ``models``: its :class:`~multimodal_rnn.registry.Registry` (one config class per model);
* ``load_predictor(path, device=...)``: its predictor (Captioner, Answerer, ...) from a checkpoint;
* ``shipped``: the shipped checkpoint files it owns, by variant name (``"default"`` first);
* ``commands``: ``{"train" | "predict" | "eval": TaskCommand}``, each adding its arguments to an
  ``argparse`` parser and running with an already-parsed namespace. Commands never print: they
  return a :class:`Report` (lines for stdout, notes for stderr, an optional JSON-ready payload)
  and receive a :class:`RunContext` that carries the app's progress bars and log lines.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Protocol, TextIO, TypeVar, runtime_checkable

import torch
from torch import nn

from multimodal_rnn.checkpoint import Checkpoint
from multimodal_rnn.registry import Registry

T = TypeVar("T")

ProgressFactory = Callable[[Iterable[T], int, str], Iterable[T]]
"""``progress(iterable, total, description) -> iterable``: a progress bar (or the iterable itself)."""


def no_progress(iterable: Iterable[T], total: int, description: str) -> Iterable[T]:
    """The :data:`ProgressFactory` that shows nothing."""
    return iterable


@dataclass(frozen=True)
class RunContext:
    """What an app lends a task command.

    Attributes:
        progress: progress bars.
        log: a sink for log lines (the CLI writes them to stderr).
        emit: a sink for result lines as they come, for interactive commands (stdout).
        stdin: lines typed or piped in, for interactive commands.
    """

    progress: ProgressFactory = no_progress
    log: Callable[[str], None] = lambda line: None
    emit: Callable[[str], None] = lambda line: None
    stdin: TextIO | None = None


@dataclass(frozen=True)
class Report:
    """What a task command has to say: ``lines`` for stdout, ``notes`` (skipped files, warnings)
    for stderr, and ``data``, a JSON-ready summary for ``--json`` output."""

    lines: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class TaskCommand(Protocol):
    """One ``mmrnn <verb> <task>`` command of a task."""

    help: str
    """One line for the verb's ``--help`` list."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the command's options (description and epilog included) on ``parser``."""

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        """Run with parsed arguments; user errors raise :class:`~multimodal_rnn.errors.MMRNNError`."""


@runtime_checkable
class Task(Protocol):
    """A task package's entry point (see the module docstring)."""

    name: str
    summary: str
    models: Registry
    shipped: Mapping[str, str]
    commands: Mapping[str, TaskCommand]

    def load_predictor(self, path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> Any:
        """The task's predictor for the checkpoint at ``path``, on ``device``."""


class Predictor:
    """Base of every task's predictor: a model in eval mode and the checkpoint it came from.

    The device is always read from the model (:attr:`device`), never stored: move the model (or
    call :meth:`to`) and the predictor follows.
    """

    def __init__(self, model: nn.Module, *, checkpoint: Checkpoint | None = None,
                 device: str | torch.device | None = None) -> None:
        self.model = model.eval() if device is None else model.to(device).eval()
        self.checkpoint = checkpoint

    @property
    def device(self) -> torch.device:
        """Where the model's parameters (or, without any, its buffers) live."""
        for parameter in self.model.parameters():
            return parameter.device
        for buffer in self.model.buffers():
            return buffer.device
        return torch.device("cpu")

    def to(self: "P", device: str | torch.device) -> "P":
        """Move the model to ``device``; returns ``self``."""
        self.model.to(device)
        return self


P = TypeVar("P", bound=Predictor)


@dataclass(frozen=True)
class TaskSpec:
    """A plain :class:`Task`: the fields, and ``load_predictor`` delegated to ``predictor_loader``."""

    name: str
    summary: str
    models: Registry
    predictor_loader: Callable[..., Any]
    shipped: Mapping[str, str] = field(default_factory=dict)
    commands: Mapping[str, TaskCommand] = field(default_factory=dict)

    def load_predictor(self, path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> Any:
        """The task's predictor for the checkpoint at ``path``, on ``device``."""
        return self.predictor_loader(path, device=device)
