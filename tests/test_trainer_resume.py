"""Exact resume of the trainer after interruptions (after an epoch, killed mid-epoch, max_steps,
killed while writing a checkpoint), patience across a resume, and resumes it must refuse."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from multimodal_rnn.checkpoint import load_checkpoint
from multimodal_rnn.errors import CheckpointError, ConfigError
from multimodal_rnn.training import Trainer
from tests.trainer_setup import (
    BASE,
    NoisyRegression,
    TinyRegressor,
    collate,
    evaluate,
    fit_uninterrupted,
    log_without_time,
    make_trainer,
    raise_at,
)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Trainer, Any, Path]:
    return fit_uninterrupted(tmp_path_factory.mktemp("uninterrupted"))


def test_patience_survives_a_resume(tmp_path: Path) -> None:
    scores = {8: 0.5, 16: 0.7, 24: 0.6, 32: 0.65, 40: 0.8, 48: 0.9}
    config = dataclasses.replace(
        BASE, epochs=10, validation_metric="score", metric_mode="max", early_stopping_patience=2
    )
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


# -- resume ---------------------------------------------------------------------------------------


def _assert_same_run(first: tuple[Trainer, Any, Path], trainer: Trainer, result: Any, out: Path) -> None:
    reference, reference_result, reference_out = first
    for name, value in reference.model.state_dict().items():
        assert torch.equal(trainer.model.state_dict()[name], value), name
    assert log_without_time(out / "metrics.jsonl") == log_without_time(reference_out / "metrics.jsonl")
    assert result.history == reference_result.history and result.best_step == reference_result.best_step
    best, reference_best = (
        load_checkpoint(out / "best.safetensors"),
        load_checkpoint(reference_out / "best.safetensors"),
    )
    assert all(torch.equal(best.tensors[k], v) for k, v in reference_best.tensors.items())
    for a, b in zip(
        trainer.optimizer.state_dict()["state"].values(), reference.optimizer.state_dict()["state"].values()
    ):
        assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("interruption", ["after_epoch", "killed_mid_epoch", "max_steps_mid_epoch"])
def test_interrupted_run_ends_exactly_where_an_uninterrupted_one_does(
    tmp_path: Path, uninterrupted: tuple[Trainer, Any, Path], interruption: str
) -> None:
    if interruption == "after_epoch":  # killed right after the epoch-1 checkpoint
        first = make_trainer(tmp_path, callbacks=[raise_at("checkpoint", 8)])
    elif interruption == "killed_mid_epoch":  # checkpoint at step 10 (epoch 1, batch 2), killed at step 13
        first = make_trainer(
            tmp_path, dataclasses.replace(BASE, checkpoint_every_steps=5), callbacks=[raise_at("step_end", 13)]
        )
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


def test_kill_while_writing_a_checkpoint_loses_nothing(
    tmp_path: Path, uninterrupted: tuple[Trainer, Any, Path]
) -> None:
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
