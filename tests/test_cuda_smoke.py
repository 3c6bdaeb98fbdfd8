"""CUDA smoke test (``-m cuda``; skipped without a GPU): every task trains a few steps, validates
and predicts on ``cuda``, in float32 and with ``--amp bf16``, and no tensor reaches a model on
another device than its own. ``benchmarks/gpu_check.sh`` runs it with the speed benchmarks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
import torch

from apps.cli import main
from multimodal_rnn.tasks import TASKS
from tests.device_check import TINY_RUNS, TinyRun, watch_devices

ROOT = Path(__file__).resolve().parent.parent
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("amp", ["off", "bf16"])
@pytest.mark.parametrize("task", sorted(TASKS))
def test_train_validate_predict_on_cuda(task: str, amp: str, tiny_data: Callable[[TinyRun], Path],
                                        tmp_path: Path) -> None:
    run = TINY_RUNS[task]
    data = tiny_data(run)
    with watch_devices() as log:
        status = main(["train", task, *run.train_options(data), "--out", str(tmp_path), "--device", "cuda",
                       "--amp", amp])
    assert status == 0
    log.check()
    assert log.calls.get("cuda", 0) > 0, log.calls
    predictor = TASKS[task].load_predictor(tmp_path / "best.safetensors", device="cuda")
    assert predictor.device.type == "cuda"
    with watch_devices() as log:
        run.predict(predictor, data)
    log.check()
    assert log.calls.get("cuda", 0) > 0, log.calls


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_gpu_check_script_parses_and_says_when_there_is_no_gpu() -> None:
    script = ROOT / "benchmarks" / "gpu_check.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    if not torch.cuda.is_available():
        done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHON": sys.executable})
        assert done.returncode == 0, done.stderr
        assert "no CUDA device" in done.stdout
