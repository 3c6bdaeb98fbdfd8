"""``mmrnn eval dialog``: the metric table and JSON, and exit 2 with one line for every bad input file."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from apps.cli import main
from tests.test_dialog_data import visdial_file


def ranks_with(gt_index: int, rank: int) -> list[int]:
    """A permutation of 1..100 that gives option ``gt_index`` rank ``rank`` (others in index order)."""
    others = iter(r for r in range(1, 101) if r != rank)
    return [rank if i == gt_index else next(others) for i in range(100)]


def write_files(tmp_path: Path, submission: list[Any] | None = None) -> tuple[Path, Path, Path]:
    dialogs = visdial_file("val", dialogs=2)
    gt = {(5 + d, r + 1): entry["gt_index"]
          for d, dialog in enumerate(dialogs["data"]["dialogs"]) for r, entry in enumerate(dialog["dialog"])}
    if submission is None:  # ground-truth ranks 1, 2, ..., 10 in dialog 5 and 1 everywhere in dialog 6
        submission = [{"image_id": image_id, "round_id": round_id,
                       "ranks": ranks_with(gt_index, round_id if image_id == 5 else 1)}
                      for (image_id, round_id), gt_index in gt.items()]
    relevance = [0.0] * 100
    relevance[gt[(5, 2)]] = 1.0  # ranked 2nd with k = 1: NDCG 0
    other = [0.0] * 100
    other[gt[(6, 4)]], other[0] = 1.0, 0.5  # gt ranked 1st; option 0 ranked 2nd (it is not the gt): ideal
    dense = [{"image_id": 5, "round_id": 2, "gt_relevance": relevance},
             {"image_id": 6, "round_id": 4, "gt_relevance": other}]
    paths = (tmp_path / "visdial_val.json", tmp_path / "submission.json", tmp_path / "dense.json")
    for path, data in zip(paths, (dialogs, submission, dense)):
        path.write_text(json.dumps(data))
    return paths


def run_eval(capsys: pytest.CaptureFixture[str], paths: tuple[Path, ...], *extra: str,
             dense: bool = True) -> tuple[int, str, str]:
    argv = ["eval", "dialog", "--dialogs", str(paths[0]), "--results", str(paths[1])]
    if dense:
        argv += ["--dense", str(paths[2])]
    status = main(argv + list(extra))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "reports" / "dialog.json"
    status, stdout, stderr = run_eval(capsys, write_files(tmp_path), "--out", str(out))
    assert status == 0, stderr
    ranks = list(range(1, 11)) + [1] * 10
    mrr = sum(1 / r for r in ranks) / 20
    assert [line.split() for line in stdout.splitlines()] == [
        ["metric", "value"],
        ["R@1", "55.00"],  # 11 of 20
        ["R@5", "75.00"],  # 15 of 20
        ["R@10", "100.00"],
        ["Mean", "rank", f"{(55 + 10) / 20:.4f}"],
        ["MRR", f"{mrr:.4f}"],
        ["NDCG", f"{0.5:.4f}"],  # (0 + 1) / 2
        ["rounds", "20"],
        ["dense", "rounds", "2"],
    ]
    report = json.loads(out.read_text())
    assert report["num_rounds"] == 20 and report["num_dense_rounds"] == 2
    assert report["metrics"]["r@1"] == 0.55 and report["metrics"]["mrr"] == pytest.approx(mrr)
    assert report["per_round"][1] == {"image_id": 5, "round_id": 2, "gt_rank": 2, "ndcg": 0.0}
    assert report["per_round"][13] == {"image_id": 6, "round_id": 4, "gt_rank": 1, "ndcg": 1.0}
    assert math.isclose(report["metrics"]["mean_rank"], 3.25)


def test_without_dense_ndcg_is_not_available(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, stdout, _ = run_eval(capsys, write_files(tmp_path), dense=False)
    assert status == 0
    assert "NDCG          n/a (no --dense annotations)\n" in stdout


@pytest.mark.parametrize(
    "submission, message",
    [
        ([{"image_id": 9, "round_id": 1, "ranks": list(range(1, 101))}],
         r"submission\.json: image 9 round 1 is not a round of the dialogs"),
        ([{"image_id": 5, "round_id": 1, "ranks": list(range(1, 101))}],
         r"submission\.json: no ranks for the densely annotated image 5 round 2 \(2 dense rounds missing\)"),
        ([{"image_id": 5, "round_id": 2, "ranks": [1] * 100}],
         r"submission\.json: image 5 round 2: 'ranks' must be a permutation of 1\.\.100"),
        ({"image_id": 5}, r"submission\.json: expected a JSON list"),
    ],
    ids=["unknown-round", "dense-round-missing", "not-a-permutation", "not-a-list"],
)
def test_bad_submission_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], submission: Any, message: str
) -> None:
    status, stdout, stderr = run_eval(capsys, write_files(tmp_path, submission))
    assert status == 2 and stdout == ""
    assert stderr.startswith("mmrnn: error: ") and stderr.count("\n") == 1
    assert re.search(message, stderr), stderr


def test_malformed_dialogs_exit_2_naming_dialog_and_round(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = write_files(tmp_path)
    dialogs = json.loads(paths[0].read_text())
    del dialogs["data"]["dialogs"][1]["dialog"][4]["gt_index"]
    paths[0].write_text(json.dumps(dialogs))
    status, stdout, stderr = run_eval(capsys, paths)
    assert status == 2 and stdout == ""
    assert stderr == (f"mmrnn: error: {paths[0]}: dialog of image 6, round 5: missing 'gt_index' "
                      "(only the last round of a test dialog may lack it)\n")


def test_dense_round_outside_the_dialogs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = write_files(tmp_path)
    paths[2].write_text(json.dumps([{"image_id": 5, "round_id": 11, "gt_relevance": [1.0] * 100}]))
    status, _, stderr = run_eval(capsys, paths)
    assert status == 2
    assert stderr == f"mmrnn: error: {paths[2]}: dialog of image 5, round 11: not a round of the dialogs\n"
