"""Distributed training on the CPU: two gloo processes against one process with the same global batch.

``torch.multiprocessing`` starts two processes that join the group through
:func:`multimodal_rnn.training.launch.torchrun_process_group` (with the environment torchrun would
set) and train a tiny regression model: uninterrupted, interrupted after epoch 1 and resumed, and
with one process's collate function refusing a batch. The parent trains the same model in one
process with twice the per-process batch and compares.

Tolerance of the distributed-vs-single comparison: 1e-5 on every parameter (measured about
1e-8..1e-7). The data are exactly the same (the union of the two shards' k-th batches is the
single process's k-th batch), but DDP averages two per-shard mean gradients where the single
process takes one mean over all samples, so float32 sums are rounded in another order; AdamW
then carries those last-bit differences through 8 updates. Distributed resume is compared
exactly (same processes, same reduction order).
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import Dataset

from multimodal_rnn.errors import ConfigError
from multimodal_rnn.training import Trainer, TrainerConfig, TrainerEvent
from multimodal_rnn.training import distributed
from multimodal_rnn.training.distributed import epoch_batches
from multimodal_rnn.training.launch import process_device, torchrun_environment, torchrun_process_group

SAMPLES, FEATURES, WORLD, BATCH = 32, 6, 2, 4
CONFIG = TrainerConfig(epochs=2, batch_size=BATCH, lr=1e-2, weight_decay=0.01, grad_clip=1.0, schedule="cosine",
                       warmup_steps=2, validation_metric="val_loss", metric_mode="min", device="cpu", log_every=2,
                       seed=5)
STEPS = CONFIG.epochs * SAMPLES // (WORLD * BATCH)  # 8 updates of 8 samples
TOLERANCE = 1e-5


class Regression(Dataset):
    """32 fixed samples (no read-time noise: both runs must see identical numbers)."""

    def __init__(self, size: int = SAMPLES) -> None:
        generator = torch.Generator().manual_seed(11)
        self.inputs = torch.randn(size, FEATURES, generator=generator)  # (N, F)
        self.targets = torch.sin(self.inputs @ torch.linspace(-1, 1, FEATURES).unsqueeze(1))  # (N, 1)

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"inputs": self.inputs[index], "targets": self.targets[index], "id": index}


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"inputs": torch.stack([i["inputs"] for i in items]), "targets": torch.stack([i["targets"] for i in items]),
            "ids": [i["id"] for i in items]}


class Regressor(nn.Module):
    """encoder (Linear) -> tanh -> head (Linear); MSE averaged over the samples."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(FEATURES, 16)
        self.head = nn.Linear(16, 1)

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return {"loss": nn.functional.mse_loss(self.head(torch.tanh(self.encoder(batch["inputs"]))), batch["targets"])}


VALIDATION = Regression(8)


def evaluate(model: nn.Module) -> dict[str, float]:
    loss = nn.functional.mse_loss(model.head(torch.tanh(model.encoder(VALIDATION.inputs))), VALIDATION.targets)
    return {"val_loss": loss.item()}


def make_trainer(out_dir: Path, config: TrainerConfig = CONFIG, **kwargs: Any) -> Trainer:
    torch.manual_seed(0)  # the same initial weights in every process and in the reference
    kwargs.setdefault("collate_fn", collate)
    return Trainer(Regressor(), config, Regression(), out_dir=out_dir, evaluate=evaluate, **kwargs)


def interrupt_after_epoch_one(event: TrainerEvent) -> None:
    if event.kind == "checkpoint" and event.epoch == 1:
        raise KeyboardInterrupt


class RefuseOneBatch:
    """Rank 1's collate function finds its second batch of epoch 0 unusable (returns None)."""

    def __init__(self) -> None:
        self.refused = sorted(epoch_batches(SAMPLES, BATCH, seed=CONFIG.seed, epoch=0, rank=1, world_size=WORLD)[1])

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any] | None:
        if distributed.rank() == 1 and sorted(i["id"] for i in items) == self.refused:
            return None
        return collate(items)


