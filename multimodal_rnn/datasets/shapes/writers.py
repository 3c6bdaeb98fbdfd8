"""Shapes world writers: one split's images and language as COCO, VQA v2 and VisDial v1.0 JSON.

Each function turns a list of :class:`ImageRecord` into the plain JSON data of one standard file
(see docs/formats.md); :func:`multimodal_rnn.files.write_json` writes it with sorted keys
and fixed separators, so the bytes depend only on the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from multimodal_rnn.datasets.shapes.dialog import ANSWER_POOL, answer_relevance
from multimodal_rnn.datasets.shapes.questions import Question
from multimodal_rnn.datasets.shapes.scene import Scene, scene_graph

DESCRIPTION = "Shapes world: synthetic scenes of colored shapes for multimodal_rnn"
LICENSES = [{"id": 1, "name": "CC0 1.0 Universal", "url": "https://creativecommons.org/publicdomain/zero/1.0/"}]


@dataclass(frozen=True)
class ImageRecord:
    """One generated image with everything said about it.

    ``held_out_round`` (1-based) is where a test dialog stops (its answer is withheld) and the
    round of a val dialog that gets dense relevance scores; train ignores it.
    """

    image_id: int
    file_name: str
    scene: Scene
    captions: list[str]
    questions: list[Question]
    dialog: dict[str, Any]
    held_out_round: int


def question_id(image_id: int, index: int) -> int:
    """VQA-style question id: ``image_id * 1000 + index``."""
    return image_id * 1000 + index


def coco_captions(split: str, records: list[ImageRecord], image_size: int) -> dict[str, Any]:
    """``captions_{split}.json`` in the COCO captions format (annotation id = image_id * 10 + k)."""
    return {
        "info": {"description": DESCRIPTION, "version": "1.0", "contributor": "multimodal_rnn", "split": split},
        "licenses": LICENSES,
        "images": [
            {"id": r.image_id, "file_name": r.file_name, "height": image_size, "width": image_size} for r in records
        ],
        "annotations": [
            {"id": r.image_id * 10 + k, "image_id": r.image_id, "caption": caption}
            for r in records
            for k, caption in enumerate(r.captions)
        ],
    }


def vqa_questions(split: str, records: list[ImageRecord]) -> dict[str, Any]:
    """``vqa_questions_{split}.json`` in the VQA v2 questions format (open-ended)."""
    return {
        "info": {"description": DESCRIPTION, "version": "1.0", "contributor": "multimodal_rnn"},
        "task_type": "Open-Ended",
        "data_type": "shapes",
        "data_subtype": split,
        "license": LICENSES[0],
        "questions": [
            {"image_id": r.image_id, "question": q["question"], "question_id": question_id(r.image_id, k)}
            for r in records
            for k, q in enumerate(r.questions)
        ],
    }


def vqa_annotations(split: str, records: list[ImageRecord]) -> dict[str, Any]:
    """``vqa_annotations_{split}.json`` in the VQA v2 annotations format (10 identical answers)."""
    return {
        "info": {"description": DESCRIPTION, "version": "1.0", "contributor": "multimodal_rnn"},
        "license": LICENSES[0],
        "data_subtype": split,
        "annotations": [
            {
                "question_id": question_id(r.image_id, k),
                "image_id": r.image_id,
                "question_type": q["question_type"],
                "answer_type": q["answer_type"],
                "multiple_choice_answer": q["answer"],
                "answers": [
                    {"answer": q["answer"], "answer_confidence": "yes", "answer_id": n} for n in range(1, 11)
                ],
            }
            for r in records
            for k, q in enumerate(r.questions)
        ],
    }


def visdial(split: str, records: list[ImageRecord]) -> dict[str, Any]:
    """``visdial_{split}.json`` in the VisDial v1.0 format.

    ``answers`` is the whole :data:`ANSWER_POOL`; ``questions`` lists the split's questions in
    order of first use. A test dialog stops at ``held_out_round``, whose answer and gt_index
    are left out.
    """
    answer_index = {answer: i for i, answer in enumerate(ANSWER_POOL)}
    question_index: dict[str, int] = {}
    dialogs = []
    for record in records:
        rounds = record.dialog["rounds"]
        if split == "test":
            rounds = rounds[: record.held_out_round]
        dialog = []
        for number, turn in enumerate(rounds, start=1):
            entry = {
                "question": question_index.setdefault(turn["question"], len(question_index)),
                "answer_options": [answer_index[o] for o in turn["answer_options"]],
            }
            if split != "test" or number < record.held_out_round:
                entry["answer"] = answer_index[turn["answer"]]
                entry["gt_index"] = turn["gt_index"]
            dialog.append(entry)
        dialogs.append({"image_id": record.image_id, "caption": record.dialog["caption"], "dialog": dialog})
    data = {"questions": list(question_index), "answers": list(ANSWER_POOL), "dialogs": dialogs}
    return {"version": "1.0", "split": split, "data": data}


def visdial_dense_annotations(records: list[ImageRecord]) -> list[dict[str, Any]]:
    """``visdial_val_dense_annotations.json``: relevance of the 100 options of one round per dialog."""
    annotations = []
    for record in records:
        turn = record.dialog["rounds"][record.held_out_round - 1]
        relevance = answer_relevance(turn["answer"], turn["answer_options"])
        annotations.append({"image_id": record.image_id, "round_id": record.held_out_round, "gt_relevance": relevance})
    return annotations


def scene_graphs(split: str, records: list[ImageRecord], image_size: int, relation_margin: float) -> dict[str, Any]:
    """``scenes_{split}.json``: objects (pixels; x right, y down) and clearly true relations."""
    return {
        "info": {
            "description": DESCRIPTION,
            "split": split,
            "image_size": image_size,
            "relation_margin_pixels": round(relation_margin * image_size, 2),
            "units": "pixels; x grows to the right, y downwards; radius of the circumscribed circle",
        },
        "images": [
            {
                "id": r.image_id,
                "file_name": r.file_name,
                "height": image_size,
                "width": image_size,
                **scene_graph(r.scene, image_size),
            }
            for r in records
        ],
    }
