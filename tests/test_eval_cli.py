"""``mmrnn eval caption``: table and JSON output, and one-line errors for every bad input file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apps.cli import main

CAPTIONS = {
    1: ["A dog runs on the grass.", "A brown dog running outside!", "The dog is running."],
    2: ["A man, riding a horse.", "Someone rides a brown horse on a beach."],
    3: ["Two cats sleep on a red sofa.", "Cats sleeping on a couch."],
}
PREDICTIONS = {1: "A dog is running on grass.", 2: "A man rides a horse.", 3: "Two cats on a sofa"}


def write_files(tmp_path: Path, predictions: dict[int, str] = PREDICTIONS) -> tuple[Path, Path]:
    annotations = {
        "info": {},
        "licenses": [],
        "images": [{"id": i, "file_name": f"{i:012d}.jpg", "height": 8, "width": 8} for i in CAPTIONS],
        "annotations": [
            {"id": 10 * i + k, "image_id": i, "caption": c} for i, cs in CAPTIONS.items() for k, c in enumerate(cs)
        ],
    }
    annotations_path = tmp_path / "captions_val.json"
    annotations_path.write_text(json.dumps(annotations))
    results_path = tmp_path / "results.json"
    results_path.write_text(json.dumps([{"image_id": i, "caption": c} for i, c in predictions.items()]))
    return results_path, annotations_path


def run_eval(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["eval", "caption", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_table_and_json_match_pycocoevalcap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vocab = pytest.importorskip("multimodal_rnn.text.vocab")
    bleu = pytest.importorskip("pycocoevalcap.bleu.bleu")
    cider = pytest.importorskip("pycocoevalcap.cider.cider")
    rouge = pytest.importorskip("pycocoevalcap.rouge.rouge")
    results, annotations = write_files(tmp_path)
    out = tmp_path / "reports" / "metrics.json"
    status, stdout, stderr = run_eval(
        capsys, "--results", str(results), "--annotations", str(annotations), "--out", str(out), "--no-meteor"
    )
    assert status == 0, stderr
    lines = stdout.splitlines()
    assert lines[0].split() == ["metric", "value"]
    assert [line.split()[0] for line in lines[1:]] == [
        "Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr", "images"
    ]
    assert "n/a (not requested)" in lines[5]
    assert lines[-1].split() == ["images", "3"]

    report = json.loads(out.read_text())
    assert report["num_images"] == 3 and report["metrics"]["METEOR"] is None
    gts = {i: [" ".join(vocab.tokenize(c)) for c in cs] for i, cs in CAPTIONS.items()}
    res = {i: [" ".join(vocab.tokenize(c))] for i, c in PREDICTIONS.items()}
    bleu_scores, _ = bleu.Bleu(4).compute_score(gts, res, verbose=0)
    expected = {f"Bleu_{k + 1}": bleu_scores[k] for k in range(4)}
    expected["ROUGE_L"] = float(rouge.Rouge().compute_score(gts, res)[0])
    expected["CIDEr"] = float(cider.Cider().compute_score(gts, res)[0])
    for name, value in expected.items():
        assert report["metrics"][name] == pytest.approx(value, abs=1e-9)
        assert f"{value:.4f}" in stdout
    assert [row["image_id"] for row in report["per_image"]] == [1, 2, 3]


def test_missing_results_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, annotations = write_files(tmp_path)
    missing = tmp_path / "nope.json"
    status, stdout, stderr = run_eval(capsys, "--results", str(missing), "--annotations", str(annotations))
    assert status == 2 and stdout == ""
    assert stderr == f"mmrnn: error: {missing}: no such file\n"


def test_malformed_annotations_json_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results, annotations = write_files(tmp_path)
    annotations.write_text('{"annotations": [')
    status, _, stderr = run_eval(capsys, "--results", str(results), "--annotations", str(annotations))
    assert status == 2
    assert stderr.startswith(f"mmrnn: error: {annotations}: malformed JSON") and stderr.count("\n") == 1


@pytest.mark.parametrize(
    "results_text, message",
    [
        ('{"image_id": 1}', "expected a JSON list"),
        ('[{"image_id": 1, "caption": "a"}, {"image_id": 1, "caption": "b"}]', "more than one caption for image_id 1"),
        ('[{"image_id": 1, "caption": "a"}]', "no caption for 2 image(s) of {annotations}: image_id 2, 3"),
        (
            '[{"image_id": 1, "caption": "a"}, {"image_id": 2, "caption": "a"}, {"image_id": 3, "caption": "a"},'
            ' {"image_id": 42, "caption": "a"}]',
            "1 image_id(s) without reference captions in {annotations}: 42",
        ),
        ('[{"image_id": 1, "caption": ["a"]}]', "entries at index 0 need an integer 'image_id' and a string 'caption'"),
    ],
)
def test_results_that_do_not_match_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], results_text: str, message: str
) -> None:
    results, annotations = write_files(tmp_path)
    results.write_text(results_text)
    status, stdout, stderr = run_eval(capsys, "--results", str(results), "--annotations", str(annotations))
    assert status == 2 and stdout == ""
    assert stderr.startswith(f"mmrnn: error: {results}: ")
    assert message.format(annotations=annotations) in stderr and stderr.count("\n") == 1


def test_unwritable_out_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("multimodal_rnn.text.vocab")
    results, annotations = write_files(tmp_path)
    out = tmp_path / "a_directory"
    out.mkdir()
    status, _, stderr = run_eval(
        capsys, "--results", str(results), "--annotations", str(annotations), "--out", str(out), "--no-meteor"
    )
    assert status == 2
    assert stderr.startswith(f"mmrnn: error: {out}: cannot write") and stderr.count("\n") == 1


def test_eval_needs_a_task_and_the_caption_task_needs_both_files(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as no_task:
        main(["eval"])
    assert no_task.value.code == 2
    with pytest.raises(SystemExit) as no_annotations:
        main(["eval", "caption", "--results", "r.json"])
    assert no_annotations.value.code == 2
    assert "--annotations" in capsys.readouterr().err


def test_nltk_corpus_bleu_is_reported_next_to_coco_bleu(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nltk.translate.bleu_score import corpus_bleu

    from multimodal_rnn.text.vocab import tokenize

    predictions = {1: "A dog is running on the grass.", 2: "A man rides a brown horse.", 3: "Two cats sleep on a sofa."}
    results, annotations = write_files(tmp_path, predictions)
    out = tmp_path / "metrics.json"
    status, stdout, stderr = run_eval(
        capsys, "--results", str(results), "--annotations", str(annotations), "--out", str(out), "--no-meteor"
    )
    assert status == 0, stderr
    expected = corpus_bleu([[tokenize(c) for c in CAPTIONS[i]] for i in CAPTIONS], [tokenize(predictions[i]) for i in CAPTIONS])
    assert expected > 0.1  # every n-gram order matches somewhere
    report = json.loads(out.read_text())
    assert report["nltk_corpus_bleu_4"] == pytest.approx(expected, abs=1e-12)
    bleu_4 = next(line for line in stdout.splitlines() if line.startswith("Bleu_4"))
    assert f"{report['metrics']['Bleu_4']:.4f}" in bleu_4 and f"NLTK corpus_bleu BLEU-4: {expected:.4f}" in bleu_4
