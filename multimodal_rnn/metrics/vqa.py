"""VQA accuracy exactly as the official evaluation computes it (GT-Vision-Lab/VQA ``vqaEval.py``, master).

Per question, with the 10 human answers of the annotation:

1. the prediction and every human answer go through :func:`clean_whitespace`;
2. only if the cleaned human answers are not all identical, both sides go through the full
   normalization (:func:`~multimodal_rnn.text.answers.process_answer`). When all ten
   are identical nothing else happens, so ``"Yes"`` against ten ``"yes"`` scores 0;
3. accuracy = mean over the answers ``i`` of ``min(1, (answers other than i equal to the
   prediction) / 3)``. With 10 answers of which ``n`` match this is 0, .3, .6, .9 and 1 for
   ``n`` = 0, 1, 2, 3 and 4 or more (up to float rounding).

The official code leaves out, for held-out answer ``i``, every answer *record* equal to record
``i`` (``item != gtAnsDatum`` compares the answer dicts, with answers already normalized).
The official files number answers with distinct ``answer_id`` so only ``i`` itself goes; a
file whose answer records repeat (say ten ``{"answer": "yes"}`` without ids) loses every copy
and scores lower. :func:`evaluate_vqa` reproduces that; :func:`question_accuracy`, which sees
only strings, treats every answer as distinct.

Overall, per question type and per answer type (from the annotation's ``question_type`` and
``answer_type``) accuracies are ``round(100 * sum / count, 2)`` of the per-question values,
summed in annotation order as the official code does.

Early revisions of ``vqaEval.py`` (2015-2016) normalized the prediction always and applied only
the punctuation rule to the human answers; this module follows the current one, the version
published numbers since VQA v2 come from.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multimodal_rnn.errors import DataFormatError, InputError, first_ids
from multimodal_rnn.files import (
    MAX_JSON_FILE_BYTES,
    MAX_RESULTS_FILE_BYTES,
    check_result_texts,
    read_json,
    require_keys,
)
from multimodal_rnn.text.answers import clean_whitespace, process_answer, soft_scores

__all__ = ["VQAEvaluation", "evaluate_vqa", "process_answer", "question_accuracy", "soft_scores"]

JsonFile = str | os.PathLike[str] | Mapping[str, Any]
"""A path to a VQA questions or annotations JSON file, or the dict parsed from it."""
ResultsFile = str | os.PathLike[str] | Sequence[Mapping[str, Any]]
"""A path to a VQA results JSON file, or the list parsed from it."""

def question_accuracy(prediction: str, human_answers: Sequence[str]) -> float:
    """Official VQA accuracy (0..1) of one predicted answer against the human answers.

    Follows the three steps of the module docstring; ``human_answers`` is usually the 10 answers
    of the annotation (any non-empty number is averaged the same way).

    Raises:
        InputError: no human answers, or a single string instead of a list.
    """
    if isinstance(human_answers, str):
        raise InputError(f"human answers must be a list of strings, got the string {human_answers!r}")
    if len(human_answers) == 0:
        raise InputError("no human answers to score the prediction against")
    answers, prediction = _compared_forms(list(human_answers), prediction, _AnswerForms())
    return _leave_one_out_accuracy(prediction, answers, None)


class _AnswerForms:
    """Cache of one evaluation: raw answer -> (whitespace-cleaned, fully normalized)."""

    def __init__(self) -> None:
        self._forms: dict[str, tuple[str, str]] = {}

    def __call__(self, text: str) -> tuple[str, str]:
        forms = self._forms.get(text)
        if forms is None:
            cleaned = clean_whitespace(text)
            forms = self._forms[text] = (cleaned, process_answer(cleaned))
        return forms


def _compared_forms(answers: list[str], prediction: str, forms: _AnswerForms) -> tuple[list[str], str]:
    """(human answers, prediction) as the official code compares them: cleaned, normalized if the answers differ."""
    prediction_forms = forms(prediction)
    if len(set(answers)) == 1:  # identical raw answers stay identical once cleaned
        return [forms(answers[0])[0]] * len(answers), prediction_forms[0]
    answer_forms = [forms(answer) for answer in answers]
    cleaned = [cleaned for cleaned, _ in answer_forms]
    if len(set(cleaned)) == 1:
        return cleaned, prediction_forms[0]
    return [normalized for _, normalized in answer_forms], prediction_forms[1]


def _leave_one_out_accuracy(prediction: str, answers: Sequence[str], left_out: Sequence[int] | None) -> float:
    """Mean over held-out answers of ``min(1, matches among the rest / 3)``, summed in order.

    ``left_out[i]`` is how many records leave with held-out answer ``i`` (None: 1 each). The
    values keep the official types (``min(1, k / 3)`` is the int 1 from 3 matches up) so
    that ``sum`` adds the same numbers in the same order.
    """
    matches = [answer == prediction for answer in answers]
    count = sum(matches)
    if count == 0:
        return 0.0
    if left_out is None:
        left_out = [1] * len(answers)
    values = [min(1, (count - gone if match else count) / 3) for match, gone in zip(matches, left_out)]
    return float(sum(values)) / len(values)


@dataclass(frozen=True)
class VQAEvaluation:
    """The official VQA evaluation of one results file.

    ``overall``, ``per_answer_type`` and ``per_question_type`` are percentages rounded to 2
    decimals (the official ``accuracy`` dict); types appear in annotation order.
    ``per_question`` holds the unrounded accuracy (0..1) of every question id in annotation
    order (the official ``evalQA`` is ``round(100 * value, 2)``). The counts say how many
    questions each type has.
    """

    overall: float
    per_answer_type: dict[str, float]
    per_question_type: dict[str, float]
    per_question: dict[int, float]
    answer_type_counts: dict[str, int]
    question_type_counts: dict[str, int]

    @property
    def num_questions(self) -> int:
        """Number of evaluated questions."""
        return len(self.per_question)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``per_question`` becomes a list of ``{"question_id", "accuracy"}``."""
        return {
            "overall": self.overall,
            "per_answer_type": dict(self.per_answer_type),
            "per_question_type": dict(self.per_question_type),
            "answer_type_counts": dict(self.answer_type_counts),
            "question_type_counts": dict(self.question_type_counts),
            "num_questions": self.num_questions,
            "per_question": [
                {"question_id": question_id, "accuracy": accuracy}
                for question_id, accuracy in self.per_question.items()
            ],
        }


