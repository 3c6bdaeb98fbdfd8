"""Registries of model builders, so a checkpoint can rebuild its model from a name and a config.

A registry is a plain object built from an explicit list of :class:`ModelEntry` values: each task's
``models`` module declares its entries and :mod:`multimodal_rnn.tasks` unites the tasks' registries
into one. Nothing registers itself by being imported, and there is no global service locator:
:func:`multimodal_rnn.checkpoint.load_model` takes the registry to look names up in.

Every :meth:`Registry.build` first builds the model on PyTorch's ``meta`` device (shapes only, no
memory, no random numbers drawn) and refuses, as a one-line :class:`ConfigError`, a model whose
parameters and buffers would take more than :data:`MAX_PARAMETER_BYTES` = 4 GiB, so a config such
as ``hidden_size=100000000`` fails at once instead of trying to allocate terabytes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterable, Iterator, Mapping, TypeVar

import torch
from torch import nn

from multimodal_rnn.config import check_overrides, config_from_dict
from multimodal_rnn.errors import CheckpointError, ConfigError

MAX_PARAMETER_BYTES = 4 * 1024**3
"""Largest model :meth:`Registry.build` builds: parameters and buffers of at most 4 GiB (the
shipped models take 5 to 45 MB)."""

M = TypeVar("M", bound=nn.Module)


@dataclass(frozen=True)
class ModelEntry(Generic[M]):
    """One registered model: its name, its task, its frozen config class and its builder.

    ``upgrade``, if given, rewrites a config dict read from an older checkpoint into the form
    ``config_class`` takes (e.g. drops options the model no longer has); it applies to stored
    configs only (:meth:`Registry.stored_config`), never to a user's overrides.
    """

    name: str
    task: str
    config_class: type
    builder: Callable[..., M]
    upgrade: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    def build(self, config: Any, **context: Any) -> M:
        """Build the model from a config instance; ``context`` carries vocab sizes and the like."""
        if not isinstance(config, self.config_class):
            raise TypeError(f"model {self.name!r} takes a {self.config_class.__name__}, got {type(config).__name__}")
        return self.builder(config, **context)


def drop_retired_defaults(config_class: type, old_defaults: Mapping[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """An ``upgrade`` for configs stored by an earlier release whose config was shared by several
    models: drop the keys of ``old_defaults`` that ``config_class`` lacks when they hold their old
    default (any other value stays, and stays an error)."""
    known = {f.name for f in dataclasses.fields(config_class)}

    def upgrade(data: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in data.items()
                if key in known or key not in old_defaults or not _same(value, old_defaults[key])}

    return upgrade


def _same(value: Any, default: Any) -> bool:
    return type(value) is type(default) and value == default  # True is not 1 here


class Registry:
    """Name -> :class:`ModelEntry`; duplicate names are refused."""

    def __init__(self, entries: Iterable[ModelEntry] = ()) -> None:
        self._entries: dict[str, ModelEntry] = {}
        for entry in entries:
            if entry.name in self._entries:
                raise ValueError(f"model name {entry.name!r} is already registered")
            self._entries[entry.name] = entry

    @classmethod
    def union(cls, registries: Iterable["Registry"]) -> "Registry":
        """One registry holding every entry of ``registries`` (names must stay unique)."""
        return cls(entry for registry in registries for entry in registry)

    def get(self, name: str) -> ModelEntry:
        """Return the entry for ``name``; an unknown name is a :class:`CheckpointError`."""
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise CheckpointError(f"unknown model name {name!r} (registered: {known})") from None

    def config(self, name: str, data: dict[str, Any], *, where: str | None = None) -> Any:
        """Model ``name``'s config from its JSON dict; a key the model does not use is an error."""
        entry = self.get(name)
        return config_from_dict(entry.config_class, data, where=where or f"{name} config")

    def check_overrides(self, name: str, overrides: dict[str, Any]) -> None:
        """Check ``--set`` style ``overrides`` of model ``name`` before any work (unknown model,
        unknown keys, values out of type or bounds: :class:`ConfigError`)."""
        check_overrides(self.get(name).config_class, overrides, where=f"{name} config")

    def stored_config(self, name: str, data: dict[str, Any], *, where: str | None = None) -> Any:
        """As :meth:`config`, for a config read from a checkpoint: the entry's ``upgrade`` applies first."""
        upgrade = self.get(name).upgrade
        return self.config(name, upgrade(dict(data)) if upgrade is not None else data, where=where)

    def build(self, name: str, config: dict[str, Any] | Any, **context: Any) -> nn.Module:
        """Build model ``name`` from a config instance or its JSON dict, after :meth:`shapes`
        (so a model over :data:`MAX_PARAMETER_BYTES` is refused before anything is allocated)."""
        entry = self.get(name)
        if isinstance(config, dict):
            config = self.config(name, config)
        self.shapes(name, config, **context)
        return entry.build(config, **context)

    def shapes(self, name: str, config: Any, **context: Any) -> dict[str, tuple[torch.dtype, tuple[int, ...]]]:
        """``{state_dict key: (dtype, shape)}`` of model ``name`` built from ``config`` on the
        ``meta`` device (nothing allocated, no weights read, no random numbers drawn).

        Raises:
            ConfigError: the parameters and buffers would take over :data:`MAX_PARAMETER_BYTES`.
        """
        context = {k: v for k, v in context.items() if k != "load_encoder_weights"}
        with torch.device("meta"):
            model = self.get(name).build(config, **context)
        shapes = {k: (v.dtype, tuple(v.shape)) for k, v in model.state_dict().items()}
        size = sum(v.numel() * v.element_size() for v in model.state_dict().values())
        if size > MAX_PARAMETER_BYTES:
            raise ConfigError(f"{name} config: the model would take {size / 1024**3:.1f} GiB of parameters, "
                              f"over the limit of {MAX_PARAMETER_BYTES // 1024**3} GiB (smaller sizes, please)")
        return shapes

    def names(self, task: str | None = None) -> list[str]:
        """Registered names, sorted, optionally only those of one task."""
        return sorted(n for n, e in self._entries.items() if task is None or e.task == task)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)
