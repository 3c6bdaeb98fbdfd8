"""``mmrnn data babyai-demos``, ``mmrnn train navigation`` and ``mmrnn navigate`` end to end (tiny sizes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apps.cli import main
from multimodal_rnn.tasks.navigation.demos import load_demonstrations

LEVEL = "BabyAI-GoToRedBall-v0"
SMALL = ["--set", "channels=8", "--set", "instruction_size=8", "--set", "word_size=8", "--set", "memory_size=8",
         "--set", "actor_size=8"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("navigation_cli")
    demos = root / "demos.npz"
    assert main(["data", "babyai-demos", "--level", LEVEL, "--episodes", "4", "--seed", "10", "--workers", "1",
                 "--out", str(demos)]) == 0
    assert main(["train", "navigation", "--demos", str(demos), "--out", str(root / "run"), "--epochs", "1",
                 "--batch-size", "2", "--val-episodes", "2", "--device", "cpu", "--tbptt", "3", "--entropy", "0.01",
                 *SMALL]) == 0
    return demos, root / "run" / "best.safetensors"


def test_demos_command_writes_the_seed_range(trained, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    demos = load_demonstrations(trained[0])
    assert list(demos.seeds) == [10, 11, 12, 13] and demos.meta["level"] == LEVEL
    assert main(["data", "babyai-demos", "--level", LEVEL, "--episodes", "4", "--out", str(trained[0])]) == 2
    assert "file exists" in capsys.readouterr().err


def test_train_command_records_the_run(trained) -> None:  # type: ignore[no-untyped-def]
    assert trained[1].is_file()
    lines = [json.loads(line) for line in (trained[1].parent / "metrics.jsonl").read_text().splitlines()]
    assert any("eval" in line and "success_rate" in line["eval"] for line in lines)


def test_navigate_prints_metrics_and_renders(trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    gif = tmp_path / "episode.gif"
    assert main(["navigate", "--weights", str(trained[1]), "--episodes", "3", "--batch-size", "2", "--json",
                 "--render", str(gif)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["level"] == LEVEL and summary["episodes"] == 3 and summary["first_seed"] == 1_000_000_000
    assert 0 <= summary["spl"] <= summary["success_rate"] <= 1
    assert gif.is_file() and gif.read_bytes()[:6] == b"GIF89a"
    assert main(["navigate", "--weights", str(trained[1]), "--episodes", "2", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert "success rate" in out and "SPL" in out and "[1000000005, 1000000007)" in out


@pytest.mark.parametrize("argv, message", [
    (["data", "babyai-demos", "--level", "BabyAI-Nope-v0", "--episodes", "2", "--out", "x.npz"], "unknown BabyAI level"),
    (["navigate"], "give --level"),
    (["navigate", "--weights", "missing.safetensors"], "missing.safetensors"),
    (["train", "navigation", "--demos", "missing.npz", "--out", "run"], "missing.npz"),
])
def test_user_errors_are_one_line(argv: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mmrnn: error:") and message in err[0]


def test_missing_shipped_weights_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MMRNN_WEIGHTS_DIR", str(tmp_path))
    assert main(["navigate", "--level", LEVEL]) == 2
    assert "shipped navigation weights" in capsys.readouterr().err
    assert main(["navigate", "--level", "BabyAI-PickupLoc-v0"]) == 2
    assert "no shipped navigation agent" in capsys.readouterr().err


def test_an_unknown_model_option_is_a_one_line_error(trained, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "navigation", "--demos", str(trained[0]), "--out", str(tmp_path / "run"), "--device", "cpu",
                 "--set", "film_blocks=5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "babyai_film" in err[0] and "film_blocks" in err[0]