def evaluate_vqa(questions: JsonFile, annotations: JsonFile, results: ResultsFile) -> VQAEvaluation:
    """Official VQA evaluation of a results list against a VQA questions/annotations pair.

    Args:
        questions: path to (or parsed) VQA questions file (``v2_OpenEnded_mscoco_val2014_questions.json``).
        annotations: path to (or parsed) VQA annotations file (``v2_mscoco_val2014_annotations.json``).
        results: path to (or parsed) ``[{"question_id": int, "answer": str}]``, exactly one
            entry per annotated question. For a ``"Multiple Choice"`` questions file every answer
            must be one of the question's ``multiple_choices``.

    Inputs are not modified.

    Raises:
        InputError: a file is missing, not a regular file or over its size limit (results:
            :data:`multimodal_rnn.files.MAX_RESULTS_FILE_BYTES` = 256 MiB).
        DataFormatError: a file is not JSON or does not follow its format, an annotated question
            has no question, the results miss, repeat or add question ids, or an answer is over
            10,000 characters or 1,000 words (:func:`multimodal_rnn.files.check_result_texts`).
    """
    annotations_data, annotations_name = _load(annotations, "the annotations")
    questions_data, questions_name = _load(questions, "the questions")
    results_data, results_name = _load(results, "the results", max_bytes=MAX_RESULTS_FILE_BYTES)
    annotated = _read_annotations(annotations_data, annotations_name)
    choices = _read_questions(questions_data, questions_name, annotated.keys(), annotations_name)
    predictions = _read_results(results_data, results_name, annotated.keys(), annotations_name)
    if choices is not None:
        _check_multiple_choice(predictions, choices, results_name)

    forms = _AnswerForms()
    per_question: dict[int, float] = {}
    by_answer_type: dict[str, list[float]] = {}
    by_question_type: dict[str, list[float]] = {}
    for question_id, annotation in annotated.items():
        records = annotation["answers"]
        answers, prediction = _compared_forms([record["answer"] for record in records], predictions[question_id], forms)
        left_out = None if _answer_ids_distinct(records) else _records_left_out(records, answers)
        accuracy = _leave_one_out_accuracy(prediction, answers, left_out)
        per_question[question_id] = accuracy
        by_question_type.setdefault(annotation["question_type"], []).append(accuracy)
        by_answer_type.setdefault(annotation["answer_type"], []).append(accuracy)

    return VQAEvaluation(
        overall=_percent(per_question.values()),
        per_answer_type={name: _percent(values) for name, values in by_answer_type.items()},
        per_question_type={name: _percent(values) for name, values in by_question_type.items()},
        per_question=per_question,
        answer_type_counts={name: len(values) for name, values in by_answer_type.items()},
        question_type_counts={name: len(values) for name, values in by_question_type.items()},
    )


def _percent(values: Iterable[float]) -> float:
    """The official ``round(100 * float(sum(values)) / len(values), 2)``."""
    values = list(values)
    return round(100 * float(sum(values)) / len(values), 2)


def _records_left_out(records: list[dict[str, Any]], answers: list[str]) -> list[int]:
    """For each answer record, how many records (itself included) equal it once its answer is replaced."""
    compared = [{**record, "answer": answer} for record, answer in zip(records, answers)]
    return [sum(record == other for other in compared) for record in compared]


def _load(
    source: JsonFile | ResultsFile, default_name: str, *, max_bytes: int = MAX_JSON_FILE_BYTES
) -> tuple[Any, str]:
    """(parsed data, name for messages) of a path to a JSON file or of already-parsed data."""
    if isinstance(source, (str, os.PathLike)):
        return read_json(source, max_bytes=max_bytes), str(Path(source))
    return source, default_name


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _list_field(data: Any, key: str, where: str) -> list[Any]:
    require_keys(data, (key,), where=where)
    if not isinstance(data[key], list):
        raise DataFormatError(f"{where}: {key!r} is not a list")
    return data[key]


