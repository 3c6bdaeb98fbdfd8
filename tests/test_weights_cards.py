"""Model cards are data: every shipped file has a card that matches it, and weights/README.md is made from them."""

from __future__ import annotations

import hashlib
import json

import pytest

from apps.weights_readme import render_readme, shipped_files
from multimodal_rnn.checkpoint import read_header
from multimodal_rnn.errors import DataFormatError
from multimodal_rnn.shipped import CARD_KEYS, card_path, read_card, weights_dir


def test_every_weights_file_is_shipped_by_a_task_and_has_a_matching_card():
    files = sorted(path.name for path in weights_dir().glob("*.safetensors"))
    shipped = {name: (task, variant) for task, variant, name in shipped_files()}
    assert files == sorted(shipped) and len(files) == 8
    for name in files:
        path = weights_dir() / name
        card = read_card(path)
        assert card is not None, f"{name} has no card"
        assert set(card) == set(CARD_KEYS)
        assert card["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert card["size_bytes"] == path.stat().st_size
        assert (card["task"], card["variant"]) == shipped[name]
        header = read_header(path)
        assert (card["task"], card["model"]["name"]) == (header["task"], header["model_name"])
        assert card["training"]["command"] and card["data"]["seed"] is not None
        for evaluation in card["evaluation"]:
            assert evaluation["split"] and evaluation["count"] > 0 and evaluation["metrics"]


def test_readme_is_generated_from_the_cards():
    readme = (weights_dir() / "README.md").read_text(encoding="utf-8")
    assert readme == render_readme(), "weights/README.md is out of date: run python -m apps.weights_readme"
    assert "## `caption_shapes.safetensors` — image captioning" in readme


def test_cards_are_checked(tmp_path):
    weights = tmp_path / "mine.safetensors"
    assert read_card(weights) is None  # a user's file has no card
    card = json.loads(card_path(weights_dir() / "caption_shapes.safetensors").read_text(encoding="utf-8"))
    card_path(weights).write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(DataFormatError, match="the card is about 'caption_shapes.safetensors', not 'mine.safetensors'"):
        read_card(weights)
    del card["sha256"]
    card_path(weights).write_text(json.dumps({**card, "file": "mine.safetensors"}), encoding="utf-8")
    with pytest.raises(DataFormatError, match="missing key"):
        read_card(weights)
