"""Overhead of the Trainer over a bare training loop, and the cost of its checkpoints.

Same process, same model, data and batch order machinery (a DataLoader over an in-memory
dataset, AdamW, dropout MLP): a hand-written loop (zero_grad, forward, backward, step) against
``Trainer.fit`` (per-update learning rate from a cosine schedule, loss accumulation, JSONL log,
one checkpoint pair per epoch; no clipping, so both do the same arithmetic). Reported: updates/s of both (median of ``--repeats``
alternating rounds of ``--epochs`` epochs), the median of the per-round time ratios trainer/bare
with their spread (min-max) and the load average before and after; the cost of one
last-checkpoint pair (from a run with ``checkpoint_every_steps=1`` minus a run without, per update); the time to resume (``Trainer(resume_from=...)`` minus a fresh
``Trainer``); and the sizes of both files.

    python benchmarks/trainer_overhead.py                  # CPU, about 30 s on 2 cores
    python benchmarks/trainer_overhead.py --device cuda --hidden 1024
    python benchmarks/trainer_overhead.py --dry-run        # tiny sizes, a smoke test
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from timing import Load, Rounds, machine_line, ratio_text
from torch import nn
from torch.utils.data import DataLoader, Dataset

from multimodal_rnn.training import Trainer, TrainerConfig


class RandomRegression(Dataset):
    """``size`` fixed random (features, target) pairs held in memory."""

    def __init__(self, size: int, features: int) -> None:
        generator = torch.Generator().manual_seed(0)
        self.inputs = torch.randn(size, features, generator=generator)
        self.targets = torch.randn(size, 1, generator=generator)

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inputs[index], self.targets[index]


def collate(items: list[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {"inputs": torch.stack([i for i, _ in items]), "targets": torch.stack([t for _, t in items])}  # (B, F), (B, 1)


class DropoutMLP(nn.Module):
    """features -> hidden -> hidden -> 1 with ReLU and dropout; MSE loss."""

    def __init__(self, features: int, hidden: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Dropout(0.1),
                                    nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(0.1), nn.Linear(hidden, 1))

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"loss": nn.functional.mse_loss(self.layers(batch["inputs"]), batch["targets"])}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_loop_seconds(model: nn.Module, dataset: Dataset, config: TrainerConfig, device: torch.device) -> float:
    """Seconds of ``config.epochs`` epochs of the plainest loop that does the same updates."""
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, collate_fn=collate)
    synchronize(device)
    start = time.perf_counter()
    for _ in range(config.epochs):
        for batch in loader:
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            optimizer.zero_grad(set_to_none=True)
            model(batch)["loss"].backward()
            optimizer.step()
    synchronize(device)
    return time.perf_counter() - start


def trainer_seconds(model: nn.Module, dataset: Dataset, config: TrainerConfig, out_dir: Path) -> float:
    trainer = Trainer(model, config, dataset, collate, out_dir)
    synchronize(trainer.device)
    start = time.perf_counter()
    trainer.fit()
    synchronize(trainer.device)
    return time.perf_counter() - start


def construction_seconds(args: argparse.Namespace, dataset: Dataset, config: TrainerConfig, **kwargs: Any) -> float:
    start = time.perf_counter()
    Trainer(DropoutMLP(args.features, args.hidden), config, dataset, collate, **kwargs)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=8192)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes, one repeat")
    args = parser.parse_args(argv)
    if args.dry_run:
        args.samples, args.hidden, args.epochs, args.repeats = 256, 32, 1, 1
    torch.set_num_threads(max(1, torch.get_num_threads()))
    dataset = RandomRegression(args.samples, args.features)
    config = TrainerConfig(epochs=args.epochs, batch_size=args.batch_size, lr=1e-3, schedule="cosine",
                           warmup_steps=10, device=args.device, log_every=50)
    device = torch.device(args.device)
    updates = args.epochs * -(-args.samples // args.batch_size)
    parameters = sum(p.numel() for p in DropoutMLP(args.features, args.hidden).parameters())
    print(f"model: {parameters:,} parameters; {updates} updates per run; device {args.device}")
    print(machine_line())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bare: list[float] = []
        trained: list[float] = []
        load = Load()
        for repeat in range(args.repeats):  # alternating order, so that machine load hits both alike
            for which in ("bare", "trainer") if repeat % 2 == 0 else ("trainer", "bare"):
                torch.manual_seed(repeat)
                model = DropoutMLP(args.features, args.hidden)
                if which == "bare":
                    bare.append(bare_loop_seconds(model, dataset, config, device))
                else:
                    trained.append(trainer_seconds(model, dataset, config, root / f"run{repeat}"))
        rounds = Rounds({"bare": bare, "trainer": trained})
        bare_rate, trainer_rate = updates / rounds.median("bare"), updates / rounds.median("trainer")
        ratio = ratio_text(rounds.ratio("trainer", "bare"))
        print(f"bare loop: {bare_rate:9.1f} updates/s")
        print(f"trainer:   {trainer_rate:9.1f} updates/s   (trainer/bare time ratio {ratio}, {load.stop()})")

        every_step = dataclasses.replace(config, epochs=1, checkpoint_every_steps=1)
        without = dataclasses.replace(config, epochs=1)
        epoch_updates = updates // args.epochs
        with_checkpoints = trainer_seconds(DropoutMLP(args.features, args.hidden), dataset, every_step, root / "every")
        plain = trainer_seconds(DropoutMLP(args.features, args.hidden), dataset, without, root / "plain")
        print(f"save one checkpoint pair: {1000 * max(0.0, with_checkpoints - plain) / epoch_updates:8.2f} ms "
              f"(model {(root / 'plain' / 'last.safetensors').stat().st_size / 1e6:.2f} MB, "
              f"trainer state {(root / 'plain' / 'last.trainer.safetensors').stat().st_size / 1e6:.2f} MB)")
        fresh = min(construction_seconds(args, dataset, config, out_dir=root / f"fresh{i}") for i in range(3))
        resumed = min(construction_seconds(args, dataset, without, out_dir=root / "plain", resume_from=root / "plain")
                      for _ in range(3))
        print(f"resume (load + verify + restore): {1000 * max(0.0, resumed - fresh):8.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
