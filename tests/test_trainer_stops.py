"""The trainer on a user's bad day: batches without a readable image, a ``max_steps`` stop that
still picks a best model (and stays out of an exact resume), progress lines, a full disk."""

from __future__ import annotations

import dataclasses
import errno
import io
from pathlib import Path
from typing import Any

import pytest
import torch

from multimodal_rnn.checkpoint import load_checkpoint, read_header
from multimodal_rnn.datasets.captions import collate_captions
from multimodal_rnn.datasets.visdial_batches import collate_visdial
from multimodal_rnn.datasets.vqa import collate_vqa
from multimodal_rnn.training import TrainerEvent
from multimodal_rnn.training.progress import BEST_BEFORE_STOP_FILE, ProgressLines
from tests.trainer_setup import BASE, collate, log_without_time, make_trainer


@pytest.mark.parametrize("empty_batch", [collate_vqa, collate_visdial, collate_captions])
def test_a_batch_of_unreadable_images_is_skipped_and_counted(tmp_path: Path, empty_batch: Any) -> None:
    unreadable = {3, 17, 40}  # sample ids whose "image" cannot be read

    def collate_some(items: list[dict[str, Any]]) -> Any:
        if any(item["id"] in unreadable for item in items):
            return empty_batch([None] * len(items))  # what each task's collate makes of such a batch
        return collate(items)

    config = dataclasses.replace(BASE, batch_size=1, epochs=1, log_every=100)
    steps = []
    trainer = make_trainer(
        tmp_path, config, callbacks=[lambda e: steps.append(e.step) if e.kind == "step_end" else None]
    )
    trainer.collate_fn = collate_some
    result = trainer.fit()
    assert result.skipped_batches == 3 and result.final_step == 64 - 3 and len(steps) == 61


def test_max_steps_evaluates_at_the_stop_and_writes_best(tmp_path: Path) -> None:
    result = make_trainer(tmp_path, dataclasses.replace(BASE, max_steps=3)).fit()  # before the first epoch's end
    assert result.stop_reason == "max_steps" and result.best_step == 3 and result.best_metric is not None
    assert (
        result.best_checkpoint == tmp_path / "best.safetensors"
        and read_header(tmp_path / "best.safetensors")["step"] == 3
    )
    assert [entry["step"] for entry in result.history] == [3]
    # a stop right after an evaluation does not evaluate twice
    again = make_trainer(tmp_path / "at_epoch", dataclasses.replace(BASE, max_steps=8)).fit()
    assert [entry["step"] for entry in again.history] == [8]


def test_the_evaluation_at_a_stop_stays_out_of_an_exact_resume(tmp_path: Path) -> None:
    reference_out = tmp_path / "reference"
    reference = make_trainer(reference_out)
    reference_result = reference.fit()
    out = tmp_path / "run"
    first = make_trainer(out, dataclasses.replace(BASE, max_steps=3)).fit()
    assert first.best_step == 3 and (out / BEST_BEFORE_STOP_FILE).is_file()
    resumed = make_trainer(out, resume_from=out)
    assert not (out / BEST_BEFORE_STOP_FILE).exists() and not (out / "best.safetensors").exists()
    result = resumed.fit()
    assert result.history == reference_result.history and result.best_step == reference_result.best_step
    assert log_without_time(out / "metrics.jsonl") == log_without_time(reference_out / "metrics.jsonl")
    for name, value in reference.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], value), name
    best, reference_best = (
        load_checkpoint(out / "best.safetensors"),
        load_checkpoint(reference_out / "best.safetensors"),
    )
    assert all(torch.equal(best.tensors[k], v) for k, v in reference_best.tensors.items())


def test_a_stop_after_a_best_puts_that_best_back_on_resume(tmp_path: Path) -> None:
    make_trainer(tmp_path, dataclasses.replace(BASE, max_steps=11)).fit()  # best at 8, perhaps replaced at 11
    kept = tmp_path / BEST_BEFORE_STOP_FILE
    if kept.is_file():
        assert kept.stat().st_size > 0 and read_header(kept)["step"] == 8
    make_trainer(tmp_path, resume_from=tmp_path)
    assert read_header(tmp_path / "best.safetensors")["step"] == 8 and not kept.exists()


def test_progress_lines_per_epoch_and_every_log_step(tmp_path: Path) -> None:
    lines: list[str] = []
    progress = ProgressLines(lines.append, epochs=BASE.epochs, every_step=True)
    trainer = make_trainer(tmp_path, callbacks=[progress])
    progress.total_steps = trainer.total_steps
    trainer.fit()
    epochs = [line for line in lines if line.startswith("epoch ")]
    steps = [line for line in lines if line.startswith("step ")]
    assert [line.split(":")[0] for line in epochs] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all(
        "items/s" in line and "steps/s" in line and "val val_loss" in line and "elapsed" in line for line in epochs
    )
    assert len(steps) == 24 // BASE.log_every and steps[0].startswith("step 3/24 (epoch 1/3): loss ")
    quiet: list[str] = []
    progress = ProgressLines(quiet.append, epochs=BASE.epochs, every_step=False)
    progress(TrainerEvent("log", 3, 0, {"loss": 1.0}))
    assert quiet == []


def test_a_full_disk_keeps_the_last_good_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from multimodal_rnn.training import state

    saved: dict[int, bytes] = {}

    def remember(event: TrainerEvent) -> None:
        if event.kind == "checkpoint":
            saved[event.step] = (tmp_path / "last.safetensors").read_bytes()

    real_save = state.save_training_state

    def disk_full_at_step_16(path: Any, training_state: Any) -> None:
        if training_state.step == 16:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_save(path, training_state)

    monkeypatch.setattr(state, "save_training_state", disk_full_at_step_16)
    with pytest.raises(OSError) as caught:
        make_trainer(tmp_path, callbacks=[remember]).fit()
    assert caught.value.errno == errno.ENOSPC and caught.value.filename is not None
    assert (tmp_path / "last.safetensors").read_bytes() == saved[8]
    assert load_checkpoint(tmp_path / "last.safetensors").step == 8
    assert not list(tmp_path.glob(".pending*"))  # the half-written pair is gone
    monkeypatch.undo()
    resumed = make_trainer(tmp_path, resume_from=tmp_path)
    assert resumed.step == 8 and resumed.fit().final_step == 24


def test_a_full_disk_on_the_metrics_log_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from multimodal_rnn.training import logging as run_log

    class FullDisk(io.StringIO):
        def flush(self) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")  # a file write's error names no file

    real_init = run_log.MetricsLog.__init__

    def open_on_a_full_disk(self: Any, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        self._file.close()
        self._file = FullDisk()

    monkeypatch.setattr(run_log.MetricsLog, "__init__", open_on_a_full_disk)
    with pytest.raises(OSError) as caught:
        make_trainer(tmp_path).fit()
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(tmp_path / "metrics.jsonl")
