"""Test-wide settings: one torch thread (tests use tiny tensors; threads only add overhead), and the
``cuda`` marker of the tests that need a GPU (skipped without one; ``benchmarks/gpu_check.sh`` runs them)."""

import pytest
import torch

torch.set_num_threads(1)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cuda: needs a CUDA GPU; skipped without one (run by benchmarks/gpu_check.sh)")
