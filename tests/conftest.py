"""Test-wide settings: one torch thread (tests use tiny tensors; threads only add overhead), the
``cuda`` marker of the tests that need a GPU (skipped without one; ``benchmarks/gpu_check.sh`` runs
them), and the tiny data of the device tests."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pytest
import torch

if TYPE_CHECKING:
    from tests.device_check import TinyRun

torch.set_num_threads(1)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cuda: needs a CUDA GPU; skipped without one (run by benchmarks/gpu_check.sh)")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Callable[[TinyRun], Path]:
    """``tiny_data(run)``: the data of a :class:`~tests.device_check.TinyRun`, each kind made once per module."""
    made: dict[Callable[[Path], Path], Path] = {}

    def get(run: TinyRun) -> Path:
        if run.make_data not in made:
            made[run.make_data] = run.make_data(tmp_path_factory.mktemp(run.make_data.__name__))
        return made[run.make_data]

    return get
