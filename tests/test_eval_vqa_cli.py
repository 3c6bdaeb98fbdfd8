"""``mmrnn eval vqa``: tables and JSON output, and exit 2 with one line for every bad input file."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from apps.cli import main

# (question_type, answer_type, 10 human answers, prediction) -> accuracy
ROWS = [
    ("is the", "yes/no", ["yes"] * 10, "yes"),  # 1.0
    ("is the", "yes/no", ["yes"] * 10, "Yes"),  # 0.0: identical answers are compared raw
    ("how many", "number", ["2"] + ["3"] * 9, "two"),  # 0.3
    ("what color is the", "other", ["red"] * 3 + ["blue"] * 7, "red"),  # 0.9
]


def write_files(tmp_path: Path, results: list[Any] | None = None) -> tuple[Path, Path, Path]:
    questions = {
        "info": {}, "task_type": "Open-Ended", "data_type": "mscoco", "data_subtype": "val2014", "license": {},
        "questions": [{"image_id": 7, "question": "?", "question_id": 70 + i} for i in range(len(ROWS))],
    }
    annotations = {
        "info": {}, "license": {}, "data_subtype": "val2014",
        "annotations": [
            {
                "question_id": 70 + i, "image_id": 7, "question_type": question_type, "answer_type": answer_type,
                "multiple_choice_answer": answers[-1],
                "answers": [
                    {"answer": a, "answer_confidence": "yes", "answer_id": k + 1} for k, a in enumerate(answers)
                ],
            }
            for i, (question_type, answer_type, answers, _) in enumerate(ROWS)
        ],
    }
    if results is None:
        results = [{"question_id": 70 + i, "answer": row[3]} for i, row in enumerate(ROWS)]
    paths = (tmp_path / "questions.json", tmp_path / "annotations.json", tmp_path / "results.json")
    for path, data in zip(paths, (questions, annotations, results)):
        path.write_text(json.dumps(data))
    return paths


def run_eval(capsys: pytest.CaptureFixture[str], paths: tuple[Path, Path, Path], *extra: str) -> tuple[int, str, str]:
    questions, annotations, results = paths
    status = main(
        ["eval", "vqa", "--questions", str(questions), "--annotations", str(annotations), "--results", str(results)]
        + list(extra)
    )
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_tables_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "reports" / "vqa.json"
    status, stdout, stderr = run_eval(capsys, write_files(tmp_path), "--out", str(out))
    assert status == 0, stderr
    lines = stdout.splitlines()
    assert lines[0] == "overall accuracy  55.00  (4 questions)"  # (1 + 0 + 0.3 + 0.9) / 4
    assert [line.split() for line in lines[2:6]] == [
        ["answer", "type", "accuracy", "questions"],
        ["number", "30.00", "1"],
        ["other", "90.00", "1"],
        ["yes/no", "50.00", "2"],
    ]
    assert [line.split() for line in lines[7:]] == [
        ["question", "type", "accuracy", "questions"],
        ["how", "many", "30.00", "1"],
        ["is", "the", "50.00", "2"],
        ["what", "color", "is", "the", "90.00", "1"],
    ]
    report = json.loads(out.read_text())
    assert report["overall"] == 55.0 and report["num_questions"] == 4
    assert report["per_answer_type"] == {"number": 30.0, "other": 90.0, "yes/no": 50.0}
    assert [row["question_id"] for row in report["per_question"]] == [70, 71, 72, 73]
    assert [row["accuracy"] for row in report["per_question"]] == pytest.approx([1.0, 0.0, 0.3, 0.9], abs=1e-12)


@pytest.mark.parametrize(
    "results, message",
    [
        (
            [{"question_id": 70, "answer": "yes"}],
            r"no answer for 3 question\(s\) of \S+annotations\.json: question_id 71, 72, 73",
        ),
        (
            [{"question_id": 70 + i, "answer": "x"} for i in range(4)] + [{"question_id": 5, "answer": "x"}],
            r"1 question_id\(s\) not annotated in \S+annotations\.json: 5",
        ),
        ([{"question_id": 70 + i, "answer": "x"} for i in (0, 1, 2, 3, 2)], "more than one answer for question_id 72"),
        ([{"question_id": 70 + i, "answer": i} for i in range(4)], r"entries at index 0, 1, 2, 3 need"),
    ],
    ids=["missing", "extra", "duplicate", "malformed-entry"],
)
def test_bad_results_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], results: list[Any], message: str
) -> None:
    status, stdout, stderr = run_eval(capsys, write_files(tmp_path, results))
    assert status == 2 and stdout == ""
    assert stderr.startswith(f"mmrnn: error: {tmp_path / 'results.json'}: ") and stderr.count("\n") == 1
    assert re.search(message, stderr), stderr


def test_malformed_json_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = write_files(tmp_path)
    paths[1].write_text('{"annotations": [')
    status, stdout, stderr = run_eval(capsys, paths)
    assert status == 2 and stdout == ""
    assert stderr.startswith(f"mmrnn: error: {paths[1]}: malformed JSON at line 1") and stderr.count("\n") == 1


def test_missing_questions_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = write_files(tmp_path)
    missing = tmp_path / "nope.json"
    status, stdout, stderr = run_eval(capsys, (missing, paths[1], paths[2]))
    assert (status, stdout, stderr) == (2, "", f"mmrnn: error: {missing}: no such file\n")