def _save(trainer: Trainer, path: Path, **facts: Any) -> None:
    save_file({k: v.detach().clone() for k, v in trainer.model.state_dict().items()}, str(path) + ".safetensors")
    path.with_suffix(".json").write_text(json.dumps({"step": trainer.step, **facts}))


def _worker(rank: int, port: int, tmp: str) -> None:
    """One of the two processes: the three distributed runs; rank 1 gets its own (must stay empty) out_dir."""
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(WORLD), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    with torchrun_process_group("cpu", timeout=timedelta(seconds=60)) as device:
        assert device == torch.device("cpu") and distributed.world_size() == WORLD
        _distributed_runs(rank, Path(tmp))  # the trainers end with this call, before the group does


def _distributed_runs(rank: int, root: Path) -> None:
    with distributed.main_process_first():  # rank 1 enters only after rank 0 has left
        if rank == 0:
            time.sleep(0.2)
            (root / "made_by_rank_0").write_text("0")
        else:
            assert (root / "made_by_rank_0").exists()
    out = {name: root / (name if rank == 0 else f"{name}_rank1") for name in ("full", "resumed", "skip")}
    trainer = make_trainer(out["full"])
    result = trainer.fit()
    _save(trainer, root / f"full_{rank}", best_step=result.best_step)

    with pytest.raises(KeyboardInterrupt):
        make_trainer(out["resumed"], callbacks=[interrupt_after_epoch_one]).fit()
    trainer = make_trainer(out["resumed"], resume_from=root / "resumed")
    trainer.fit()
    _save(trainer, root / f"resumed_{rank}")

    trainer = make_trainer(out["skip"], collate_fn=RefuseOneBatch())
    trainer.fit()
    _save(trainer, root / f"skip_{rank}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


@pytest.fixture(scope="module")
def distributed_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ddp")
    # fork (as DataLoader workers do) where there is one: a spawned child spends seconds importing torch
    start_method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    mp.start_processes(_worker, args=(_free_port(), str(root)), nprocs=WORLD, join=True, start_method=start_method)
    return root


def test_union_of_shards_is_the_single_process_batch() -> None:
    for epoch in range(CONFIG.epochs):
        single = epoch_batches(SAMPLES, WORLD * BATCH, seed=CONFIG.seed, epoch=epoch)
        shards = [epoch_batches(SAMPLES, BATCH, seed=CONFIG.seed, epoch=epoch, rank=r, world_size=WORLD)
                  for r in range(WORLD)]
        assert [sorted(b) for b in single] == [sorted(b0 + b1) for b0, b1 in zip(*shards)]


def test_two_processes_match_one_with_the_global_batch(distributed_runs: Path, tmp_path: Path) -> None:
    reference = make_trainer(tmp_path / "single", dataclasses.replace(CONFIG, batch_size=WORLD * BATCH))
    result = reference.fit()
    assert result.final_step == STEPS
    single = {k: v.detach() for k, v in reference.model.state_dict().items()}
    ranks = [load_file(distributed_runs / f"full_{r}.safetensors") for r in range(WORLD)]
    assert _max_difference(ranks[0], ranks[1]) == 0.0  # DDP keeps the replicas identical
    initial = make_trainer(tmp_path / "unused").model.state_dict()
    assert _max_difference(ranks[0], initial) > 1e-2  # the runs did train
    assert _max_difference(ranks[0], single) < TOLERANCE
    facts = json.loads((distributed_runs / "full_0.json").read_text())
    assert facts == {"step": STEPS, "best_step": result.best_step}


def test_only_rank_zero_writes(distributed_runs: Path) -> None:
    assert sorted(p.name for p in (distributed_runs / "full").iterdir()) == [
        "best.safetensors", "config.json", "last.safetensors", "last.trainer.safetensors", "metrics.jsonl"]
    config = json.loads((distributed_runs / "full" / "config.json").read_text())
    assert config["run"]["world_size"] == WORLD and config["run"]["steps_per_epoch"] == STEPS // CONFIG.epochs
    for name in ("full", "resumed", "skip"):
        assert not (distributed_runs / f"{name}_rank1").exists()


def test_distributed_resume_equals_uninterrupted(distributed_runs: Path) -> None:
    full = load_file(distributed_runs / "full_0.safetensors")
    for rank in range(WORLD):
        assert _max_difference(load_file(distributed_runs / f"resumed_{rank}.safetensors"), full) == 0.0
    assert json.loads((distributed_runs / "resumed_0.json").read_text())["step"] == STEPS


def test_a_batch_one_process_cannot_use_is_skipped_by_all(distributed_runs: Path) -> None:
    ranks = [load_file(distributed_runs / f"skip_{r}.safetensors") for r in range(WORLD)]
    assert _max_difference(ranks[0], ranks[1]) == 0.0
    for rank in range(WORLD):
        assert json.loads((distributed_runs / f"skip_{rank}.json").read_text())["step"] == STEPS - 1


def test_torchrun_environment_is_required_and_checked() -> None:
    with pytest.raises(ConfigError, match="torchrun.*RANK, WORLD_SIZE"):
        torchrun_environment({"LOCAL_RANK": "0", "MASTER_ADDR": "h", "MASTER_PORT": "1"})
    env = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "node0", "MASTER_PORT": "29500"}
    got = torchrun_environment(env)
    assert (got.rank, got.world_size, got.local_rank, got.master_addr, got.master_port) == (3, 4, 1, "node0", 29500)
    with pytest.raises(ConfigError, match="inconsistent"):
        torchrun_environment({**env, "RANK": "4"})
    with pytest.raises(ConfigError, match="non-integer"):
        torchrun_environment({**env, "MASTER_PORT": "http"})


