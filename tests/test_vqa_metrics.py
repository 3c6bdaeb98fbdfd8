"""Official VQA accuracy: every normalization rule, the leave-one-out average, aggregation, input checks.

Expected values are worked out by hand from the official ``vqaEval.py`` (GT-Vision-Lab/VQA master)
and were confirmed by running that code on the same inputs.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from multimodal_rnn.errors import DataFormatError, InputError
from multimodal_rnn.metrics.vqa import evaluate_vqa, process_answer, question_accuracy, soft_scores
from multimodal_rnn.text.answers import CONTRACTIONS, process_punctuation


@pytest.mark.parametrize(
    "text, expected",
    [
        ("yes!", "yes"),  # '!' touches no space: becomes a space, then split away
        ("yes !", "yes"),  # '!' next to a space: deleted
        ("t-shirt", "t shirt"),  # '-' inside a word, no space next to any '-': a space
        ("t-shirt -", "tshirt"),  # some '-' touches a space: every '-' is deleted, also inside the word
        ("red,blue", "red blue"),
        ("red, blue", "red blue"),
        ("5000-ft", "5000 ft"),
        ("5,000-ft", "5000ft"),  # a digit-comma-digit anywhere deletes every symbol
        ("1,000", "1000"),
        ('he said "hi"', "he said hi"),
        ("a\\b", "b"),  # backslash becomes a space, then the article 'a' goes
        ("10:30", "10:30"),  # colons and apostrophes are not official punctuation
        ("man's", "man's"),
    ],
)
def test_punctuation_rules(text: str, expected: str) -> None:
    assert process_answer(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("yes.", "yes"),
        ("3.5", "3.5"),  # a period followed by a digit stays
        ("3.5.", "3.5"),
        ("mr. smith", "mr smith"),
        ("..5", ".5"),
    ],
)
def test_periods(text: str, expected: str) -> None:
    assert process_answer(text) == expected


def test_at_most_32_periods_are_deleted() -> None:
    # the official code passes re.UNICODE (32) as the count of re.sub
    assert process_punctuation("wait" + "." * 32) == "wait"
    assert process_punctuation("wait" + "." * 40) == "wait" + "." * 8
    assert process_punctuation("a.b." * 20) == "ab" * 16 + "a.b." * 4


@pytest.mark.parametrize(
    "text, expected",
    [
        ("two", "2"),
        ("Two Dogs", "2 dogs"),
        ("none", "0"),
        ("ten", "10"),
        ("eleven", "eleven"),
        ("a dog", "dog"),
        ("The Dog", "dog"),
        ("an apple", "apple"),
        ("the", ""),
        ("a-frame", "frame"),
        ("dont", "don't"),
        ("Dont", "don't"),
        ("whats", "what's"),
        ("youre", "you're"),
        ("cant", "can't"),
        ("wont", "won't"),
        ("im", "im"),  # the official keys "Im", "Ive" hold a capital and never match lowercased text
        ("Im", "im"),
        ("ive", "ive"),
        ("somebody'd", "somebodyd"),  # an odd official entry, kept
        (" yes\n", "yes"),
        ("yes\tsir", "yes sir"),
    ],
)
def test_numbers_articles_contractions_whitespace(text: str, expected: str) -> None:
    assert process_answer(text) == expected


def test_contraction_table_is_the_official_one() -> None:
    assert len(CONTRACTIONS) == 120
    assert CONTRACTIONS["dont"] == "don't" and CONTRACTIONS["whove"] == "who've" and CONTRACTIONS["twas"] == "'twas"
    assert {"Im", "Ive", "Id've", "I'dve"} <= CONTRACTIONS.keys() and "im" not in CONTRACTIONS


def test_identical_answers_are_compared_raw() -> None:
    tens = ["yes"] * 10
    assert question_accuracy("yes", tens) == 1.0
    assert question_accuracy(" yes\n", tens) == 1.0  # whitespace is always cleaned
    assert question_accuracy("Yes", tens) == 0.0  # no lowercasing when all answers agree
    assert question_accuracy("yes.", tens) == 0.0
    assert question_accuracy("YES", ["yes"] * 9 + ["Yes"]) == 1.0  # they differ: both sides normalized
    # answers that differ only by whitespace are identical once cleaned: still a raw comparison
    assert question_accuracy("Yes", ["yes"] * 9 + [" yes\t"]) == 0.0
    assert question_accuracy("yes", ["yes"] * 9 + [" yes\t"]) == 1.0


@pytest.mark.parametrize(
    "matches, expected",
    [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (5, 1.0), (7, 1.0), (9, 1.0), (10, 1.0)],
)
def test_leave_one_out_average(matches: int, expected: float) -> None:
    # n matching humans: n held-out subsets see n - 1 matches, 10 - n see n
    # e.g. n = 2: (2 * 1/3 + 8 * 2/3) / 10 = 0.6; n = 3: (3 * 2/3 + 7 * 1) / 10 = 0.9
    answers = ["red"] * matches + ["blue"] * (10 - matches)
    assert question_accuracy("red", answers) == pytest.approx(expected, abs=1e-12)


def test_fewer_answers_average_the_same_way() -> None:
    # held out red: 1 other red (1/3), twice; held out blue: 2 reds (2/3) -> (4/3) / 3
    assert question_accuracy("red", ["red", "red", "blue"]) == pytest.approx(4 / 9, abs=1e-12)
    with pytest.raises(InputError, match="no human answers"):
        question_accuracy("red", [])
    with pytest.raises(InputError, match="got the string 'red'"):
        question_accuracy("red", "red")


@pytest.mark.parametrize(
    "prediction, answers, expected",
    [
        ("two", ["2"] * 5 + ["two"] * 3 + ["3"] * 2, 1.0),  # 8 normalize to "2"
        ("3", ["2"] * 5 + ["two"] * 3 + ["3"] * 2, 0.6),
        ("a dog", ["dog"] * 2 + ["cat"] * 8, 0.6),
        ("dont", ["don't"] + ["no"] * 9, 0.3),
        ("t shirt", ["t-shirt"] * 3 + ["shirt"] * 7, 0.9),
        ("tshirt", ["t-shirt"] * 3 + ["shirt"] * 7, 0.0),
        ("1,000", ["1000"] * 2 + ["1,000"] * 2 + ["lots"] * 6, 1.0),
        ("Red.", ["red"] * 3 + ["blue"] * 7, 0.9),
    ],
)
def test_normalized_matches(prediction: str, answers: list[str], expected: float) -> None:
    assert question_accuracy(prediction, answers) == pytest.approx(expected, abs=1e-12)


def test_soft_scores() -> None:
    answers = ["yes", "yes", "Yes!", "no", "two", "2", "2", "2", "2", "a dog"]
    assert soft_scores(answers) == {"yes": 0.9, "no": 0.3, "2": 1.0, "dog": 0.3}
    # unlike the accuracy, the training target normalizes identical answers too
    assert soft_scores(["Yes"] * 10) == {"yes": 1.0}
    assert question_accuracy("yes", ["Yes"] * 10) == 0.0
    # with 3 answers the leave-one-out average (4/9) differs from min(1, 0.3 * 2)
    assert soft_scores(["red", "red", "blue"])["red"] == 0.6


def vqa_files(rows: list[tuple[str, str, list[Any], str]]) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
    """(questions, annotations, results) from (question_type, answer_type, answers, prediction) rows.

    ``answers`` items are strings (numbered answer records) or ready answer records.
    """
    questions = {
        "task_type": "Open-Ended",
        "questions": [{"image_id": 100 + i, "question": "?", "question_id": 10 + i} for i in range(len(rows))],
    }
    annotations = {"annotations": []}
    for i, (question_type, answer_type, answers, _) in enumerate(rows):
        records = [
            {"answer": a, "answer_confidence": "yes", "answer_id": k + 1} if isinstance(a, str) else a
            for k, a in enumerate(answers)
        ]
        annotations["annotations"].append(
            {
                "question_id": 10 + i,
                "image_id": 100 + i,
                "question_type": question_type,
                "answer_type": answer_type,
                "multiple_choice_answer": records[0]["answer"],
                "answers": records,
            }
        )
    results = [{"question_id": 10 + i, "answer": row[3]} for i, row in enumerate(rows)]
    return questions, annotations, results


ROWS = [
    ("is the", "yes/no", ["yes"] * 10, "yes"),  # 1.0
    ("is the", "yes/no", ["yes"] * 10, "no"),  # 0.0
    ("how many", "number", ["2"] + ["3"] * 9, "2"),  # 0.3
    ("how many", "number", ["2"] * 2 + ["3"] * 8, "two"),  # 0.6
    ("what color is the", "other", ["red"] * 3 + ["blue"] * 7, "Red."),  # 0.9
    ("what color is the", "other", ["red"] * 10, "Red"),  # 0.0: identical answers, raw comparison
]


def test_aggregation_and_rounding() -> None:
    questions, annotations, results = vqa_files(ROWS)
    original = copy.deepcopy((questions, annotations, results))
    evaluation = evaluate_vqa(questions, annotations, results)
    assert (questions, annotations, results) == original  # inputs untouched
    assert list(evaluation.per_question) == [10, 11, 12, 13, 14, 15]
    assert list(evaluation.per_question.values()) == pytest.approx([1.0, 0.0, 0.3, 0.6, 0.9, 0.0], abs=1e-12)
    assert evaluation.overall == 46.67  # 2.8 / 6
    assert evaluation.per_answer_type == {"yes/no": 50.0, "number": 45.0, "other": 45.0}
    assert evaluation.per_question_type == {"is the": 50.0, "how many": 45.0, "what color is the": 45.0}
    assert evaluation.answer_type_counts == {"yes/no": 2, "number": 2, "other": 2}
    assert evaluation.num_questions == 6
    report = evaluation.to_dict()
    assert report["per_question"][2] == {"question_id": 12, "accuracy": evaluation.per_question[12]}
    assert json.loads(json.dumps(report)) == report


def test_rounding_to_two_decimals() -> None:
    rows = [("what", "other", ["red"] * 3 + ["blue"] * 7, "red")] * 2 + [("what", "other", ["red"] * 10, "red")]
    evaluation = evaluate_vqa(*vqa_files(rows))
    assert evaluation.overall == 93.33  # (0.9 + 0.9 + 1) / 3 = 0.9333...
    assert evaluation.per_question_type == {"what": 93.33}


def test_repeated_answer_records_leave_together() -> None:
    # The official code leaves out every record equal to the held-out one: without answer ids,
    # ten {"answer": "yes"} records leave together and nothing is left to match.
    evaluation = evaluate_vqa(*vqa_files([("is", "yes/no", [{"answer": "yes"}] * 10, "yes")]))
    assert evaluation.per_question[10] == 0.0
    # "Yes"/"yes" records become equal once normalized: 4 equal "yes" records (held out: 0 matches)
    # and 6 numbered "no" records (held out: 4 matches) -> 6 / 10.
    records = [{"answer": "Yes"}] * 2 + [{"answer": "yes"}] * 2
    records += [{"answer": "no", "answer_id": k} for k in range(6)]
    evaluation = evaluate_vqa(*vqa_files([("is", "yes/no", records, "yes")]))
    assert evaluation.per_question[10] == pytest.approx(0.6, abs=1e-12)
    assert question_accuracy("yes", [r["answer"] for r in records]) == 1.0


def test_reads_files(tmp_path: Path) -> None:
    paths = []
    for name, data in zip(("q.json", "a.json", "r.json"), vqa_files(ROWS)):
        paths.append(tmp_path / name)
        paths[-1].write_text(json.dumps(data))
    assert evaluate_vqa(*paths).overall == 46.67


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda r: r.pop(), r"r\.json: no answer for 1 question\(s\) of \S*a\.json: question_id 15$"),
        (
            lambda r: r.append({"question_id": 99, "answer": "x"}),
            r"r\.json: 1 question_id\(s\) not annotated in \S*a\.json: 99$",
        ),
        (lambda r: r.append({"question_id": 12, "answer": "x"}), r"more than one answer for question_id 12$"),
        (lambda r: r[1].update(question_id="11"), r"entries at index 1 need an integer 'question_id'"),
        (lambda r: r[0].update(question_id=True), r"entries at index 0 need"),
        (lambda r: r[3].update(answer=None), r"entries at index 3 need .* a string 'answer'"),
    ],
    ids=["missing", "extra", "duplicate", "string-id", "bool-id", "null-answer"],
)
def test_results_must_cover_exactly_the_annotated_questions(tmp_path: Path, change: Any, message: str) -> None:
    questions, annotations, results = vqa_files(ROWS)
    change(results)
    paths = []
    for name, data in zip(("q.json", "a.json", "r.json"), (questions, annotations, results)):
        paths.append(tmp_path / name)
        paths[-1].write_text(json.dumps(data))
    with pytest.raises(DataFormatError, match=message) as error:
        evaluate_vqa(*paths)
    assert "\n" not in str(error.value)


def test_many_missing_ids_are_summarised() -> None:
    questions, annotations, _ = vqa_files(ROWS)
    with pytest.raises(DataFormatError, match=r"no answer for 6 question\(s\).*10, 11, 12, 13, 14 \(\+1 more\)$"):
        evaluate_vqa(questions, annotations, [])
    with pytest.raises(DataFormatError, match="expected a JSON list"):
        evaluate_vqa(questions, annotations, {"question_id": 10, "answer": "yes"})


def test_malformed_annotations_and_questions() -> None:
    questions, annotations, results = vqa_files(ROWS)
    with pytest.raises(DataFormatError, match="missing key.*'annotations'"):
        evaluate_vqa(questions, {"questions": []}, results)
    broken = copy.deepcopy(annotations)
    del broken["annotations"][2]["answer_type"]
    with pytest.raises(DataFormatError, match=r"annotations\[2\] needs"):
        evaluate_vqa(questions, broken, results)
    broken = copy.deepcopy(annotations)
    broken["annotations"][1]["answers"] = []
    with pytest.raises(DataFormatError, match=r"annotations\[1\] \(question_id 11\) needs a non-empty 'answers'"):
        evaluate_vqa(questions, broken, results)
    broken = copy.deepcopy(annotations)
    broken["annotations"].append(copy.deepcopy(broken["annotations"][0]))
    with pytest.raises(DataFormatError, match="more than one annotation for question_id 10"):
        evaluate_vqa(questions, broken, results)
    other_split = {"questions": questions["questions"][:4]}
    with pytest.raises(DataFormatError, match=r"no question for 2 question_id\(s\).*14, 15"):
        evaluate_vqa(other_split, annotations, results)


def test_multiple_choice_answers_must_be_choices() -> None:
    questions, annotations, results = vqa_files(ROWS[:2])
    questions["task_type"] = "Multiple Choice"
    for question in questions["questions"]:
        question["multiple_choices"] = ["yes", "no"]
    assert evaluate_vqa(questions, annotations, results).overall == 50.0
    results[1]["answer"] = "maybe"
    with pytest.raises(DataFormatError, match="not one of the multiple choices for question_id 11"):
        evaluate_vqa(questions, annotations, results)


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    questions, annotations, _ = vqa_files(ROWS)
    with pytest.raises(InputError, match="nope.json: no such file"):
        evaluate_vqa(questions, annotations, tmp_path / "nope.json")
