"""Registry of model builders, so a checkpoint can rebuild its model from a name and a config.

A registry is an object, not a global service locator: the package keeps one instance,
``MODELS``, that the task heads register into when their module is imported, and
:func:`multimodal_rnn.checkpoint.load_model` looks names up in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, TypeVar

from torch import nn

from multimodal_rnn.config import config_from_dict
from multimodal_rnn.errors import CheckpointError

M = TypeVar("M", bound=nn.Module)


@dataclass(frozen=True)
class ModelEntry(Generic[M]):
    """One registered model: its task, its frozen config class and its builder."""

    name: str
    task: str
    config_class: type
    builder: Callable[..., M]

    def build(self, config: Any, **context: Any) -> M:
        """Build the model from a config instance; ``context`` carries vocab sizes and the like."""
        return self.builder(config, **context)


class Registry:
    """Name -> :class:`ModelEntry`; duplicate names are refused."""

    def __init__(self) -> None:
        self._entries: dict[str, ModelEntry] = {}

    def register(self, name: str, *, task: str, config_class: type) -> Callable[[Callable[..., M]], Callable[..., M]]:
        """Decorator: register ``builder(config, **context) -> nn.Module`` under ``name``."""

        def decorate(builder: Callable[..., M]) -> Callable[..., M]:
            if name in self._entries:
                raise ValueError(f"model name {name!r} is already registered")
            self._entries[name] = ModelEntry(name, task, config_class, builder)
            return builder

        return decorate

    def get(self, name: str) -> ModelEntry:
        """Return the entry for ``name``; an unknown name is a :class:`CheckpointError`."""
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise CheckpointError(f"unknown model name {name!r} (registered: {known})") from None

    def build(self, name: str, config: dict[str, Any] | Any, **context: Any) -> nn.Module:
        """Build model ``name`` from a config instance or its JSON dict."""
        entry = self.get(name)
        if isinstance(config, dict):
            config = config_from_dict(entry.config_class, config, where=f"{name} config")
        return entry.build(config, **context)

    def names(self, task: str | None = None) -> list[str]:
        """Registered names, sorted, optionally only those of one task."""
        return sorted(n for n, e in self._entries.items() if task is None or e.task == task)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self._entries.values())


MODELS = Registry()
"""The package's model registry; heads register into it on import."""
