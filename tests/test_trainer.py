"""The trainer on a tiny regression model with dropout: learning, param groups, clipping, schedules,
early stopping, best checkpoints, configuration and the model contract (resume: test_trainer_resume.py)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from multimodal_rnn.checkpoint import load_checkpoint
from multimodal_rnn.config import config_from_dict, config_to_dict
from multimodal_rnn.errors import ConfigError, InputError
from multimodal_rnn.training import Trainer, TrainerConfig, TrainerEvent, learning_rate_factor
from multimodal_rnn.training.distributed import epoch_batches
from multimodal_rnn.training.logging import read_metrics
from tests.trainer_setup import (
    BASE,
    NoisyRegression,
    TinyRegressor,
    collate,
    evaluate,
    fit_uninterrupted,
    make_trainer,
)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Trainer, Any, Path]:
    return fit_uninterrupted(tmp_path_factory.mktemp("uninterrupted"))


# -- learning -------------------------------------------------------------------------------------


def test_loss_decreases_and_files_are_written(uninterrupted: tuple[Trainer, Any, Path]) -> None:
    trainer, result, out = uninterrupted
    losses = [r["loss"] for r in read_metrics(out / "metrics.jsonl") if "loss" in r]
    assert len(losses) == 24 // 3
    assert losses[-1] < 0.5 * losses[0]
    assert result.final_step == 24 and result.epochs_completed == 3 and result.stop_reason == "completed"
    assert sorted(p.name for p in out.iterdir()) == [
        "best.safetensors",
        "config.json",
        "last.safetensors",
        "last.trainer.safetensors",
        "metrics.jsonl",
    ]
    config = json.loads((out / "config.json").read_text())
    assert config_from_dict(TrainerConfig, config["trainer"]) == BASE
    assert config["run"]["steps_per_epoch"] == 8 and config["run"]["total_steps"] == 24
    assert load_checkpoint(out / "last.safetensors").step == 24


def test_logged_learning_rates_follow_the_schedule(uninterrupted: tuple[Trainer, Any, Path]) -> None:
    _, _, out = uninterrupted
    for record in read_metrics(out / "metrics.jsonl"):
        if "lr" in record:  # the line at step s reports the rate of update s, i.e. factor(s - 1)
            factor = learning_rate_factor(
                record["step"] - 1, schedule="cosine", total_steps=24, warmup_steps=4, min_lr_ratio=0.1
            )
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
    config = dataclasses.replace(
        BASE, epochs=10, validation_metric="score", metric_mode="max", early_stopping_patience=3
    )
    result = make_trainer(tmp_path, config, evaluate=lambda model: {"score": next(scores)}).fit()
    assert result.stop_reason == "early_stopping"
    assert [h["score"] for h in result.history] == [0.5, 0.7, 0.6, 0.7, 0.65]  # 0.7 tied: not an improvement
    assert result.epochs_completed == 5 and result.best_metric == 0.7 and result.best_step == 16


@pytest.mark.parametrize(
    "mode, scores, best_index", [("max", [0.1, 0.5, 0.3, 0.7, 0.2], 3), ("min", [0.4, 0.2, 0.3, 0.25, 0.1], 4)]
)
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
    running = [scores[0]] + [max(scores[:i]) if mode == "max" else min(scores[:i]) for i in range(1, 5)]
    assert flags == [i == 0 or (s > running[i] if mode == "max" else s < running[i]) for i, s in enumerate(scores)]


def test_missing_validation_metric_is_a_config_error(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, dataclasses.replace(BASE, validation_metric="CIDEr"))
    with pytest.raises(ConfigError, match="'CIDEr' is not among the evaluation metrics \\(score, val_loss\\)"):
        trainer.fit()


# -- configuration and contract -------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"schedule": "linear"}, "schedule must be one of"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"encoder_lr": -1.0}, "encoder_lr"),
        ({"early_stopping_patience": 2}, "needs a validation_metric"),
        ({"metric_mode": "best"}, "metric_mode"),
        ({"device": "tpu"}, "device must be"),
    ],
)
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