def _answer_ids_distinct(records: list[dict[str, Any]]) -> bool:
    """True when every answer record has a non-null ``answer_id`` and no two are equal (records then differ)."""
    try:
        ids = {record.get("answer_id") for record in records}
    except TypeError:  # an unhashable id (a list or an object)
        return False
    return len(ids) == len(records) and None not in ids


def _read_annotations(data: Any, where: str) -> dict[int, dict[str, Any]]:
    """The checked annotation objects by question id, in file order."""
    entries = _list_field(data, "annotations", where)
    if not entries:
        raise DataFormatError(f"{where}: no annotations")
    annotated: dict[int, dict[str, Any]] = {}
    duplicates: list[int] = []
    for index, entry in enumerate(entries):
        if not (
            isinstance(entry, dict)
            and _is_int(entry.get("question_id"))
            and isinstance(entry.get("question_type"), str)
            and isinstance(entry.get("answer_type"), str)
            and isinstance(entry.get("answers"), list)
        ):
            raise DataFormatError(
                f"{where}: annotations[{index}] needs an integer 'question_id', string 'question_type' and "
                "'answer_type', and an 'answers' list"
            )
        records = entry["answers"]
        if not records or not all(isinstance(r, dict) and isinstance(r.get("answer"), str) for r in records):
            raise DataFormatError(
                f"{where}: annotations[{index}] (question_id {entry['question_id']}) needs a non-empty 'answers' "
                "list of objects with a string 'answer'"
            )
        if entry["question_id"] in annotated:
            duplicates.append(entry["question_id"])
        annotated[entry["question_id"]] = entry
    if duplicates:
        raise DataFormatError(f"{where}: more than one annotation for question_id {first_ids(set(duplicates))}")
    return annotated


def _read_questions(
    data: Any, where: str, question_ids: Iterable[int], annotations_name: str
) -> dict[int, list[Any]] | None:
    """Check the questions file; for a "Multiple Choice" file return each question's choices, else None."""
    entries = _list_field(data, "questions", where)
    malformed = [
        index
        for index, entry in enumerate(entries)
        if not (isinstance(entry, dict) and _is_int(entry.get("question_id")))
    ]
    if malformed:
        raise DataFormatError(f"{where}: questions at index {first_ids(malformed)} need an integer 'question_id'")
    by_id = {entry["question_id"]: entry for entry in entries}
    unasked = [question_id for question_id in question_ids if question_id not in by_id]
    if unasked:
        raise DataFormatError(
            f"{where}: no question for {len(unasked)} question_id(s) of {annotations_name}: {first_ids(unasked)} "
            "(questions and annotations of different splits?)"
        )
    if data.get("task_type") != "Multiple Choice":
        return None
    choices: dict[int, list[Any]] = {}
    for question_id in question_ids:
        options = by_id[question_id].get("multiple_choices")
        if not isinstance(options, list):
            raise DataFormatError(f"{where}: Multiple Choice question {question_id} has no 'multiple_choices' list")
        choices[question_id] = options
    return choices


def _read_results(data: Any, where: str, question_ids: Iterable[int], annotations_name: str) -> dict[int, str]:
    """Predicted answer per question id, checked to cover exactly ``question_ids``."""
    if not isinstance(data, list):
        raise DataFormatError(
            f'{where}: expected a JSON list of {{"question_id": int, "answer": str}} objects, got {type(data).__name__}'
        )
    malformed = [
        index
        for index, entry in enumerate(data)
        if not (isinstance(entry, dict) and _is_int(entry.get("question_id")) and isinstance(entry.get("answer"), str))
    ]
    if malformed:
        raise DataFormatError(
            f"{where}: entries at index {first_ids(malformed)} need an integer 'question_id' and a string 'answer'"
        )
    check_result_texts(data, text_key="answer", id_key="question_id", where=where)
    predictions: dict[int, str] = {}
    duplicates: list[int] = []
    for entry in data:
        if entry["question_id"] in predictions:
            duplicates.append(entry["question_id"])
        predictions[entry["question_id"]] = entry["answer"]
    if duplicates:
        raise DataFormatError(f"{where}: more than one answer for question_id {first_ids(set(duplicates))}")
    expected = set(question_ids)
    missing = expected - predictions.keys()
    if missing:
        raise DataFormatError(
            f"{where}: no answer for {len(missing)} question(s) of {annotations_name}: question_id {first_ids(missing)}"
        )
    extra = predictions.keys() - expected
    if extra:
        raise DataFormatError(
            f"{where}: {len(extra)} question_id(s) not annotated in {annotations_name}: {first_ids(extra)}"
        )
    return predictions


def _check_multiple_choice(predictions: Mapping[int, str], choices: Mapping[int, list[Any]], where: str) -> None:
    wrong = [question_id for question_id, answer in predictions.items() if answer not in choices[question_id]]
    if wrong:
        raise DataFormatError(
            f"{where}: answers that are not one of the multiple choices for question_id {first_ids(wrong)}"
        )
