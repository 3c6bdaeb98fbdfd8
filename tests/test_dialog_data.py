"""VisDial reading: well-formed files, test splits, dense annotations, malformed files, dataset and collate."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from multimodal_rnn.datasets.image_reader import ImageReader
from multimodal_rnn.datasets.visdial import NO_ANSWER, read_dense_annotations, read_visdial
from multimodal_rnn.datasets.visdial_batches import DialogText, DialogTextConfig, VisDialDataset, collate_visdial
from multimodal_rnn.errors import ConfigError, DataFormatError
from multimodal_rnn.text.vocab import Vocabulary, tokenize

ANSWERS = [f"answer {i}" for i in range(120)] + ["it is red", "yes"]
QUESTIONS = ["what color is it", "is there a circle", "how many shapes are there"]


def visdial_file(split: str = "val", dialogs: int = 2, rounds: int = 10) -> dict[str, Any]:
    """A small VisDial v1.0 file: dialog d, round r has options (d + r + k) mod 120, gt_index (3r + d) mod 100."""
    entries = []
    for d in range(dialogs):
        dialog = []
        for r in range(rounds):
            options = [(d + r + k) % 120 for k in range(100)]
            gt_index = (3 * r + d) % 100
            dialog.append({"question": r % len(QUESTIONS), "answer": options[gt_index], "answer_options": options,
                           "gt_index": gt_index})
        entries.append({"image_id": 5 + d, "caption": f"a scene number {d}", "dialog": dialog})
    if split.startswith("test"):
        for entry in entries:
            del entry["dialog"][-1]["answer"], entry["dialog"][-1]["gt_index"]
    return {"version": "1.0", "split": split, "data": {"questions": QUESTIONS, "answers": ANSWERS, "dialogs": entries}}


def write(tmp_path: Path, data: Any, name: str = "visdial.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_reads_a_val_file(tmp_path: Path) -> None:
    data = read_visdial(write(tmp_path, visdial_file()), tmp_path / "images", image_pattern="img_{image_id}.png")
    assert data.split == "val" and len(data.dialogs) == 2
    dialog = data.dialogs[1]
    assert dialog.image_id == 6 and dialog.caption == "a scene number 1"
    assert dialog.image_path == str(tmp_path / "images" / "img_6.png")
    assert dialog.options.shape == (10, 100) and dialog.num_rounds == 10
    assert data.question(dialog, 2) == "how many shapes are there"
    assert data.options(dialog, 2)[:2] == ["answer 3", "answer 4"]
    assert data.answer(dialog, 2) == data.options(dialog, 2)[7] and int(dialog.gt_index[2]) == 7
    assert data.gt_indices()[(6, 3)] == 7 and len(data.gt_indices()) == 20


def test_test_split_withholds_the_last_answer(tmp_path: Path) -> None:
    raw = visdial_file("test2018", rounds=4)
    del raw["data"]["dialogs"][1]["dialog"][2:]  # test dialogs stop at a variable round
    del raw["data"]["dialogs"][1]["dialog"][1]["answer"], raw["data"]["dialogs"][1]["dialog"][1]["gt_index"]
    data = read_visdial(write(tmp_path, raw))
    assert [d.num_rounds for d in data.dialogs] == [4, 2]
    assert data.dialogs[0].gt_index.tolist()[-1] == NO_ANSWER and data.answer(data.dialogs[1], 1) is None
    assert data.gt_indices()[(6, 2)] is None and data.gt_indices()[(6, 1)] == 1


def test_images_list(tmp_path: Path) -> None:
    images = write(tmp_path, {"images": [{"id": 5, "file_name": "train/a.jpg"}, {"id": 6, "file_name": "val/b.jpg"}]},
                   "images.json")
    data = read_visdial(write(tmp_path, visdial_file()), "/data", images_list=images)
    assert [d.image_path for d in data.dialogs] == ["/data/train/a.jpg", "/data/val/b.jpg"]
    write(tmp_path, {"images": [{"id": 5, "file_name": "a.jpg"}]}, "images.json")
    with pytest.raises(DataFormatError, match="dialog of image 6: the image is not in"):
        read_visdial(tmp_path / "visdial.json", "/data", images_list=images)
    with pytest.raises(ConfigError, match="image_id"):
        read_visdial(tmp_path / "visdial.json", image_pattern="{name}.jpg")


def _break(edit: Any, split: str = "val") -> dict[str, Any]:
    raw = copy.deepcopy(visdial_file(split))
    edit(raw["data"]["dialogs"])
    return raw


def _set(dialogs: list[Any], d: int, r: int, key: str, value: Any) -> None:
    dialogs[d]["dialog"][r][key] = value


@pytest.mark.parametrize(
    "raw, message",
    [
        (_break(lambda ds: ds[1]["dialog"].pop()), "dialog of image 6, round 10: expected 10 rounds, found 9"),
        (_break(lambda ds: ds[0].update(dialog=[])), "dialog of image 5: 'dialog' must be a non-empty list"),
        (_break(lambda ds: _set(ds, 1, 3, "answer_options", [0] * 99 + [500])),
         r"dialog of image 6, round 4: answer option 99 is 500, out of range \(0..121\)"),
        (_break(lambda ds: _set(ds, 0, 2, "answer_options", [0] * 99)),
         "dialog of image 5, round 3: 'answer_options' must list 100"),
        (_break(lambda ds: _set(ds, 0, 2, "question", 3)), r"round 3: question 3 is out of range \(0..2\)"),
        (_break(lambda ds: _set(ds, 0, 5, "gt_index", 100)), r"round 6: gt_index 100 is out of range \(0..99\)"),
        (_break(lambda ds: _set(ds, 0, 5, "gt_index", 1)), "round 6: answer option 1 .gt_index. is not the answer"),
        (_break(lambda ds: ds[1]["dialog"][7].pop("gt_index")),
         "dialog of image 6, round 8: missing 'gt_index' .only the last round of a test dialog may lack it."),
        (_break(lambda ds: ds[1]["dialog"][9].pop("gt_index")), "dialog of image 6, round 10: missing 'gt_index'"),
        (_break(lambda ds: ds[0]["dialog"][0].pop("question")), "dialog of image 5, round 1: missing 'question'"),
        (_break(lambda ds: ds[1]["dialog"][8].pop("gt_index"), "test"),
         "dialog of image 6, round 9: missing 'gt_index'"),
        (_break(lambda ds: ds[1].update(image_id=5)), "dialog of image 5 is listed twice"),
        (_break(lambda ds: ds[1]["dialog"].append(ds[1]["dialog"][0])), "round 11: expected 10 rounds, found 11"),
    ],
    ids=["missing-round", "no-rounds", "option-out-of-range", "short-options", "question-out-of-range",
         "gt-out-of-range", "gt-not-answer", "gt-missing-val", "gt-missing-last-val", "question-missing",
         "gt-missing-test-middle", "duplicate-image", "too-many-rounds"],
)
def test_malformed_files_name_the_dialog_and_round(tmp_path: Path, raw: dict[str, Any], message: str) -> None:
    path = write(tmp_path, raw)
    with pytest.raises(DataFormatError, match=message) as error:
        read_visdial(path)
    assert str(error.value).startswith(f"{path}: ") and "\n" not in str(error.value)


def test_dense_annotations(tmp_path: Path) -> None:
    relevance = [0.0] * 99 + [1.0]
    path = write(tmp_path, [{"image_id": 5, "round_id": 3, "gt_relevance": relevance}], "dense.json")
    assert read_dense_annotations(path) == {(5, 3): relevance}
    bad = [
        ([{"image_id": 5, "round_id": 3, "gt_relevance": [0.0] * 100}], "image 5, round 3: no option has a relevance"),
        ([{"image_id": 5, "round_id": 3, "gt_relevance": relevance[:50]}], "image 5, round 3: 'gt_relevance' must be 100"),
        ([{"image_id": 5, "round_id": 3, "gt_relevance": relevance}] * 2, "image 5, round 3: annotated twice"),
        ([{"image_id": 5, "round_id": 0, "gt_relevance": relevance}], r"entry 0: image_id and round_id \(>= 1\)"),
    ]
    for data, message in bad:
        with pytest.raises(DataFormatError, match=message):
            read_dense_annotations(write(tmp_path, data, "dense.json"))


def test_dialog_text_limits() -> None:
    vocab = Vocabulary.build([tokenize(t) for t in ANSWERS + QUESTIONS + ["a scene number"]])
    text = DialogText(vocab, DialogTextConfig(max_question_length=2, max_answer_length=3, max_fact_length=3,
                                              max_history_length=4))
    assert vocab.decode(text.question("what color is it")) == ["what", "color"]
    assert text.answer("it is red") == [vocab.bos_id, vocab.id_of("it"), vocab.eos_id]
    assert text.question("?") == [vocab.unk_id]
    assert vocab.decode(text.fact("is there a circle", "yes")) == ["is", "there", "a"]
    assert text.history([[4], [5, 6], [7, 8, 9]]) == [6, 7, 8, 9]  # the most recent words


def test_dataset_and_collate(tmp_path: Path) -> None:
    raw = visdial_file("test")
    del raw["data"]["dialogs"][1]["dialog"][3:]
    del raw["data"]["dialogs"][1]["dialog"][2]["answer"], raw["data"]["dialogs"][1]["dialog"][2]["gt_index"]
    data = read_visdial(write(tmp_path, raw), tmp_path, image_pattern="{image_id}.png")
    for image_id in (5, 6):
        Image.new("RGB", (8, 8), (image_id * 20, 0, 0)).save(tmp_path / f"{image_id}.png")
    vocab = Vocabulary.build([tokenize(t) for t in ANSWERS + QUESTIONS + ["a scene number"]])
    dataset = VisDialDataset(data, ImageReader(lambda path: Image.open(path).convert("RGB"),
                                               lambda image: torch.zeros(3, 4, 4)), DialogText(vocab))
    item = dataset[1]
    assert item is not None and len(item["question"]) == 3
    assert vocab.decode(item["history"][0]) == ["a", "scene", "number", "1"]
    assert vocab.decode(item["history"][2]) == tokenize("a scene number 1") + tokenize(QUESTIONS[0]) + ["answer", "2"] \
        + tokenize(QUESTIONS[1]) + ["answer", "6"]
    batch = collate_visdial([dataset[0], item, None], pad_id=vocab.pad_id)
    assert batch["num_skipped"] == 1 and batch["image"].shape == (2, 3, 4, 4)
    assert batch["question"].shape[:2] == (2, 10) and batch["facts"].shape[:2] == (2, 10)
    assert batch["round_mask"].sum(dim=1).tolist() == [10, 3] and batch["num_rounds"].tolist() == [10, 3]
    assert batch["gt_index"][1].tolist() == [1, 4] + [NO_ANSWER] * 8
    assert batch["gt_index"][0, 9].item() == NO_ANSWER and batch["gt_index"][0, 8].item() == 24
    # options point at rows of the batch's distinct answers
    d, r, k = 1, 2, 17
    row = int(batch["options"][d, r, k])
    length = int(batch["answer_lengths"][row])
    expected = data.answers[int(data.dialogs[1].options[r, k])]
    assert vocab.decode(batch["answers"][row, :length]) == tokenize(expected)
    assert batch["answers"].shape[0] == len({int(a) for dialog in data.dialogs for a in dialog.options.flatten()})
    assert batch["question_lengths"][1, 5].item() == 1 and batch["question"][1, 5, 0].item() == vocab.pad_id


def test_reads_the_shapes_world_files(tmp_path: Path) -> None:
    from multimodal_rnn.datasets.shapes.world import ShapesConfig, generate_shapes_world
    from multimodal_rnn.datasets.visdial import shapes_source

    generate_shapes_world(tmp_path, ShapesConfig(train_size=3, val_size=2, test_size=2))
    for split in ("train", "val", "test"):
        data = shapes_source(tmp_path, split).read()
        assert len(data.dialogs) == (3 if split == "train" else 2)
        assert all(Path(d.image_path).is_file() for d in data.dialogs)
    dense = read_dense_annotations(tmp_path / "visdial_val_dense_annotations.json")
    assert len(dense) == 2
