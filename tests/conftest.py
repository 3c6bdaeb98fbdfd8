"""Test-wide settings: one torch thread (tests use tiny tensors; threads only add overhead)."""

import torch

torch.set_num_threads(1)
