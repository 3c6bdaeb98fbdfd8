"""Driven by the registry: every registered model of every task builds tiny, trains one step on a
tiny batch (finite loss, finite gradients) and survives a checkpoint round trip bit for bit.

A model registered without an entry in :data:`MODEL_OVERRIDES` fails here: say what makes it tiny
(often nothing beyond its task's :data:`TASK_TINY`), and give its task a batch in :data:`BATCHES`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

from multimodal_rnn.checkpoint import load_model, save_checkpoint
from multimodal_rnn.config import config_from_dict
from multimodal_rnn.datasets.visdial import NUM_OPTIONS
from multimodal_rnn.datasets.visdial_batches import DialogText, collate_visdial, dialog_items
from multimodal_rnn.registry import ModelEntry
from multimodal_rnn.tasks import MODELS, TASKS
from multimodal_rnn.text.vocab import Vocabulary

WORDS = ["a", "red", "blue", "circle", "square", "is", "there", "how", "many", "yes", "no", "one", "two", "go", "to",
         "the", "ball"]
VOCAB = Vocabulary.build([WORDS])
NUM_ANSWERS = 5
IMAGE = {"backbone": "small_cnn", "channels": [4, 8], "image_size": 16}

TASK_TINY: dict[str, dict[str, Any]] = {
    "caption": {"vocab_size": len(VOCAB), "embed_size": 8, "hidden_size": 12, "attention_size": 8, "encoder": IMAGE},
    "vqa": {"num_words": len(VOCAB), "num_answers": NUM_ANSWERS, "embed_size": 8, "hidden_size": 8, "num_layers": 1,
            "fusion_size": 8, "classifier_size": 8, "attention_size": 8, "path_size": 4, "film_blocks": 1,
            "film_size": 8, "encoder": IMAGE},
    "dialog": {"num_words": len(VOCAB), "embed_size": 8, "hidden_size": 12, "attention_size": 8,
               "max_answer_length": 4, "encoder": IMAGE},
    "navigation": {"num_words": len(VOCAB), "word_size": 4, "instruction_size": 8, "channels": 8, "memory_size": 8,
                   "actor_size": 8, "direction_size": 2},
    "action": {"num_classes": 3, "encoder": IMAGE, "spatial_size": 8, "hidden_size": 8},
    "frames": {"num_classes": 3, "encoder": IMAGE, "spatial_size": 8, "hidden_size": 8},
    "video_caption": {"vocab_size": len(VOCAB), "embed_size": 8, "hidden_size": 12, "attention_size": 8,
                      "frame_size": 8, "encoder": IMAGE},
}
"""Small sizes for every model of a task; a key is used only where the model's config has that field."""

MODEL_OVERRIDES: dict[str, dict[str, Any]] = {
    "show_tell": {},
    "show_attend_tell": {},
    "updown": {},
    "lstm_q_norm_i": {},
    "saaa": {},
    "saaa_rel": {},
    "film": {},
    "lf_disc": {},
    "hre_disc": {},
    "lf_gen": {},
    "hre_gen": {},
    "babyai_film": {"film_layers": 1},
    "lrcn": {},
    "frame_rnn": {},
    "s2vt": {},
    "temporal_attention": {},
}
"""Per registered model: overrides on top of its task's tiny sizes (every key must be one it takes)."""


def _caption_batch() -> dict[str, Any]:
    tokens = torch.tensor([[1, 4, 5, 6, 2], [1, 7, 2, 0, 0]])  # bos ... eos, then pad
    return {"image": torch.randn(2, 3, 16, 16), "tokens": tokens}


def _vqa_batch() -> dict[str, Any]:
    targets = torch.zeros(3, NUM_ANSWERS)
    targets[0, 1], targets[1, 3], targets[2, 0] = 1.0, 0.6, 1.0
    return {"image": torch.randn(2, 3, 16, 16), "image_index": torch.tensor([0, 0, 1]),
            "question": torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0], [11, 0, 0, 0]]), "lengths": torch.tensor([4, 2, 1]),
            "targets": targets}


def _dialog_batch() -> dict[str, Any]:
    text = DialogText(VOCAB)
    answers = ["yes", "no", "one", "two", "a red circle", "no there is not"]
    items = []
    for index, questions in enumerate((["is there a circle", "how many"], ["is there a blue square"])):
        rounds = len(questions)
        given = answers[index: index + rounds]
        options = torch.arange(NUM_OPTIONS).remainder(len(answers)).repeat(rounds, 1)  # (R, 100) answer indices
        items.append({"image": torch.randn(3, 16, 16), "image_id": index, "index": index,
                      **dialog_items("a picture", questions, given, text),
                      "options": options, "gt_index": torch.arange(rounds) + index,
                      "answer_words": {i: text.answer(answer) for i, answer in enumerate(answers)}})
    return collate_visdial(items, pad_id=VOCAB.pad_id)


