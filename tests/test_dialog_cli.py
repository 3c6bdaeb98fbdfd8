"""``mmrnn train dialog`` / ``predict dialog`` / ``eval dialog`` (tasks.dialog.cli) and ``mmrnn chat`` end to end."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Callable

import pytest

from apps.cli import main
from multimodal_rnn.datasets.shapes.world import ShapesConfig, generate_shapes_world
from multimodal_rnn.tasks.dialog import cli_tools as chat_command
from multimodal_rnn.tasks.dialog import TASK
from multimodal_rnn.tasks.dialog.predictor import DialogAgent
from multimodal_rnn.tasks.protocol import TaskCommand
from multimodal_rnn.errors import InputError

SMALL = ['--set', 'encoder={"backbone": "small_cnn", "channels": [8, 16]}', "--set", "hidden_size=32",
         "--set", "embed_size=16", "--set", "attention_size=16"]


def lines_to(output: io.StringIO) -> Callable[[str], None]:
    """An ``emit`` that writes each line to ``output``."""
    return lambda line: print(line, file=output)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("dialog_cli")
    shapes = root / "shapes"
    generate_shapes_world(shapes, ShapesConfig(train_size=8, val_size=4, test_size=4))
    status = main(["train", "dialog", "--out", str(root / "run"), "--shapes-dir", str(shapes),
                   "--epochs", "2", "--batch-size", "4", "--device", "cpu", *SMALL])
    assert status == 0
    return shapes, root / "run" / "best.safetensors"


def test_train_writes_a_checkpoint_with_validation_metrics(trained: tuple[Path, Path]) -> None:
    shapes, best = trained
    agent = DialogAgent.from_checkpoint(best)
    assert agent.checkpoint is not None and agent.checkpoint.step in (2, 4)
    metrics = agent.checkpoint.metrics
    assert {"mrr", "r@1", "r@5", "r@10", "mean_rank", "ndcg"} <= set(metrics)
    assert 0.0 < metrics["mrr"] <= 1.0 and 1.0 <= metrics["mean_rank"] <= 100.0
    assert len(agent.candidates) > 5


def test_predict_then_eval(trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shapes, best = trained
    submission = tmp_path / "submission.json"
    assert main(["predict", "dialog", "--weights", str(best), "--shapes-dir", str(shapes),
                 "--split", "test", "--out", str(submission)]) == 0
    entries = json.loads(submission.read_text())
    test = json.loads((shapes / "visdial_test.json").read_text())["data"]["dialogs"]
    assert len(entries) == sum(len(d["dialog"]) for d in test)
    capsys.readouterr()
    status = main(["eval", "dialog", "--dialogs", str(shapes / "visdial_test.json"), "--results", str(submission),
                   "--out", str(tmp_path / "metrics.json")])
    assert status == 0
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["num_rounds"] == sum(len(d["dialog"]) - 1 for d in test)  # the held-out rounds have no answer
    last = tmp_path / "last.json"
    assert main(["predict", "dialog", "--weights", str(best), "--shapes-dir", str(shapes),
                 "--split", "test", "--last-round-only", "--out", str(last)]) == 0
    assert sorted((e["image_id"], e["round_id"]) for e in json.loads(last.read_text())) == sorted(
        (d["image_id"], len(d["dialog"])) for d in test)


def test_chat_with_piped_questions(trained: tuple[Path, Path]) -> None:
    shapes, best = trained
    image = next((shapes / "images" / "test").iterdir())
    agent = DialogAgent.from_checkpoint(best)
    output = io.StringIO()
    questions = io.StringIO("how many shapes are there\n\nwhat color is it\n")
    status = chat_command.chat(agent, questions, lines_to(output), image_path=str(image), caption="", as_json=True,
                               top=3, beam_size=2, max_pixels=10**7)
    assert status == 0
    lines = [json.loads(line) for line in output.getvalue().splitlines()]
    assert [line["round"] for line in lines] == [1, 2]
    assert [line["question"] for line in lines] == ["how many shapes are there", "what color is it"]
    assert all(line["answer"] == line["alternatives"][0]["answer"] and len(line["alternatives"]) == 3 for line in lines)
    plain = io.StringIO()
    chat_command.chat(agent, io.StringIO("is there a circle\n"), lines_to(plain), image_path=str(image), caption="a scene",
                      as_json=False, top=1, beam_size=2, max_pixels=10**7)
    assert plain.getvalue().strip() in agent.candidates
    with pytest.raises(InputError, match="the question is empty"):
        chat_command.chat(agent, io.StringIO("? !\n"), lines_to(io.StringIO()), image_path=str(image), caption="",
                          as_json=True, top=1, beam_size=2, max_pixels=10**7)


def test_the_task_registers_its_commands() -> None:
    assert set(TASK.commands) == {"train", "predict", "eval", "chat", "dialog-ablation"}
    assert all(isinstance(command, TaskCommand) for command in TASK.commands.values())


def test_chat_command_with_the_shipped_weights(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The README's example: answers come one line per question, from the shipped weights."""
    image = Path(__file__).parents[1] / "data" / "samples" / "shapes_test_1.png"
    monkeypatch.setattr("sys.stdin", io.StringIO("how many shapes are there?\nis there a circle?\n"))
    assert main(["chat", str(image)]) == 0
    assert capsys.readouterr().out.splitlines() == ["one", "no there is not"]
