"""Checkpoints: round trip, atomic writes, and one-line rejection of every bad file."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from multimodal_rnn.checkpoint import (
    atomic_write,
    load_checkpoint,
    load_model,
    read_header,
    save_checkpoint,
)
from multimodal_rnn.errors import CheckpointError, ConfigError
from multimodal_rnn.registry import ModelEntry, Registry


@dataclass(frozen=True)
class TinyConfig:
    in_features: int = 4
    hidden_size: int = 3


class Tiny(nn.Module):
    def __init__(self, config: TinyConfig) -> None:
        super().__init__()
        self.config = config
        self.proj = nn.Linear(config.in_features, config.hidden_size)
        self.register_buffer("running", torch.arange(config.hidden_size, dtype=torch.float32))


@pytest.fixture()
def registry() -> Registry:
    return Registry([ModelEntry("tiny", "toy", TinyConfig, Tiny)])


def _save(path: Path, config: TinyConfig = TinyConfig(), **kwargs) -> Tiny:
    torch.manual_seed(0)
    model = Tiny(config)
    save_checkpoint(
        path,
        model,
        task="toy",
        model_name="tiny",
        model_config=config,
        vocab={"tokens": ["<pad>", "<bos>", "<eos>", "<unk>", "a"]},
        answers=["yes", "no"],
        step=17,
        metrics={"cider": 1.25},
        **kwargs,
    )
    return model


def test_round_trip_restores_weights_and_header(tmp_path: Path, registry: Registry) -> None:
    path = tmp_path / "m.safetensors"
    model = _save(path, TinyConfig(in_features=5, hidden_size=2), extra={"image_size": 64})
    loaded, ckpt = load_model(path, registry=registry, task="toy")
    assert isinstance(loaded, Tiny) and not loaded.training
    assert loaded.config == TinyConfig(in_features=5, hidden_size=2)
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    assert ckpt.step == 17 and ckpt.metrics == {"cider": 1.25}
    assert ckpt.answers == ["yes", "no"] and ckpt.vocab["tokens"][-1] == "a"
    assert ckpt.extra == {"image_size": 64}
    assert read_header(path)["model_name"] == "tiny"


def test_wrong_task_is_refused(tmp_path: Path, registry: Registry) -> None:
    path = tmp_path / "m.safetensors"
    _save(path)
    with pytest.raises(CheckpointError, match="task 'toy', expected 'vqa'"):
        load_model(path, registry=registry, task="vqa")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "absent.safetensors")
    with pytest.raises(CheckpointError, match="is a directory"):
        load_checkpoint(tmp_path)


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    _save(path)
    data = path.read_bytes()
    for cut in (4, 40, len(data) - 3):
        bad = tmp_path / f"cut{cut}.safetensors"
        bad.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=str(bad)) as info:
            load_checkpoint(bad)
        assert "\n" not in str(info.value)


def test_pickle_and_text_files_are_refused_without_unpickling(tmp_path: Path) -> None:
    pickled = tmp_path / "model.pt"
    torch.save({"weight": torch.ones(2)}, pickled)  # a zip of pickles: must never be unpickled
    with pytest.raises(CheckpointError, match="not a readable safetensors checkpoint"):
        load_checkpoint(pickled)
    text = tmp_path / "notes.safetensors"
    text.write_text("hello, I am not a checkpoint\n")
    with pytest.raises(CheckpointError, match="not a readable safetensors checkpoint"):
        load_checkpoint(text)


def test_foreign_safetensors_without_header(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="without a multimodal_rnn header"):
        load_checkpoint(path)


def test_bad_header_json_and_version(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "badjson.safetensors"
    save_file({"w": torch.zeros(2)}, str(path), metadata={"multimodal_rnn": "{not json"})
    with pytest.raises(CheckpointError, match="checkpoint header: malformed JSON"):
        load_checkpoint(path)
    header = {"format_version": 99, "task": "toy", "model_name": "tiny", "model_config": {}}
    save_file({"w": torch.zeros(2)}, str(path), metadata={"multimodal_rnn": json.dumps(header)})
    with pytest.raises(CheckpointError, match="format version 99"):
        load_checkpoint(path)


def test_unknown_model_name(tmp_path: Path, registry: Registry) -> None:
    path = tmp_path / "m.safetensors"
    model = Tiny(TinyConfig())
    save_checkpoint(path, model, task="toy", model_name="nonexistent", model_config=TinyConfig())
    with pytest.raises(CheckpointError, match="unknown model name 'nonexistent'"):
        load_model(path, registry=registry)


def test_config_mismatch_shapes_and_keys(tmp_path: Path, registry: Registry) -> None:
    path = tmp_path / "m.safetensors"
    # Weights of a 4->3 model under a header that claims 4->7: shape mismatch.
    save_checkpoint(path, Tiny(TinyConfig()), task="toy", model_name="tiny", model_config=TinyConfig(hidden_size=7))
    with pytest.raises(CheckpointError, match="weights do not match model 'tiny'"):
        load_model(path, registry=registry)
    # A config key the model does not know.
    save_checkpoint(path, Tiny(TinyConfig()), task="toy", model_name="tiny", model_config={"in_features": 4, "hidden_size": 3, "depth": 2})
    with pytest.raises(CheckpointError, match="unknown key"):
        load_model(path, registry=registry)
    # Missing tensors.
    other = nn.Module()
    other.proj = nn.Linear(4, 3)
    save_checkpoint(path, other, task="toy", model_name="tiny", model_config=TinyConfig())
    with pytest.raises(CheckpointError, match="missing 1 tensor"):
        load_model(path, registry=registry)


def test_atomic_write_keeps_last_good_file_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    _save(path)
    before = path.read_bytes()

    def crash(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            handle.write(b"half a checkpoint")
        raise KeyboardInterrupt  # a kill in the middle of the write

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, crash)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors"]  # no temp file left behind
    load_checkpoint(path)


def test_registry_refuses_duplicates_and_lists_names(registry: Registry) -> None:
    with pytest.raises(ValueError, match="already registered"):
        Registry([*registry, ModelEntry("tiny", "toy", TinyConfig, Tiny)])
    with pytest.raises(ValueError, match="already registered"):
        Registry.union([registry, registry])
    assert registry.names() == ["tiny"] and registry.names(task="vqa") == []
    model = registry.build("tiny", {"in_features": 2, "hidden_size": 2})
    assert model.proj.weight.shape == (2, 2)
    with pytest.raises(ConfigError, match="expected int"):
        registry.build("tiny", {"in_features": "two"})


class TinyConv(nn.Module):
    def __init__(self, config: TinyConfig) -> None:
        super().__init__()
        self.config = config
        self.conv = nn.Conv2d(config.in_features, config.hidden_size, 3)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.conv(images)


def test_loaded_convolutions_are_channels_last_with_the_same_values_and_outputs(tmp_path: Path) -> None:
    """load_model lays 4-D weights out NHWC (faster on CPU); values, outputs and a re-save are unchanged."""
    reg = Registry([ModelEntry("tinyconv", "toy", TinyConfig, TinyConv)])
    torch.manual_seed(0)
    model = TinyConv(TinyConfig(in_features=3, hidden_size=8)).eval()
    path = tmp_path / "conv.safetensors"
    save_checkpoint(path, model, task="toy", model_name="tinyconv", model_config=model.config)
    loaded, _ = load_model(path, registry=reg, task="toy")
    assert loaded.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not loaded.conv.weight.is_contiguous()
    assert torch.equal(loaded.conv.weight, model.conv.weight)
    images = torch.randn(2, 3, 9, 9)
    with torch.no_grad():
        assert torch.allclose(loaded(images), model(images), atol=1e-5)
    again = tmp_path / "again.safetensors"
    save_checkpoint(again, loaded, task="toy", model_name="tinyconv", model_config=model.config)
    assert load_checkpoint(again).tensors["conv.weight"].is_contiguous()
    assert torch.equal(load_checkpoint(again).tensors["conv.weight"], model.conv.weight)


def test_header_records_package_version_and_git_commit(tmp_path: Path) -> None:
    from multimodal_rnn import __version__
    from multimodal_rnn.build_info import git_commit

    path = tmp_path / "m.safetensors"
    _save(path)
    header = read_header(path)
    assert header["package_version"] == __version__
    assert header["git_commit"] == git_commit() != ""
    assert load_checkpoint(path).git_commit == header["git_commit"]


def test_git_commit_of_this_checkout_equals_rev_parse_head() -> None:
    import shutil
    import subprocess

    from multimodal_rnn.build_info import PACKAGE_DIR, git_commit

    if shutil.which("git") is None or not (PACKAGE_DIR.parent / ".git").exists():
        pytest.skip("not running from a git checkout")
    head = subprocess.run(["git", "-C", str(PACKAGE_DIR.parent), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    assert git_commit() == head and len(head) == 40


def test_git_commit_baked_unknown_and_never_failing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    from multimodal_rnn import build_info

    installed = tmp_path / "site-packages" / "multimodal_rnn"
    installed.mkdir(parents=True)
    assert build_info.commit_of(installed) == "unknown"  # no baked commit, not a checkout
    (installed / build_info.BUILD_COMMIT_FILE).write_text("0123abc\n")
    assert build_info.commit_of(installed) == "0123abc"  # the build's commit wins
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=False, capture_output=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], check=False, capture_output=True)
    (installed / build_info.BUILD_COMMIT_FILE).unlink()
    assert build_info.commit_of(installed) == "unknown"  # inside someone else's repository: not its commit

    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(build_info.subprocess, "run", no_git)
    assert build_info.commit_of(build_info.PACKAGE_DIR) == "unknown"


def test_load_predictor_refuses_a_task_the_package_does_not_have(tmp_path: Path) -> None:
    import multimodal_rnn

    path = tmp_path / "m.safetensors"
    _save(path)
    with pytest.raises(CheckpointError, match="task 'toy', which this package does not have"):
        multimodal_rnn.load_predictor(path)