def _navigation_batch() -> dict[str, Any]:
    generator = torch.Generator().manual_seed(0)
    return {"instructions": torch.tensor([[13, 14, 15, 2, 16], [13, 14, 15, 4, 0]]),
            "instruction_lengths": torch.tensor([5, 4]),
            "images": torch.randint(0, 11, (2, 3, 7, 7, 3), dtype=torch.uint8, generator=generator),
            "directions": torch.randint(0, 4, (2, 3), generator=generator),
            "lengths": torch.tensor([3, 2]), "actions": torch.randint(0, 7, (2, 3), generator=generator)}


def _clip_batch() -> dict[str, Any]:
    generator = torch.Generator().manual_seed(0)
    return {"frames": torch.randn(2, 3, 3, 16, 16, generator=generator), "length": torch.tensor([3, 2]),
            "label": torch.tensor([0, 2]), "frame_labels": torch.tensor([[0, 1, 2], [2, 2, -100]])}


def _video_caption_batch() -> dict[str, Any]:
    mask = torch.tensor([[True, True, True], [True, True, False]])  # (B, T) real frames
    tokens = torch.tensor([[1, 4, 5, 6, 2], [1, 7, 2, 0, 0], [1, 8, 9, 2, 0]])  # two captions of clip 0
    clips = torch.tensor([0, 1, 0])
    return {"frames": torch.randn(2, 3, 3, 16, 16), "mask": mask, "tokens": tokens, "caption_clip": clips}


BATCHES: dict[str, Callable[[], dict[str, Any]]] = {
    "caption": _caption_batch, "vqa": _vqa_batch, "dialog": _dialog_batch, "navigation": _navigation_batch,
    "action": _clip_batch, "frames": _clip_batch,
    "video_caption": _video_caption_batch,
}
"""A tiny training batch per task (what the task's collate function makes)."""


def _tiny(entry: ModelEntry) -> torch.nn.Module:
    fields = {f.name for f in dataclasses.fields(entry.config_class)}
    options = {k: v for k, v in TASK_TINY[entry.task].items() if k in fields}
    options.update(MODEL_OVERRIDES[entry.name])
    if "dropout" in fields:
        options["dropout"] = 0.0
    config = config_from_dict(entry.config_class, options, where=f"tiny {entry.name} config")
    torch.manual_seed(0)
    return MODELS.build(entry.name, config)


def _tensors(outputs: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {key: value for key, value in outputs.items() if isinstance(value, torch.Tensor)}


def test_every_registered_model_has_a_tiny_recipe() -> None:
    assert MODELS.names() == sorted(MODEL_OVERRIDES), "add the new model to MODEL_OVERRIDES"
    assert set(BATCHES) == set(TASK_TINY) == set(TASKS), "give the new task a tiny config and a batch"
    assert sorted(name for task in TASKS.values() for name in task.models.names()) == MODELS.names()


@pytest.mark.parametrize("name", MODELS.names())
def test_model_trains_one_step_and_round_trips_a_checkpoint(name: str, tmp_path: Path) -> None:
    entry = MODELS.get(name)
    model = _tiny(entry)
    batch = BATCHES[entry.task]()

    model.train()
    outputs = model(batch)
    loss = outputs["loss"]
    assert loss.dim() == 0 and torch.isfinite(loss), f"{name}: loss {loss}"
    loss.backward()
    gradients = [p.grad for p in model.parameters() if p.grad is not None]
    assert gradients and all(torch.isfinite(g).all() for g in gradients), f"{name}: missing or non-finite gradients"
    assert any(bool(g.abs().sum() > 0) for g in gradients), f"{name}: every gradient is zero"

    path = tmp_path / f"{name}.safetensors"
    save_checkpoint(path, model, task=entry.task, model_name=name, model_config=model.config, step=1)
    loaded, checkpoint = load_model(path, registry=MODELS, task=entry.task)
    assert type(loaded) is type(model) and checkpoint.model_name == name and loaded.config == model.config
    assert not loaded.training
    original, restored = model.state_dict(), loaded.state_dict()
    assert original.keys() == restored.keys()
    assert all(torch.equal(original[key], restored[key]) for key in original), f"{name}: weights changed"

    # load_model lays 4-D weights out channels_last; the same layout here makes the kernels, and so the bits, equal
    model.to(memory_format=torch.channels_last).eval()
    with torch.no_grad():
        expected, actual = _tensors(model(batch)), _tensors(loaded(batch))
    assert expected and expected.keys() == actual.keys()
    for key in expected:
        assert torch.isfinite(expected[key]).all(), f"{name}: non-finite {key}"
        assert torch.equal(expected[key], actual[key]), f"{name}: {key} differs after the round trip"
