"""Dataclass configs: JSON round trip, unknown keys refused, nested configs, type checks."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from multimodal_rnn.config import check_overrides, config_from_dict, config_to_dict, override_config
from multimodal_rnn.errors import ConfigError


@dataclass(frozen=True)
class Inner:
    size: int = 3
    scale: float = 1.0


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    inner: Inner = field(default_factory=Inner)
    sizes: tuple[int, ...] = (1, 2)
    note: str | None = None


def test_round_trip_nested() -> None:
    config = Outer(name="y", inner=Inner(size=5, scale=0.5), sizes=(4,), note="hi")
    data = config_to_dict(config)
    assert data == {"name": "y", "inner": {"size": 5, "scale": 0.5}, "sizes": [4], "note": "hi"}
    assert config_from_dict(Outer, data) == config


def test_unknown_key_is_an_error_naming_it() -> None:
    with pytest.raises(ConfigError, match="unknown key.*hiden_size"):
        config_from_dict(Inner, {"hiden_size": 3})
    with pytest.raises(ConfigError, match=r"config.inner: unknown key"):
        config_from_dict(Outer, {"inner": {"bad": 1}})


def test_types_are_checked_and_ints_widen_to_float() -> None:
    assert config_from_dict(Inner, {"scale": 2}).scale == 2.0
    with pytest.raises(ConfigError, match="expected int"):
        config_from_dict(Inner, {"size": 2.5})
    with pytest.raises(ConfigError, match="expected int"):
        config_from_dict(Inner, {"size": True})


def test_override() -> None:
    assert override_config(Inner(), {"size": 9}) == Inner(size=9)
    with pytest.raises(ConfigError):
        override_config(Inner(), {"sise": 9})


def test_check_overrides_checks_keys_types_and_bounds_on_their_own() -> None:
    check_overrides(Outer, {"inner": {"size": 4}, "note": None})  # partial: the rest keeps its defaults
    with pytest.raises(ConfigError, match=r"^override: unknown key\(s\) nme for Outer"):
        check_overrides(Outer, {"nme": "y"})
    with pytest.raises(ConfigError, match=r"^override.sizes: must be an integer from 0 to"):
        check_overrides(Outer, {"sizes": [1, -2]})
    with pytest.raises(ConfigError, match=r"^override.inner.scale: expected a finite number, got inf"):
        check_overrides(Outer, {"inner": {"scale": float("inf")}})
