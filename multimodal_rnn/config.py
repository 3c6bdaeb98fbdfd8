"""Frozen dataclass configs: conversion to and from plain JSON data.

Every component owns one frozen dataclass config. Configs are written into every checkpoint as
JSON and rebuilt from it with :func:`config_from_dict`, which refuses unknown keys so that a typo
in an override or a checkpoint from another model never passes silently.

It also bounds every value, whatever the config class (a checkpoint header or a ``--set`` is
user input): integers are from 0 to :data:`MAX_CONFIG_INT` (2**31 - 1); sizes (a field named ``*_size`` or
``*_layers``) from 1 and counts (``num_*``) from 0 to :data:`MAX_CONFIG_SIZE` (2**24); floats are
finite. The memory a model's sizes add up to is bounded when it is built
(:data:`multimodal_rnn.registry.MAX_PARAMETER_BYTES`).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from multimodal_rnn.errors import ConfigError

C = TypeVar("C")

MAX_CONFIG_INT = 2**31 - 1
"""Largest integer a config field takes."""

MAX_CONFIG_SIZE = 2**24
"""Largest size or count (fields named ``*_size``, ``*_layers``, ``num_*``): 16,777,216."""


def config_to_dict(config: Any) -> dict[str, Any]:
    """Return a JSON-ready dict of a (possibly nested) dataclass config; tuples become lists."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"expected a dataclass instance, got {type(config).__name__}")
    return _to_plain(dataclasses.asdict(config))


def _to_plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value


def config_from_dict(cls: type[C], data: Mapping[str, Any], *, where: str = "config") -> C:
    """Build dataclass ``cls`` from ``data``; nested dataclass fields are built recursively.

    Raises:
        ConfigError: on a key that ``cls`` does not define, a missing required key, or a value
            whose type does not fit (message names ``where`` and the key).
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected an object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)} for {cls.__name__} (known: {', '.join(sorted(fields))})"
        )
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints.get(name, Any), value, f"{where}.{name}")
    try:
        config = cls(**kwargs)
    except TypeError as exc:  # missing required fields
        raise ConfigError(f"{where}: {exc}") from None
    except ValueError as exc:  # __post_init__ validation
        raise ConfigError(f"{where}: {exc}") from None
    for name, value in kwargs.items():  # after the class's own checks, whose messages say more
        _check_bounds(value, f"{where}.{name}")
    return config


def check_overrides(cls: type[Any], overrides: Mapping[str, Any], *, where: str = "override") -> None:
    """Check ``overrides`` of config class ``cls`` on their own, before any data is read: every key
    is a field of ``cls`` and every value fits its type and the bounds of the module docstring
    (the class's cross-field checks run when the whole config is built).

    Raises:
        ConfigError: as :func:`config_from_dict` would for these keys.
    """
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)} for {cls.__name__} (known: {', '.join(sorted(fields))})"
        )
    hints = typing.get_type_hints(cls)
    for name, value in overrides.items():
        _check_bounds(_coerce(hints.get(name, Any), value, f"{where}.{name}"), f"{where}.{name}")


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return config_from_dict(hint, value, where=where)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: value {value!r} does not fit {hint}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        args = typing.get_args(hint)
        item = args[0] if args else Any
        return tuple(_coerce(item, v, where) for v in value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool):
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise ConfigError(f"{where}: expected {hint.__name__}, got {_short(value)}")
    return value


def _check_bounds(value: Any, where: str) -> None:
    """The bounds of the module docstring, for a coerced field value (tuples item by item)."""
    if isinstance(value, tuple):
        for item in value:
            _check_bounds(item, where)
    elif type(value) is float and not math.isfinite(value):
        raise ConfigError(f"{where}: expected a finite number, got {value!r}")
    elif type(value) is int:
        _check_int(value, where)


def _check_int(value: int, where: str) -> None:
    name = where.rsplit(".", 1)[-1]
    if name.endswith(("_size", "_layers")):
        low, high = 1, MAX_CONFIG_SIZE
    elif name.startswith("num_"):
        low, high = 0, MAX_CONFIG_SIZE
    else:
        low, high = 0, MAX_CONFIG_INT
    if not low <= value <= high:
        raise ConfigError(f"{where}: must be an integer from {low} to {high}, got {_short(value)}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def override_config(config: C, overrides: Mapping[str, Any], *, where: str = "override") -> C:
    """Return a copy of ``config`` with ``overrides`` applied; unknown keys are an error."""
    merged = config_to_dict(config)
    merged.update(overrides)
    return config_from_dict(type(config), merged, where=where)
