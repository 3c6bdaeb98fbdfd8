"""Training state on disk: exact round trips without pickle, corrupt files, crash safety."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from multimodal_rnn.checkpoint import save_checkpoint
from multimodal_rnn.errors import CheckpointError
from multimodal_rnn.training import state as state_module
from multimodal_rnn.training.logging import read_metrics, truncate_metrics
from multimodal_rnn.training.state import (
    TrainingState,
    capture_rng_state,
    load_training_state,
    resolve_checkpoint_pair,
    restore_rng_state,
    save_training_state,
    state_from_tree,
    state_to_tree,
    write_checkpoint_pair,
)


def _trained_optimizer(amsgrad: bool = False) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2))
    optimizer = torch.optim.AdamW(
        [{"params": model[0].parameters(), "lr": 1e-3, "name": "encoder"},
         {"params": model[2].parameters(), "lr": 3e-3, "name": "main"}],
        betas=(0.8, 0.95), weight_decay=0.05, amsgrad=amsgrad,
    )
    for _ in range(3):
        optimizer.zero_grad()
        model(torch.randn(5, 4)).pow(2).mean().backward()
        optimizer.step()
    return model, optimizer


def _state(optimizer: torch.optim.Optimizer, step: int = 3) -> TrainingState:
    return TrainingState(step=step, epoch=1, batch_in_epoch=2, config={"lr": 1e-3, "betas": [0.9, 0.999]},
                         progress={"best_metric": None, "history": [{"step": 2, "bleu": 0.25}]},
                         optimizer=optimizer.state_dict(), grad_scaler=None, rng=[capture_rng_state(include_cuda=False)])


def _assert_state_dicts_equal(a: dict, b: dict) -> None:
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for index in a["state"]:
        assert a["state"][index].keys() == b["state"][index].keys()
        for key, value in a["state"][index].items():
            other = b["state"][index][key]
            assert other.dtype == value.dtype and other.shape == value.shape
            assert torch.equal(other, value), (index, key)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_optimizer_state_round_trip_is_exact(tmp_path: Path, amsgrad: bool) -> None:
    model, optimizer = _trained_optimizer(amsgrad)
    save_training_state(tmp_path / "s.safetensors", _state(optimizer))
    loaded = load_training_state(tmp_path / "s.safetensors")
    _assert_state_dicts_equal(optimizer.state_dict(), loaded.optimizer)
    assert isinstance(loaded.optimizer["param_groups"][0]["betas"], tuple)
    assert (loaded.step, loaded.epoch, loaded.batch_in_epoch) == (3, 1, 2)
    assert loaded.progress == {"best_metric": None, "history": [{"step": 2, "bleu": 0.25}]}
    # a fresh optimizer loaded from it continues exactly like the original
    fresh_model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2))
    fresh_model.load_state_dict(model.state_dict())
    fresh = torch.optim.AdamW([{"params": fresh_model[0].parameters()}, {"params": fresh_model[2].parameters()}])
    fresh.load_state_dict(loaded.optimizer)
    _assert_state_dicts_equal(optimizer.state_dict(), fresh.state_dict())
    batch = torch.randn(5, 4)
    for net, opt in ((model, optimizer), (fresh_model, fresh)):
        opt.zero_grad()
        net(batch).pow(2).mean().backward()
        opt.step()
    for a, b in zip(model.parameters(), fresh_model.parameters()):
        assert torch.equal(a, b)


def test_tree_keeps_tuples_int_keys_and_special_floats() -> None:
    value = {"state": {0: {"t": torch.arange(3), "n": 2}, 7: {}}, "groups": [{"betas": (0.9, 0.99), "flag": None}],
             "scale": math.inf, "odd": {"__tensor__": "not a tensor"}, "nested": [(1, (2.5, "x"))], "b": True}
    tensors: dict[str, torch.Tensor] = {}
    tree = state_to_tree(value, tensors, "root")
    rebuilt = state_from_tree(json.loads(json.dumps(tree)), tensors)
    assert torch.equal(rebuilt["state"][0]["t"], torch.arange(3))
    rebuilt["state"][0]["t"] = value["state"][0]["t"]
    assert rebuilt == value
    with pytest.raises(TypeError, match="root/obj"):
        state_to_tree({"obj": object()}, {}, "root")


def test_rng_capture_restore_replays_every_stream() -> None:
    random.gauss(0, 1)  # leave cached gaussians in both Mersenne Twisters
    np.random.standard_normal()
    saved = capture_rng_state(include_cuda=False)

    def draw() -> tuple:
        return (random.random(), random.gauss(0, 1), np.random.rand(3).tolist(), np.random.standard_normal(),
                torch.rand(4).tolist(), torch.nn.functional.dropout(torch.ones(8), 0.5).tolist())

    first = draw()
    restore_rng_state(saved)
    assert draw() == first
    assert saved["torch"].dtype == torch.uint8 and saved["python"].shape == (625,) and saved["numpy"].shape == (624,)


def test_rng_state_survives_the_file(tmp_path: Path) -> None:
    _, optimizer = _trained_optimizer()
    state = _state(optimizer)
    expected = torch.rand(3)
    save_training_state(tmp_path / "s.safetensors", state)
    torch.rand(10)
    restore_rng_state(load_training_state(tmp_path / "s.safetensors").rng[0])
    assert torch.equal(torch.rand(3), expected)


def _corrupt_files(tmp_path: Path, good: Path) -> dict[str, Path]:
    data = good.read_bytes()
    files = {}
    files["truncated"] = tmp_path / "truncated.safetensors"
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["garbage"] = tmp_path / "garbage.safetensors"
    files["garbage"].write_bytes(b"\x00\x01not a safetensors file" * 10)
    files["no_header"] = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(2)}, str(files["no_header"]))
    files["bad_json"] = tmp_path / "bad_json.safetensors"
    save_file({"x": torch.zeros(2)}, str(files["bad_json"]), metadata={state_module.METADATA_KEY: "{not json"})
    files["version"] = tmp_path / "version.safetensors"
    save_file({"x": torch.zeros(2)}, str(files["version"]), metadata={state_module.METADATA_KEY: json.dumps({"format_version": 99})})
    header = json.loads(_metadata(good))
    files["missing_tensor"] = tmp_path / "missing_tensor.safetensors"
    save_file({"x": torch.zeros(2)}, str(files["missing_tensor"]), metadata={state_module.METADATA_KEY: json.dumps(header)})
    del header["epoch"]
    files["missing_key"] = tmp_path / "missing_key.safetensors"
    save_file({"x": torch.zeros(2)}, str(files["missing_key"]), metadata={state_module.METADATA_KEY: json.dumps(header)})
    files["missing_file"] = tmp_path / "nothing.safetensors"
    return files


def _metadata(path: Path) -> str:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return handle.metadata()[state_module.METADATA_KEY]


def test_corrupt_training_state_is_a_one_line_checkpoint_error(tmp_path: Path) -> None:
    _, optimizer = _trained_optimizer()
    good = tmp_path / "good.safetensors"
    save_training_state(good, _state(optimizer))
    for kind, path in _corrupt_files(tmp_path, good).items():
        with pytest.raises(CheckpointError) as info:
            load_training_state(path)
        message = str(info.value)
        assert str(path) in message and "\n" not in message, kind
    messages = {"garbage": "not a readable safetensors training state", "no_header": "without a multimodal_rnn_trainer header",
                "version": "training state format version 99 is not supported", "missing_key": "header lacks epoch",
                "missing_file": "no such training state file"}
    for kind, expected in messages.items():
        with pytest.raises(CheckpointError, match=expected):
            load_training_state(_corrupt_files(tmp_path, good)[kind])


def test_failed_write_keeps_the_previous_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, optimizer = _trained_optimizer()
    path = tmp_path / "last.trainer.safetensors"
    save_training_state(path, _state(optimizer, step=3))

    def partial_then_crash(tensors: dict, filename: str, metadata: dict) -> None:
        Path(filename).write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"half")
        raise OSError("disk full")

    monkeypatch.setattr(state_module, "save_file", partial_then_crash)
    with pytest.raises(OSError, match="disk full"):
        save_training_state(path, _state(optimizer, step=4))
    assert load_training_state(path).step == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.trainer.safetensors"]  # no temp file left


def _write_pair(directory: Path, model: nn.Module, optimizer: torch.optim.Optimizer, step: int) -> None:
    write_checkpoint_pair(
        directory,
        lambda path: save_checkpoint(path, model, task="t", model_name="m", model_config={}, step=step),
        _state(optimizer, step=step),
    )


def test_crash_while_writing_the_model_keeps_the_last_pair(tmp_path: Path) -> None:
    model, optimizer = _trained_optimizer()
    _write_pair(tmp_path, model, optimizer, step=3)

    def crash(path: Path) -> None:
        path.write_bytes(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_checkpoint_pair(tmp_path, crash, _state(optimizer, step=4))
    checkpoint, state = resolve_checkpoint_pair(tmp_path)
    assert checkpoint.step == state.step == 3


def test_crash_between_the_two_renames_is_completed_on_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, optimizer = _trained_optimizer()
    _write_pair(tmp_path, model, optimizer, step=3)
    real_replace = state_module.os.replace
    calls = []

    def replace_then_die(src: str, dst: str) -> None:
        calls.append(dst)
        if Path(dst).name == "last.trainer.safetensors":
            raise KeyboardInterrupt  # killed after the model was renamed, before the state was
        real_replace(src, dst)

    monkeypatch.setattr(state_module.os, "replace", replace_then_die)
    with pytest.raises(KeyboardInterrupt):
        _write_pair(tmp_path, model, optimizer, step=4)
    monkeypatch.setattr(state_module.os, "replace", real_replace)
    assert state_module.read_state_step(tmp_path / "last.trainer.safetensors") == 3
    checkpoint, state = resolve_checkpoint_pair(tmp_path)
    assert checkpoint.step == state.step == 4


def test_inconsistent_pair_is_refused(tmp_path: Path) -> None:
    model, optimizer = _trained_optimizer()
    _write_pair(tmp_path, model, optimizer, step=3)
    save_checkpoint(tmp_path / "last.safetensors", model, task="t", model_name="m", model_config={}, step=9)
    with pytest.raises(CheckpointError, match="step 3 but last.safetensors is at step 9"):
        resolve_checkpoint_pair(tmp_path / "last.trainer.safetensors")
    (tmp_path / "last.trainer.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no training state"):
        resolve_checkpoint_pair(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no model checkpoint"):
        resolve_checkpoint_pair(tmp_path / "empty")
    with pytest.raises(CheckpointError, match="not a run directory"):
        resolve_checkpoint_pair(tmp_path / "elsewhere")


def test_truncate_metrics_drops_later_and_torn_lines(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    lines = [json.dumps({"step": s, "loss": s / 10}) for s in (2, 4, 6)] + [json.dumps({"step": 4, "eval": {"a": 1}})]
    path.write_text("\n".join(lines) + '\n{"step": 8, "lo')
    truncate_metrics(path, 4)
    assert read_metrics(path) == [{"step": 2, "loss": 0.2}, {"step": 4, "loss": 0.4}, {"step": 4, "eval": {"a": 1}}]