def test_process_device() -> None:
    assert process_device("cpu", 3) == torch.device("cpu")
    with pytest.raises(ConfigError, match="CUDA_VISIBLE_DEVICES"):
        process_device("cuda:1", 0)
    if not torch.cuda.is_available():
        assert process_device("auto", 1) == torch.device("cpu")
        with pytest.raises(ConfigError, match="CUDA is not available"):
            process_device("cuda", 0)


# -- the command line -------------------------------------------------------------------------------


def test_amp_on_the_cpu_and_distributed_without_torchrun_are_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from apps.cli import main

    shapes = tmp_path / "shapes"  # must not be generated: both refusals come before any data
    common = ["train", "caption", "--out", str(tmp_path / "run"), "--shapes-dir", str(shapes)]
    assert main([*common, "--amp", "fp16", "--device", "cpu"]) == 2
    assert "--amp fp16: mixed precision runs on CUDA only" in capsys.readouterr().err
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert main([*common, "--distributed", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mmrnn: error: distributed training needs the environment torchrun sets (RANK, ")
    assert not shapes.exists() and not (tmp_path / "run").exists()


@pytest.mark.slow
def test_torchrun_two_cpu_processes_train_a_captioner(tmp_path: Path) -> None:
    """``torchrun -m apps.train caption --distributed`` with 2 gloo processes on a tiny shapes world (~20-30 s)."""
    import subprocess
    import sys

    from multimodal_rnn.datasets.shapes.world import ShapesConfig, generate_shapes_world

    shapes, out = tmp_path / "shapes", tmp_path / "run"
    generate_shapes_world(shapes, ShapesConfig(train_size=24, val_size=6, test_size=6, seed=3))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "apps.train", "caption", "--distributed", "--device", "cpu", "--shapes-dir", str(shapes),
               "--out", str(out), "--epochs", "1", "--batch-size", "8", "--warmup-steps", "2",
               "--set", "hidden_size=32", "--set", "embed_size=16", "--set", "attention_size=16",
               "--set", 'encoder={"channels": [8, 8, 16, 16]}']
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("best validation CIDEr-D") == 1  # rank 0 alone reports
    assert sorted(p.name for p in out.iterdir()) == [
        "best.safetensors", "config.json", "last.safetensors", "last.trainer.safetensors", "metrics.jsonl"]
    run = json.loads((out / "config.json").read_text())["run"]
    assert run["world_size"] == 2 and run["steps_per_epoch"] == -(-120 // 2 // 8)  # 24 images x 5 captions
