"""Devices, for every task in ``TASKS``: train -> validate -> predict sends every tensor to the device
of the model that reads it, and every predictor reads its device from its model.

On a CPU-only machine a CPU/GPU mix-up cannot happen, so the tests move the model to the ``meta``
device (see :mod:`tests.device_check`): once inside every validation the trainer runs, and around
every predictor. Code that keeps a device of its own (a predictor built before the trainer moved
the model, an input left on the CPU) then sends a CPU tensor to a meta model, which is recorded.
A task without an entry in :data:`~tests.device_check.TINY_RUNS` fails here.
"""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from torch import nn

from apps.cli import main
from multimodal_rnn.tasks import TASKS
from multimodal_rnn.tasks.protocol import Predictor
from tests.device_check import (
    META,
    TINY_RUNS,
    DeviceLog,
    TinyRun,
    check_probe,
    on_meta,
    probe_validation,
    watch_devices,
)


@dataclass(frozen=True)
class TrainedRun:
    task: str
    run: TinyRun
    data: Path
    checkpoint: Path
    status: int
    output: str
    log: DeviceLog
    probes: list[DeviceLog]

    def predictor(self) -> Any:
        assert self.status == 0, f"mmrnn train {self.task} failed: {self.output[-1000:]}"
        return TASKS[self.task].load_predictor(self.checkpoint, device="cpu")


@pytest.fixture(scope="module", params=sorted(TASKS))
def trained(request: pytest.FixtureRequest, tiny_data: Callable[[TinyRun], Path],
            tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    """``mmrnn train TASK`` at toy sizes on the CPU, watched, every validation also run on meta."""
    task = request.param
    run = TINY_RUNS[task]
    data, out = tiny_data(run), tmp_path_factory.mktemp(f"{task}_run")
    output = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(output), redirect_stderr(output):
        probes = probe_validation(patch)
        with watch_devices() as log:
            try:
                status = main(["train", task, *run.train_options(data), "--out", str(out), "--device", "cpu"])
            except SystemExit as exc:  # argparse: unknown task or option
                status = exc.code if isinstance(exc.code, int) else 2
    return TrainedRun(task, run, data, out / "best.safetensors", status, output.getvalue(), log, probes)


def test_every_task_has_a_tiny_run() -> None:
    assert sorted(TINY_RUNS) == sorted(TASKS), "give the new task a TinyRun in tests/device_check.py"


def test_training_and_validation_follow_the_model(trained: TrainedRun) -> None:
    assert trained.status == 0 and trained.checkpoint.is_file(), trained.output[-2000:]
    assert trained.probes, f"{trained.task}: training ran no validation"
    for probe in trained.probes:
        check_probe(probe)
    trained.log.check()


def test_prediction_keeps_tensors_on_the_model_device(trained: TrainedRun) -> None:
    predictor = trained.predictor()
    with watch_devices() as log:
        trained.run.predict(predictor, trained.data)
    log.check()
    assert log.calls.get("cpu", 0) > 0


def test_predictor_reads_its_device_from_the_model(trained: TrainedRun) -> None:
    predictor = trained.predictor()
    assert isinstance(predictor, Predictor), f"{type(predictor).__name__} does not derive from Predictor"
    assert "device" not in vars(predictor), f"{type(predictor).__name__} stores a device of its own"
    assert predictor.device == torch.device("cpu")
    predictor.model.to(META)
    assert predictor.device == META


def test_prediction_follows_the_model_to_another_device(trained: TrainedRun) -> None:
    predictor = trained.predictor()
    check_probe(on_meta(predictor.model, lambda: trained.run.predict(predictor, trained.data)))


def test_the_watch_sees_a_tensor_on_another_device() -> None:
    layer = nn.Linear(3, 2)
    weight, before = layer.weight, layer.weight.detach().clone()
    log = on_meta(layer, lambda: layer(torch.ones(1, 3)))
    assert log.mismatches and log.mismatches[0].startswith("Linear input[0]: a cpu tensor (1, 3)")
    with pytest.raises(AssertionError, match="wrong device"):
        log.check()
    assert layer.weight is weight and torch.equal(layer.weight, before)  # the same parameter, back on the CPU
    with pytest.raises(AssertionError, match="nothing reached"):
        check_probe(on_meta(layer, lambda: None))
    with watch_devices() as clean:
        layer(torch.ones(1, 3))
    clean.check()
    assert clean.calls == {"cpu": 1}
