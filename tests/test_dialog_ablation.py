"""History ablation: which questions refer back, the three history conditions, and the printed table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from apps.cli import main
from multimodal_rnn.checkpoint import save_checkpoint
from multimodal_rnn.config import config_to_dict
from multimodal_rnn.datasets.shapes.world import ShapesConfig, generate_shapes_world
from multimodal_rnn.datasets.visdial import DialogRecord, VisDialData, shapes_source
from multimodal_rnn.datasets.visdial_batches import DialogTextConfig
from multimodal_rnn.tasks.dialog.predictor import DialogAgent
from multimodal_rnn.tasks.dialog.ablation import GROUPS, HISTORY_CONDITIONS, history_ablation, refers_back
from multimodal_rnn.encoders.image import build_transform
from multimodal_rnn.errors import ConfigError
from multimodal_rnn.tasks.dialog.models import DialogModel
from multimodal_rnn.images import load_image
from multimodal_rnn.tasks import MODELS
from multimodal_rnn.tasks.dialog.training import build_dialog_vocabulary

SMALL = {"embed_size": 16, "hidden_size": 24, "attention_size": 8, "dropout": 0.0,
         "encoder": {"backbone": "small_cnn", "channels": [4, 8], "image_size": 16}}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, VisDialData]:
    root = tmp_path_factory.mktemp("ablation")
    generate_shapes_world(root, ShapesConfig(seed=2, train_size=0, val_size=6, test_size=4))
    return root, shapes_source(root, "val").read()


def tiny_agent(name: str, data: VisDialData, path: Path | None = None) -> DialogAgent:
    """An untrained model; saved to ``path`` (a checkpoint) when given."""
    torch.manual_seed(0)
    vocab = build_dialog_vocabulary(data)
    config = MODELS.config(name, {**SMALL, "num_words": len(vocab)}, where="test")
    model = MODELS.build(name, config)
    assert isinstance(model, DialogModel)
    answers = list(data.answers[:20])
    if path is not None:
        save_checkpoint(path, model, task="dialog", model_name=name, model_config=model.config, vocab=vocab.to_dict(),
                        answers=answers, extra={"text": config_to_dict(DialogTextConfig())})
        return DialogAgent.from_checkpoint(path)
    return DialogAgent(model, vocab, DialogTextConfig(), answers, build_transform(config.encoder))


def first_rounds(data: VisDialData) -> VisDialData:
    """Each dialog cut to its first round (a test-style split, where shorter dialogs are allowed)."""
    one = slice(0, 1)
    dialogs = [DialogRecord(d.image_id, d.caption, d.image_path, d.questions[one], d.answers[one], d.options[one],
                            d.gt_index[one]) for d in data.dialogs]
    return VisDialData("test", data.questions, data.answers, dialogs)


def test_questions_that_refer_back() -> None:
    back = ["what color is it", "What about the square?", "is it to the left of the blue square", "what is above it",
            "is it large", "how about the red one", "what are they doing", "is his shirt blue"]
    named = ["is there anything red", "what color is the red one", "how many circles are there", "is there a circle",
             "what shape is the small one", "is this in color", "what is the weather like"]
    assert [q for q in back if not refers_back(q)] == []
    assert [q for q in named if refers_back(q)] == []


def test_shapes_world_questions_split_into_both_groups(world: tuple[Path, VisDialData]) -> None:
    _, data = world
    questions = {data.question(d, r) for d in data.dialogs for r in range(d.num_rounds)}
    back = {q for q in questions if refers_back(q)}
    assert back and questions - back
    assert all(" it" in f" {q}" or q.startswith("what about") for q in back)
    assert not any(refers_back(data.question(d, 0)) for d in data.dialogs)  # nothing to refer to in round 1


@pytest.mark.parametrize("name", ["lf_disc", "hre_gen"])
def test_ablation_reports_every_condition_and_blanks_only_the_history(
    name: str, world: tuple[Path, VisDialData]
) -> None:
    _, data = world
    agent = tiny_agent(name, data)
    result = history_ablation(agent, data, load_image, batch_size=4)
    assert result.conditions == HISTORY_CONDITIONS and result.bad_images == {}
    assert sum(result.rounds.values()) == 60 and min(result.rounds.values()) > 0
    for group in GROUPS:
        for condition in HISTORY_CONDITIONS:
            metrics = result.metrics[group][condition]
            assert 0.0 <= metrics["r@1"] <= metrics["r@5"] <= 1.0 and 0.01 <= metrics["mrr"] <= 1.0
            assert 1.0 <= metrics["mean_rank"] <= 100.0
    referring = result.metrics["refers_back"]
    assert referring["full"] != referring["caption_only"]  # the history reaches the scores
    assert any(result.metrics[group]["caption_only"] != result.metrics[group]["none"] for group in GROUPS)
    first = history_ablation(agent, first_rounds(data), load_image, conditions=("caption_only", "full"))
    assert first.rounds == {"refers_back": 0, "other": 6} and first.metrics["refers_back"] == {}
    assert first.metrics["other"]["full"] == pytest.approx(first.metrics["other"]["caption_only"])  # same input


def test_unknown_conditions_are_refused(world: tuple[Path, VisDialData]) -> None:
    _, data = world
    agent = tiny_agent("lf_disc", data)
    for conditions in (("full", "blank"), (), ("full", "full")):
        with pytest.raises(ConfigError, match="history conditions"):
            history_ablation(agent, data, load_image, conditions=conditions)


def test_script_prints_the_table_and_writes_json(
    world: tuple[Path, VisDialData], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, data = world
    weights = tmp_path / "dialog.safetensors"
    tiny_agent("lf_disc", data, weights)
    out = tmp_path / "ablation.json"
    assert main(["dialog-ablation", "--weights", str(weights), "--shapes-dir", str(root), "--split", "test",
                 "--conditions", "full", "none", "--json", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "visdial_test.json" in lines[0] and "full history R@1" in lines[1] and "no history R@1" in lines[1]
    assert lines[3].split()[:2] == ["refers", "back"] and lines[4].split()[0] == "other"
    report = json.loads(out.read_text())
    assert report["conditions"] == ["full", "none"]
    assert sum(report["rounds"].values()) == sum(len(d.questions) - 1 for d in shapes_source(root, "test").read().dialogs)
    assert int(lines[3].split()[2]) == report["rounds"]["refers_back"]
    assert main(["dialog-ablation", "--weights", str(tmp_path / "missing.safetensors"), "--shapes-dir", str(root)]) == 2
    assert "mmrnn: error:" in capsys.readouterr().err
