"""The trainer on a tiny regression model with dropout: learning, param groups, clipping, schedules,
early stopping, best checkpoints, exact resume after interruptions, crash safety."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from multimodal_rnn.checkpoint import load_checkpoint
from multimodal_rnn.config import config_from_dict, config_to_dict
from multimodal_rnn.errors import CheckpointError, ConfigError, InputError
from multimodal_rnn.training import Trainer, TrainerConfig, TrainerEvent, learning_rate_factor
from multimodal_rnn.training.distributed import epoch_batches
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
    return {"inputs": torch.stack([i["inputs"] for i in items]),  # (B, F)
            "targets": torch.stack([i["targets"] for i in items]),  # (B, 1)
            "ids": [i["id"] for i in items]}


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


BASE = TrainerConfig(epochs=3, batch_size=8, lr=1e-2, weight_decay=0.01, grad_clip=1.0, schedule="cosine",
                     warmup_steps=4, min_lr_ratio=0.1, validation_metric="val_loss", metric_mode="min",
                     device="cpu", log_every=3, seed=7)


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


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Trainer, Any, Path]:
    out = tmp_path_factory.mktemp("uninterrupted")
    trainer = make_trainer(out)
    return trainer, trainer.fit(), out


# -- learning -------------------------------------------------------------------------------------


def test_loss_decreases_and_files_are_written(uninterrupted: tuple[Trainer, Any, Path]) -> None:
    trainer, result, out = uninterrupted
    losses = [r["loss"] for r in read_metrics(out / "metrics.jsonl") if "loss" in r]
    assert len(losses) == 24 // 3
    assert losses[-1] < 0.5 * losses[0]
    assert result.final_step == 24 and result.epochs_completed == 3 and result.stop_reason == "completed"
    assert sorted(p.name for p in out.iterdir()) == [
        "best.safetensors", "config.json", "last.safetensors", "last.trainer.safetensors", "metrics.jsonl"]
    config = json.loads((out / "config.json").read_text())
    assert config_from_dict(TrainerConfig, config["trainer"]) == BASE
    assert config["run"]["steps_per_epoch"] == 8 and config["run"]["total_steps"] == 24
    assert load_checkpoint(out / "last.safetensors").step == 24


def test_logged_learning_rates_follow_the_schedule(uninterrupted: tuple[Trainer, Any, Path]) -> None:
    _, _, out = uninterrupted
    for record in read_metrics(out / "metrics.jsonl"):
        if "lr" in record:  # the line at step s reports the rate of update s, i.e. factor(s - 1)
            factor = learning_rate_factor(record["step"] - 1, schedule="cosine", total_steps=24, warmup_steps=4,
                                          min_lr_ratio=0.1)
            assert record["lr"] == pytest.approx(1e-2 * factor, rel=1e-12)


def test_schedule_values() -> None:
    def factor(step: int, **kwargs: Any) -> float:
        return learning_rate_factor(step, total_steps=104, **kwargs)

    assert [factor(s, schedule="constant", warmup_steps=4) for s in (0, 1, 3, 50)] == [0.25, 0.5, 1.0, 1.0]
    cosine = dict(schedule="cosine", warmup_steps=4, min_lr_ratio=0.1)
    assert factor(0, **cosine) == pytest.approx(0.25)
    assert factor(4, **cosine) == pytest.approx(1.0)
    assert factor(54, **cosine) == pytest.approx(0.55)  # half way: 0.1 + 0.9 * 0.5
    assert factor(29, **cosine) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert factor(104, **cosine) == pytest.approx(0.1) and factor(500, **cosine) == pytest.approx(0.1)
    step = dict(schedule="step", step_size=10, gamma=0.5)
    assert [factor(s, **step) for s in (0, 9, 10, 19, 20, 35)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.125]
    assert factor(1, warmup_steps=4, **step) == 0.5  # warmup multiplies the step schedule
    with pytest.raises(ValueError, match="unknown schedule"):
        factor(0, schedule="linear")


def test_encoder_learning_rate_makes_its_own_param_group(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, dataclasses.replace(BASE, encoder_lr=1e-3, schedule="constant", warmup_steps=0))
    groups = {g["name"]: g for g in trainer.optimizer.param_groups}
    assert set(groups) == {"main", "encoder"}
    assert groups["encoder"]["lr"] == 1e-3 and groups["main"]["lr"] == 1e-2
    encoder_ids = {id(p) for p in trainer.model.encoder.parameters()}
    assert {id(p) for p in groups["encoder"]["params"]} == encoder_ids
    assert {id(p) for p in groups["main"]["params"]} == {id(p) for p in trainer.model.head.parameters()}
    trainer.fit()
    record = next(r for r in read_metrics(tmp_path / "metrics.jsonl") if "lr" in r)
    assert (record["lr"], record["encoder_lr"]) == (1e-2, 1e-3)


def test_zero_encoder_learning_rate_freezes_the_encoder(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, dataclasses.replace(BASE, encoder_lr=0.0, epochs=1))
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.fit()
    after = trainer.model.state_dict()
    assert [g["name"] for g in trainer.optimizer.param_groups] == ["main"]
    assert all(not p.requires_grad for p in trainer.model.encoder.parameters())
    assert torch.equal(before["encoder.weight"], after["encoder.weight"])
    assert not torch.equal(before["head.weight"], after["head.weight"])


def test_encoder_prefix_that_matches_nothing_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'cnn.'"):
        make_trainer(tmp_path, dataclasses.replace(BASE, encoder_lr=1e-3, encoder_prefix="cnn."))


def test_gradients_are_clipped(tmp_path: Path) -> None:
    norms_after_clipping = []

    def check(event: TrainerEvent) -> None:
        if event.kind == "step_end":
            grads = [p.grad for p in trainer.model.parameters() if p.grad is not None]
            norms_after_clipping.append(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item())

    config = dataclasses.replace(BASE, grad_clip=0.05, epochs=1, log_every=1)
    trainer = make_trainer(tmp_path, config, callbacks=[check])
    trainer.fit()
    logged = [r["grad_norm"] for r in read_metrics(tmp_path / "metrics.jsonl") if "grad_norm" in r]
    assert len(norms_after_clipping) == len(logged) == 8
    assert min(logged) > 0.05  # the raw norms are larger than the limit ...
    assert max(norms_after_clipping) == pytest.approx(0.05, rel=1e-4)  # ... and were cut down to it


def test_early_stopping_after_patience(tmp_path: Path) -> None:
    scores = iter([0.5, 0.7, 0.6, 0.7, 0.65, 0.9])
    config = dataclasses.replace(BASE, epochs=10, validation_metric="score", metric_mode="max",
                                 early_stopping_patience=3)
    result = make_trainer(tmp_path, config, evaluate=lambda model: {"score": next(scores)}).fit()
    assert result.stop_reason == "early_stopping"
    assert [h["score"] for h in result.history] == [0.5, 0.7, 0.6, 0.7, 0.65]  # 0.7 tied: not an improvement
    assert result.epochs_completed == 5 and result.best_metric == 0.7 and result.best_step == 16


def test_patience_survives_a_resume(tmp_path: Path) -> None:
    scores = {8: 0.5, 16: 0.7, 24: 0.6, 32: 0.65, 40: 0.8, 48: 0.9}
    config = dataclasses.replace(BASE, epochs=10, validation_metric="score", metric_mode="max",
                                 early_stopping_patience=2)
    trainers: list[Trainer] = []

    def by_step(model: nn.Module) -> dict[str, float]:
        return {"score": scores[trainers[-1].step]}

    trainers.append(make_trainer(tmp_path, config, evaluate=by_step, callbacks=[raise_at("checkpoint", 24)]))
    with pytest.raises(KeyboardInterrupt):
        trainers[-1].fit()
    trainers.append(make_trainer(tmp_path, config, evaluate=by_step, resume_from=tmp_path))
    result = trainers[-1].fit()
    assert result.stop_reason == "early_stopping" and result.final_step == 32
    assert [h["score"] for h in result.history] == [0.5, 0.7, 0.6, 0.65] and result.best_step == 16


@pytest.mark.parametrize("mode, scores, best_index", [("max", [0.1, 0.5, 0.3, 0.7, 0.2], 3),
                                                      ("min", [0.4, 0.2, 0.3, 0.25, 0.1], 4)])
def test_best_checkpoint_follows_the_metric(tmp_path: Path, mode: str, scores: list[float], best_index: int) -> None:
    values = iter(scores)
    snapshots = {}

    def snapshot(event: TrainerEvent) -> None:
        if event.kind == "evaluation":
            snapshots[event.step] = {k: v.clone() for k, v in trainer.model.state_dict().items()}

    config = dataclasses.replace(BASE, epochs=5, validation_metric="bleu", metric_mode=mode)
    trainer = make_trainer(tmp_path, config, evaluate=lambda model: {"bleu": next(values)}, callbacks=[snapshot])
    result = trainer.fit()
    best = load_checkpoint(tmp_path / "best.safetensors")
    assert result.best_step == best.step == 8 * (best_index + 1)
    assert result.best_metric == best.metrics["bleu"] == scores[best_index]
    assert all(torch.equal(best.tensors[k], v) for k, v in snapshots[best.step].items())
    flags = [r["best"] for r in read_metrics(tmp_path / "metrics.jsonl") if "eval" in r]
    running = [scores[0]] + [max(scores[: i]) if mode == "max" else min(scores[: i]) for i in range(1, 5)]
    assert flags == [i == 0 or (s > running[i] if mode == "max" else s < running[i]) for i, s in enumerate(scores)]


def test_missing_validation_metric_is_a_config_error(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, dataclasses.replace(BASE, validation_metric="CIDEr"))
    with pytest.raises(ConfigError, match="'CIDEr' is not among the evaluation metrics \\(score, val_loss\\)"):
        trainer.fit()


# -- resume ---------------------------------------------------------------------------------------


def _assert_same_run(first: tuple[Trainer, Any, Path], trainer: Trainer, result: Any, out: Path) -> None:
    reference, reference_result, reference_out = first
    for name, value in reference.model.state_dict().items():
        assert torch.equal(trainer.model.state_dict()[name], value), name
    assert log_without_time(out / "metrics.jsonl") == log_without_time(reference_out / "metrics.jsonl")
    assert result.history == reference_result.history and result.best_step == reference_result.best_step
    best, reference_best = load_checkpoint(out / "best.safetensors"), load_checkpoint(reference_out / "best.safetensors")
    assert all(torch.equal(best.tensors[k], v) for k, v in reference_best.tensors.items())
    for a, b in zip(trainer.optimizer.state_dict()["state"].values(), reference.optimizer.state_dict()["state"].values()):
        assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("interruption", ["after_epoch", "killed_mid_epoch", "max_steps_mid_epoch"])
def test_interrupted_run_ends_exactly_where_an_uninterrupted_one_does(
    tmp_path: Path, uninterrupted: tuple[Trainer, Any, Path], interruption: str
) -> None:
    if interruption == "after_epoch":  # killed right after the epoch-1 checkpoint
        first = make_trainer(tmp_path, callbacks=[raise_at("checkpoint", 8)])
    elif interruption == "killed_mid_epoch":  # checkpoint at step 10 (epoch 1, batch 2), killed at step 13
        first = make_trainer(tmp_path, dataclasses.replace(BASE, checkpoint_every_steps=5),
                             callbacks=[raise_at("step_end", 13)])
    else:
        first = make_trainer(tmp_path, dataclasses.replace(BASE, max_steps=11))
    if interruption == "max_steps_mid_epoch":
        assert first.fit().stop_reason == "max_steps"
    else:
        with pytest.raises(KeyboardInterrupt):
            first.fit()
    torch.manual_seed(99)  # whatever happens in between must not matter
    resumed = make_trainer(tmp_path, resume_from=tmp_path)
    assert resumed.step == {"after_epoch": 8, "killed_mid_epoch": 10, "max_steps_mid_epoch": 11}[interruption]
    result = resumed.fit()
    assert result.final_step == 24 and result.stop_reason == "completed"
    _assert_same_run(uninterrupted, resumed, result, tmp_path)


def test_kill_while_writing_a_checkpoint_loses_nothing(tmp_path: Path, uninterrupted: tuple[Trainer, Any, Path]) -> None:
    calls = []

    def save_then_die_on_second_last(path: Path, model: nn.Module, step: int, metrics: Any) -> None:
        from multimodal_rnn.training.trainer import save_bare_model

        calls.append(path.name)
        if step == 16 and path.name.startswith(".pending"):
            path.write_bytes(b"half a checkpoint")
            raise KeyboardInterrupt
        save_bare_model(path, model, step, metrics)

    first = make_trainer(tmp_path, save_model=save_then_die_on_second_last)
    with pytest.raises(KeyboardInterrupt):
        first.fit()
    assert load_checkpoint(tmp_path / "last.safetensors").step == 8
    resumed = make_trainer(tmp_path, resume_from=tmp_path / "last.trainer.safetensors")
    _assert_same_run(uninterrupted, resumed, resumed.fit(), tmp_path)


def test_resume_refuses_a_different_run(tmp_path: Path) -> None:
    make_trainer(tmp_path, dataclasses.replace(BASE, max_steps=3)).fit()
    with pytest.raises(ConfigError, match=r"changes lr \(0.01 -> 0.02\)"):
        make_trainer(tmp_path, dataclasses.replace(BASE, lr=0.02), resume_from=tmp_path)
    with pytest.raises(ConfigError, match="64 samples"):
        torch.manual_seed(0)
        Trainer(TinyRegressor(), BASE, NoisyRegression(32), collate, tmp_path, evaluate=evaluate, resume_from=tmp_path)

    class Wider(TinyRegressor):
        def __init__(self) -> None:
            super().__init__()
            self.head = nn.Linear(16, 2)

    with pytest.raises(CheckpointError, match="weights do not fit"):
        Trainer(Wider(), BASE, NoisyRegression(), collate, tmp_path, evaluate=evaluate, resume_from=tmp_path)
    with pytest.raises(ConfigError, match="already holds a training run"):
        make_trainer(tmp_path)
    (tmp_path / "last.trainer.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="last.trainer.safetensors"):
        make_trainer(tmp_path, resume_from=tmp_path)


def test_resume_may_extend_the_run(tmp_path: Path) -> None:
    make_trainer(tmp_path, dataclasses.replace(BASE, max_steps=3)).fit()
    result = make_trainer(tmp_path, dataclasses.replace(BASE, max_steps=3, epochs=4), resume_from=tmp_path).fit()
    assert result.final_step == 3 and result.stop_reason == "max_steps"
    result = make_trainer(tmp_path, dataclasses.replace(BASE, epochs=4), resume_from=tmp_path).fit()
    assert result.final_step == 32 and result.epochs_completed == 4


# -- configuration and contract -------------------------------------------------------------------


@pytest.mark.parametrize("changes, message", [
    ({"schedule": "linear"}, "schedule must be one of"),
    ({"batch_size": 0}, "batch_size must be >= 1"),
    ({"encoder_lr": -1.0}, "encoder_lr"),
    ({"early_stopping_patience": 2}, "needs a validation_metric"),
    ({"metric_mode": "best"}, "metric_mode"),
    ({"device": "tpu"}, "device must be"),
])
def test_invalid_config_values_are_config_errors(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_dict(TrainerConfig, {**config_to_dict(TrainerConfig()), **changes})


def test_config_round_trips_through_json() -> None:
    data = json.loads(json.dumps(config_to_dict(BASE)))
    assert config_from_dict(TrainerConfig, data) == BASE


def test_amp_without_cuda_and_tensorboard_without_package_are_config_errors(tmp_path: Path) -> None:
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="amp needs a CUDA device"):
            make_trainer(tmp_path, dataclasses.replace(BASE, amp=True))
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="tensorboard"):
            make_trainer(tmp_path, dataclasses.replace(BASE, tensorboard=True))
    else:
        make_trainer(tmp_path, dataclasses.replace(BASE, tensorboard=True, max_steps=3)).fit()
        assert any((tmp_path / "tensorboard").iterdir())


def test_progress_factory_is_used_and_the_library_prints_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    calls = []

    def progress(iterable: Any, total: int, desc: str) -> Any:
        calls.append((total, desc))
        return iterable

    make_trainer(tmp_path, dataclasses.replace(BASE, epochs=2), progress=progress).fit()
    assert calls == [(8, "epoch 1/2"), (8, "epoch 2/2")]
    assert capsys.readouterr() == ("", "")


def test_empty_dataset_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="empty"):
        Trainer(TinyRegressor(), TrainerConfig(device="cpu"), NoisyRegression(0), collate, tmp_path)


def test_model_without_loss_is_refused(tmp_path: Path) -> None:
    class NoLoss(TinyRegressor):
        def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
            return {"predictions": super().forward(batch)["predictions"]}

    trainer = Trainer(NoLoss(), TrainerConfig(device="cpu"), NoisyRegression(), collate, tmp_path)
    with pytest.raises(TypeError, match="'loss'"):
        trainer.fit()


def test_epoch_batches_shuffle_shard_and_resume_consistently() -> None:
    first = epoch_batches(10, 4, seed=1, epoch=0)
    assert [len(b) for b in first] == [4, 4, 2] and sorted(sum(first, [])) == list(range(10))
    assert first == epoch_batches(10, 4, seed=1, epoch=0)
    assert first != epoch_batches(10, 4, seed=1, epoch=1) and first != epoch_batches(10, 4, seed=2, epoch=0)
    assert [len(b) for b in epoch_batches(10, 4, seed=1, epoch=0, drop_last=True)] == [4, 4]
    shards = [epoch_batches(11, 2, seed=1, epoch=3, rank=r, world_size=3) for r in range(3)]
    assert [sum(len(b) for b in s) for s in shards] == [4, 4, 4]  # 11 padded to 12
    assert set(sum(sum(shards, []), [])) == set(range(11))



class ConvRegressor(TinyRegressor):
    """TinyRegressor that also holds a (4, 3, 2, 2) convolution weight, whose NCHW and NHWC layouts differ."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 2)


@pytest.mark.parametrize("channels_last", [True, False])
def test_convolution_weights_take_the_configured_layout(tmp_path: Path, channels_last: bool) -> None:
    """channels_last (the default) lays 4-D weights out NHWC; False puts a channels_last model back to NCHW."""
    assert TrainerConfig().channels_last is True
    config = dataclasses.replace(BASE, epochs=1, channels_last=channels_last)
    start = torch.contiguous_format if channels_last else torch.channels_last  # the other layout
    model = ConvRegressor().to(memory_format=start)
    values = model.conv.weight.detach().clone()
    trainer = Trainer(model, config, NoisyRegression(), collate, tmp_path, evaluate=evaluate)
    weight = trainer.model.conv.weight
    assert weight.is_contiguous(memory_format=torch.channels_last) is channels_last
    assert weight.is_contiguous() is not channels_last
    assert torch.equal(weight, values) and trainer.model.encoder.weight.is_contiguous()
