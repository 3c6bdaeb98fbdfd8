"""VQA data: reading questions/annotations, image paths, answer vocabulary, soft-score targets, batches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from multimodal_rnn.datasets.vqa import (
    AnswerVocabulary,
    VQADataset,
    VQARecord,
    build_question_vocabulary,
    collate_vqa,
    encode_question,
    read_vqa,
    shapes_source,
    trainable_records,
)
from multimodal_rnn.errors import ConfigError, DataFormatError
from multimodal_rnn.images import load_image
from multimodal_rnn.metrics.vqa import question_accuracy


def _answers(*pairs: tuple[str, int]) -> list[dict[str, Any]]:
    answers = [text for text, count in pairs for _ in range(count)]
    return [{"answer": text, "answer_confidence": "yes", "answer_id": i + 1} for i, text in enumerate(answers)]


def _write_split(folder: Path, questions: list[dict[str, Any]], annotations: list[dict[str, Any]] | None) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    q_path, a_path = folder / "questions.json", folder / "annotations.json"
    q_path.write_text(json.dumps({"task_type": "Open-Ended", "questions": questions}))
    if annotations is not None:
        a_path.write_text(json.dumps({"annotations": annotations}))
    return q_path, a_path


def _annotation(question_id: int, image_id: int, answers: list[dict[str, Any]]) -> dict[str, Any]:
    return {"question_id": question_id, "image_id": image_id, "question_type": "what", "answer_type": "other",
            "multiple_choice_answer": answers[0]["answer"], "answers": answers}


def _record(answers: list[str], question: str = "what is it?") -> VQARecord:
    return VQARecord(1, 1, question, "x.png", tuple(answers))


def test_read_vqa_finds_images_by_pattern_or_by_images_list(tmp_path: Path) -> None:
    questions = [{"image_id": 42, "question": "What is it?", "question_id": 420},
                 {"image_id": 7, "question": "Is it red?", "question_id": 70}]
    annotations = [_annotation(70, 7, _answers(("yes", 10))), _annotation(420, 42, _answers(("dog", 6), ("cat", 4)))]
    q_path, a_path = _write_split(tmp_path, questions, annotations)
    records = read_vqa(q_path, a_path, tmp_path / "imgs")
    assert [r.question_id for r in records] == [420, 70]  # the questions' order
    assert records[0].image_path == str(tmp_path / "imgs" / "COCO_val2014_000000000042.jpg")
    assert records[0].answers == ("dog",) * 6 + ("cat",) * 4 and records[0].answer_type == "other"
    assert read_vqa(q_path, None, tmp_path, image_pattern="img-{image_id}.png")[1].image_path == str(tmp_path / "img-7.png")
    assert read_vqa(q_path, None, tmp_path)[0].answers == ()
    listing = tmp_path / "images.json"
    listing.write_text(json.dumps({"images": [{"id": 42, "file_name": "a/forty-two.jpg"}, {"id": 7, "file_name": "b.jpg"}]}))
    assert read_vqa(q_path, a_path, tmp_path, images_list=listing)[0].image_path == str(tmp_path / "a/forty-two.jpg")


@pytest.mark.parametrize("change, message", [
    ("duplicate question", "listed twice"),
    ("missing annotation", "no annotation for question id 70"),
    ("extra annotation", "not in"),
    ("wrong image", "is about image 8"),
    ("string id", "ids must be integers"),
])
def test_read_vqa_refuses_inconsistent_files(tmp_path: Path, change: str, message: str) -> None:
    questions = [{"image_id": 42, "question": "What?", "question_id": 420}, {"image_id": 7, "question": "Red?", "question_id": 70}]
    annotations = [_annotation(420, 42, _answers(("dog", 10))), _annotation(70, 7, _answers(("yes", 10)))]
    if change == "duplicate question":
        questions.append(dict(questions[0]))
    elif change == "missing annotation":
        annotations.pop()
    elif change == "extra annotation":
        annotations.append(_annotation(99, 7, _answers(("no", 10))))
    elif change == "wrong image":
        annotations[1]["image_id"] = 8
    else:
        questions[0]["question_id"] = "420"
    q_path, a_path = _write_split(tmp_path, questions, annotations)
    with pytest.raises(DataFormatError, match=message):
        read_vqa(q_path, a_path, tmp_path)


@pytest.mark.parametrize("pattern", ["images.jpg", "{id}.jpg", "{image_id}-{split}.jpg", "{image_id:q}.jpg"])
def test_image_pattern_needs_exactly_an_image_id_field(tmp_path: Path, pattern: str) -> None:
    q_path, _ = _write_split(tmp_path, [{"image_id": 1, "question": "q?", "question_id": 1}], None)
    with pytest.raises(ConfigError, match="image pattern"):
        read_vqa(q_path, None, tmp_path, image_pattern=pattern)


def test_answer_vocabulary_keeps_the_most_frequent_normalized_answers() -> None:
    records = [_record(["Two"] * 6 + ["2"] * 4), _record(["A dog"] * 5 + ["dog"] * 5), _record(["yes"] * 10),
               _record(["t-shirt"] * 10), _record(["cat"] * 3 + ["2"] * 7)]
    vocab = AnswerVocabulary.build(records, max_size=4)
    # normalized counts: "2": 17, "yes": 10, "t shirt": 10, "dog": 10, "cat": 3 -> ties by normalized text
    assert vocab.answers == ("2", "dog", "t-shirt", "yes")
    assert vocab.id_of("two") == vocab.id_of("2") == 0 and vocab.id_of("The Dog.") == 1 and vocab.id_of("cat") is None
    # the predicted spelling is the most frequent raw one, so the official metric accepts it either way
    assert question_accuracy(vocab.answers[2], ["t-shirt"] * 10) == 1.0
    assert question_accuracy(vocab.answers[2], ["t-shirt"] * 9 + ["shirt"]) == 1.0
    assert AnswerVocabulary(list(vocab.answers)).answers == vocab.answers
    with pytest.raises(DataFormatError, match="same answer"):
        AnswerVocabulary(["dog", "the dog"])


def test_soft_score_targets_including_ten_identical_answers() -> None:
    vocab = AnswerVocabulary(["yes", "no", "2", "red"])
    assert vocab.targets(["yes"] * 10) == {0: 1.0}
    assert vocab.targets(["no"] * 7 + ["yes"] * 2 + ["maybe"]) == {1: 1.0, 0: 0.6}
    assert vocab.targets(["two"] * 3 + ["2"] * 0 + ["red"] * 1 + ["blue"] * 6) == {2: 0.9, 3: 0.3}
    assert vocab.targets(["blue"] * 10) == {}
    records = [_record(["blue"] * 10), _record(["Yes"] * 10)]
    assert trainable_records(records, vocab) == records[1:]


def test_question_encoding_truncates_and_maps_unknown_words() -> None:
    vocab = build_question_vocabulary([_record([], "what color is the circle?"), _record([], "is there a square?")])
    ids = encode_question(vocab, "What COLOR is the hexagon?", 30)
    assert vocab.decode(ids) == ["what", "color", "is", "the", "<unk>"]
    assert len(encode_question(vocab, "what " * 5000, 30)) == 30
    assert encode_question(vocab, "", 30) == encode_question(vocab, "?!", 30) == [vocab.unk_id]


def test_dataset_groups_questions_by_image_and_collate_encodes_each_image_once(tmp_path: Path) -> None:
    for image_id, color in [(1, "red"), (2, "blue")]:
        Image.new("RGB", (20, 20), color).save(tmp_path / f"{image_id}.png")
    (tmp_path / "3.png").write_text("not an image")
    records = [VQARecord(10, 1, "what color?", str(tmp_path / "1.png"), ("red",) * 10),
               VQARecord(11, 1, "is it red?", str(tmp_path / "1.png"), ("yes",) * 10),
               VQARecord(20, 2, "what color is it?", str(tmp_path / "2.png"), ("blue",) * 7 + ("navy",) * 3),
               VQARecord(30, 3, "what color?", str(tmp_path / "3.png"), ("red",) * 10)]
    answers = AnswerVocabulary.build(records)
    vocab = build_question_vocabulary(records)

    def transform(image: Image.Image) -> torch.Tensor:
        return torch.tensor(image.getpixel((0, 0)), dtype=torch.float32)[:, None, None].expand(3, 4, 4)

    dataset = VQADataset(records, transform, load_image, lambda q: encode_question(vocab, q, 5), answers)
    assert len(dataset) == 3 and dataset[2] is None and str(tmp_path / "3.png") in dataset.bad_images
    batch = collate_vqa([dataset[0], dataset[2], dataset[1]], num_answers=len(answers), pad_id=vocab.pad_id)
    assert batch["num_skipped"] == 1 and batch["image"].shape == (2, 3, 4, 4)
    assert batch["image_index"].tolist() == [0, 0, 1] and batch["question_id"] == [10, 11, 20]
    assert batch["question"].shape == (3, 4) and batch["lengths"].tolist() == [2, 3, 4]
    assert batch["question"][0, 2:].tolist() == [vocab.pad_id, vocab.pad_id]
    red, navy, blue = answers.id_of("red"), answers.id_of("navy"), answers.id_of("blue")
    assert batch["targets"][0, red] == 1.0 and batch["targets"][2, blue] == 1.0
    assert batch["targets"][2, navy] == pytest.approx(0.9) and batch["targets"].sum().item() == pytest.approx(3.9)
    per_question = VQADataset(records, transform, load_image, lambda q: encode_question(vocab, q, 5), group_by_image=False)
    assert len(per_question) == 4 and "targets" not in per_question[0]
    assert collate_vqa([None]) == {"num_skipped": 1}


def test_shapes_world_split_reads_as_vqa(tmp_path: Path) -> None:
    from multimodal_rnn.datasets.shapes.world import ShapesConfig, generate_shapes_world

    generate_shapes_world(tmp_path, ShapesConfig(train_size=4, val_size=1, test_size=1, seed=2))
    records = shapes_source(tmp_path, "train").read()
    assert len(records) == 20 and all(Path(r.image_path).is_file() for r in records)
    assert all(len(r.answers) == 10 and len(set(r.answers)) == 1 for r in records)
    answers = AnswerVocabulary.build(records)
    assert all(answers.targets(r.answers) == {answers.id_of(r.answers[0]): 1.0} for r in records)
