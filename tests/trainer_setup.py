"""The tiny regression set-up the trainer tests share: a noisy dataset that reads every RNG, a
model with dropout, its evaluation, the base config and helpers to build and interrupt a trainer."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from multimodal_rnn.training import Trainer, TrainerConfig, TrainerEvent
from multimodal_rnn.training.logging import read_metrics

SAMPLES, FEATURES = 64, 6


class NoisyRegression(Dataset):
    """64 fixed samples; every read adds noise from torch, NumPy and Python RNGs (all must be restored)."""

    def __init__(self, size: int = SAMPLES) -> None:
        generator = torch.Generator().manual_seed(123)
        self.inputs = torch.randn(size, FEATURES, generator=generator)
        self.targets = self.inputs @ torch.linspace(-1, 1, FEATURES).unsqueeze(1)  # (N, 1)

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        noise = 0.01 * torch.randn(FEATURES) + 0.01 * float(np.random.randn()) + 0.01 * random.random()
        return {"inputs": self.inputs[index] + noise, "targets": self.targets[index], "id": index}


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "inputs": torch.stack([i["inputs"] for i in items]),  # (B, F)
        "targets": torch.stack([i["targets"] for i in items]),  # (B, 1)
        "ids": [i["id"] for i in items],
    }


class TinyRegressor(nn.Module):
    """encoder (Linear) -> tanh -> dropout -> head (Linear); MSE loss."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(FEATURES, 16)
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(16, 1)

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        predictions = self.head(self.dropout(torch.tanh(self.encoder(batch["inputs"]))))  # (B, 1)
        return {"loss": nn.functional.mse_loss(predictions, batch["targets"]), "predictions": predictions}


VALIDATION = NoisyRegression(16)


def evaluate(model: nn.Module) -> dict[str, float]:
    torch.rand(2)  # an evaluation that consumes RNG must not break resume
    loss = nn.functional.mse_loss(model.head(torch.tanh(model.encoder(VALIDATION.inputs))), VALIDATION.targets)
    return {"val_loss": loss.item(), "score": -loss.item()}


BASE = TrainerConfig(
    epochs=3,
    batch_size=8,
    lr=1e-2,
    weight_decay=0.01,
    grad_clip=1.0,
    schedule="cosine",
    warmup_steps=4,
    min_lr_ratio=0.1,
    validation_metric="val_loss",
    metric_mode="min",
    device="cpu",
    log_every=3,
    seed=7,
)


def make_trainer(out_dir: Path, config: TrainerConfig = BASE, **kwargs: Any) -> Trainer:
    torch.manual_seed(0)
    kwargs.setdefault("evaluate", evaluate)
    return Trainer(TinyRegressor(), config, NoisyRegression(), collate, out_dir, **kwargs)


def log_without_time(path: Path) -> list[dict[str, Any]]:
    return [{k: v for k, v in record.items() if k != "time"} for record in read_metrics(path)]


def raise_at(kind: str, step: int) -> Callable[[TrainerEvent], None]:
    def callback(event: TrainerEvent) -> None:
        if event.kind == kind and event.step == step:
            raise KeyboardInterrupt

    return callback


def fit_uninterrupted(out: Path) -> tuple[Trainer, Any, Path]:
    """The reference run (``BASE``, 24 updates) in ``out``: ``(trainer, result, out)``."""
    trainer = make_trainer(out)
    return trainer, trainer.fit(), out
