"""The shipped VQA weights and checkpoints written before the per-model configs: they load and answer as before."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from multimodal_rnn.checkpoint import load_model, read_header, save_checkpoint
from multimodal_rnn.config import config_to_dict
from multimodal_rnn.datasets.vqa import AnswerVocabulary, VQARecord, build_question_vocabulary
from multimodal_rnn.errors import CheckpointError
from multimodal_rnn.images import load_image
from multimodal_rnn.shipped import resolve_weights
from multimodal_rnn.tasks import MODELS, TASKS
from multimodal_rnn.tasks.vqa.models import FLAT_CONFIG_DEFAULTS, RelationalSAAAConfig
from multimodal_rnn.tasks.vqa.predictor import Answerer

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"


@pytest.fixture(scope="module")
def shipped() -> Answerer:
    return Answerer.from_checkpoint(resolve_weights(None, TASKS["vqa"].shipped, task="vqa"))


def test_shipped_file_loads_from_its_old_flat_header(shipped: Answerer) -> None:
    path = resolve_weights(None, TASKS["vqa"].shipped, task="vqa")
    stored = read_header(path)["model_config"]
    assert {"fusion_size", "film_blocks", "film_size", "grid_coordinates"} <= set(stored)  # the flat config of old
    model, checkpoint = load_model(path, registry=MODELS)  # the union registry of a bare import
    assert checkpoint.model_name == "saaa_rel" and type(model.config) is RelationalSAAAConfig
    assert isinstance(shipped.model.config, RelationalSAAAConfig) and shipped.model.config.attention_size == 128


@pytest.mark.parametrize("image, question, answer", [
    ("shapes_test_3.png", "is there a circle?", "yes"),
    ("shapes_test_2.png", "how many shapes are there?", "1"),
])
def test_shipped_model_answers_the_readme_questions(shipped: Answerer, image: str, question: str, answer: str) -> None:
    top = shipped.ask(load_image(SAMPLES / image), question, top=2)
    assert top[0][0] == answer and top[0][1] > 0.99


def _flat_checkpoint(tmp_path: Path, **stored: object) -> tuple[Path, Path]:
    """A tiny saaa model saved twice: with its own config, and with the old flat config (plus ``stored``)."""
    torch.manual_seed(0)
    records = [VQARecord(1, 1, "is there a circle?", "", ("yes",) * 10), VQARecord(2, 1, "how many?", "", ("2",) * 10)]
    vocab, answers = build_question_vocabulary(records), AnswerVocabulary.build(records)
    model = MODELS.build("saaa", {"num_words": len(vocab), "num_answers": len(answers), "embed_size": 8,
                                  "hidden_size": 8, "attention_size": 8, "classifier_size": 8, "num_layers": 1,
                                  "encoder": {"channels": [8, 8], "image_size": 32}})
    paths = tmp_path / "new.safetensors", tmp_path / "old.safetensors"
    flat = {**FLAT_CONFIG_DEFAULTS, **config_to_dict(model.config), **stored}
    for path, config in zip(paths, (model.config, flat)):
        save_checkpoint(path, model, task="vqa", model_name="saaa", model_config=config, vocab=vocab.to_dict(),
                        answers=list(answers.answers))
    return paths


def test_old_flat_configs_load_when_unused_options_hold_their_defaults(tmp_path: Path) -> None:
    new, old = _flat_checkpoint(tmp_path)
    assert "film_blocks" in read_header(old)["model_config"] and "film_blocks" not in read_header(new)["model_config"]
    image = load_image(SAMPLES / "shapes_test_3.png")
    first, second = Answerer.from_checkpoint(new), Answerer.from_checkpoint(old)
    assert first.model.config == second.model.config
    assert first.ask(image, "is there a circle?", top=2) == second.ask(image, "is there a circle?", top=2)


def test_an_unused_option_with_another_value_is_still_an_error(tmp_path: Path) -> None:
    _, old = _flat_checkpoint(tmp_path, film_blocks=5)
    with pytest.raises(CheckpointError, match=r"saaa config: unknown key\(s\) film_blocks "):
        Answerer.from_checkpoint(old)
    _, typo = _flat_checkpoint(tmp_path, glimpse=2)  # never an option of any model: no upgrade drops it
    with pytest.raises(CheckpointError, match=r"unknown key\(s\) glimpse "):
        Answerer.from_checkpoint(typo)
