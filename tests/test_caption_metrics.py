"""Caption metrics against pycocoevalcap's own scorers (Bleu(4), Rouge, Cider, Meteor) on the same input.

pycocoevalcap quirks found while writing these tests (and what we do instead):

* every scorer asserts when an image has no reference (we raise InputError);
* Bleu and Rouge of an empty corpus give 0 and nan, Cider raises ValueError (we raise InputError);
* Cider raises ValueError (``max()`` of an empty sequence) when every reference of the corpus is
  an empty string; we score 0 there, which is what its formula gives;
* an empty candidate scores 0 for BLEU (the brevity penalty underflows), ROUGE-L and CIDEr;
* the CIDEr length penalty counts bigrams, so an empty and a one-word caption have length 0;
* with a single image CIDEr is 0 whatever the captions, since every idf is log(1) - log(1).
"""

from __future__ import annotations

import os
import random
import shutil
import stat
import time
from pathlib import Path

import pytest

from multimodal_rnn.errors import DataFormatError, InputError
from multimodal_rnn.metrics.bleu import bleu_score
from multimodal_rnn.metrics.caption import CAPTION_METRICS, caption_metrics, score_captions
from multimodal_rnn.metrics.cider import CiderD, cider_d_score
from multimodal_rnn.metrics.corpus import MetricScore, MetricUnavailable
from multimodal_rnn.metrics.meteor import meteor_score
from multimodal_rnn.metrics.rouge import lcs_length, rouge_l_score
from multimodal_rnn.tasks.caption.evaluation import evaluate_captions

bleu_module = pytest.importorskip("pycocoevalcap.bleu.bleu")
cider_module = pytest.importorskip("pycocoevalcap.cider.cider")
rouge_module = pytest.importorskip("pycocoevalcap.rouge.rouge")

TOLERANCE = 1e-9
WORDS = ["a", "dog", "cat", "man", "on", "the", "red", "ball", "runs", "with", "grass", "two"]


def random_corpus(seed: int, num_images: int = 100, num_refs: int = 5) -> tuple[dict[int, list[str]], dict[int, str]]:
    rng = random.Random(seed)

    def sentence() -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 14)))

    references = {i: [sentence() for _ in range(num_refs)] for i in range(num_images)}
    candidates = {i: sentence() for i in range(num_images)}
    # Some candidates copy a reference so that high-order matches and perfect scores occur.
    for i in range(0, num_images, 7):
        candidates[i] = references[i][rng.randrange(num_refs)]
    return references, candidates


EDGE_CASES = {
    "empty candidate": (
        {1: ["a dog runs on the grass", "a dog"], 2: ["the man with a red ball"], 3: ["two cats"]},
        {1: "", 2: "the man with a ball", 3: "two cats"},
    ),
    "one reference each": (
        {1: ["a dog runs"], 2: ["a man with a red ball on the grass"], 3: ["two cats on the grass"]},
        {1: "a dog runs", 2: "a man with a ball", 3: "cats"},
    ),
    "repeated words": (
        {1: ["a dog runs with a dog", "the dog"], 2: ["a man", "a red ball"], 3: ["two two cats"]},
        {1: "dog dog dog dog a a a", 2: "a a a a a a", 3: "two two two two"},
    ),
    "identical candidate and reference": (
        {1: ["a dog runs on the grass"], 2: ["a man with a red ball", "a man"], 3: ["two cats", "two red cats"]},
        {1: "a dog runs on the grass", 2: "a man with a red ball", 3: "two red cats"},
    ),
    "very long candidate": (
        {1: ["a dog runs on the grass", "the dog runs"], 2: ["a man with a red ball"], 3: ["two cats"]},
        {1: " ".join(["a dog runs on the grass"] * 40), 2: "a man with a red ball " * 3, 3: "two cats"},
    ),
    "one-word captions and references": (
        {1: ["dog", "a dog"], 2: ["man"], 3: ["cats", "two cats on the grass"]},
        {1: "dog", 2: "a", 3: "cats"},
    ),
    "closest-length tie": (
        {1: ["a dog runs", "a dog runs on grass"], 2: ["a man with a red ball"], 3: ["two cats"]},
        {1: "a dog runs fast", 2: "a man with ball", 3: "two cats sleep"},
    ),
    "empty reference": (
        {1: ["", "a dog runs"], 2: ["a man with a red ball"], 3: ["two cats"]},
        {1: "a dog", 2: "", 3: "two cats"},
    ),
    "single image": ({7: ["a dog runs on the grass", "a dog"]}, {7: "a dog runs on the grass"}),
}


def official(references: dict, candidates: dict) -> dict[str, tuple[float, list[float]]]:
    """pycocoevalcap's BLEU-1..4, ROUGE-L and CIDEr: name -> (corpus, per-image in key order)."""
    gts = {i: list(refs) for i, refs in references.items()}
    res = {i: [candidates[i]] for i in references}
    bleu, bleu_images = bleu_module.Bleu(4).compute_score(gts, res, verbose=0)
    rouge, rouge_images = rouge_module.Rouge().compute_score(gts, res)
    cider, cider_images = cider_module.Cider().compute_score(gts, res)
    scores = {f"Bleu_{k + 1}": (bleu[k], list(bleu_images[k])) for k in range(4)}
    scores["ROUGE_L"] = (float(rouge), list(rouge_images))
    scores["CIDEr"] = (float(cider), list(cider_images))
    return scores


def ours(references: dict, candidates: dict) -> dict[str, MetricScore]:
    scores = {s.name: s for s in bleu_score(references, candidates)}
    scores["ROUGE_L"] = rouge_l_score(references, candidates)
    scores["CIDEr"] = cider_d_score(references, candidates)
    return scores


def max_differences(references: dict, candidates: dict) -> dict[str, float]:
    expected = official(references, candidates)
    got = ours(references, candidates)
    differences = {}
    for name, (corpus, per_image) in expected.items():
        image_differences = [abs(got[name].per_image[i] - value) for i, value in zip(references, per_image)]
        differences[name] = max([abs(got[name].value - corpus), *image_differences])
    return differences


def test_random_corpus_matches_pycocoevalcap() -> None:
    references, candidates = random_corpus(seed=0)
    differences = max_differences(references, candidates)
    assert set(differences) == {"Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "ROUGE_L", "CIDEr"}
    assert max(differences.values()) < TOLERANCE, differences
    scores = ours(references, candidates)
    assert 0 < scores["Bleu_4"].value < scores["Bleu_1"].value < 1
    assert 0 < scores["CIDEr"].value


def test_single_reference_random_corpus_matches_pycocoevalcap() -> None:
    references, candidates = random_corpus(seed=1, num_images=30, num_refs=1)
    assert max(max_differences(references, candidates).values()) < TOLERANCE


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_edge_cases_match_pycocoevalcap(case: str) -> None:
    references, candidates = EDGE_CASES[case]
    differences = max_differences(references, candidates)
    assert max(differences.values()) < TOLERANCE, differences


def test_edge_case_values() -> None:
    empty = ours(*EDGE_CASES["empty candidate"])
    assert all(empty[name].per_image[1] == 0.0 for name in ("Bleu_1", "ROUGE_L", "CIDEr"))
    identical = ours(*EDGE_CASES["identical candidate and reference"])
    assert identical["ROUGE_L"].per_image[1] == pytest.approx(1.0)
    assert identical["Bleu_4"].per_image[1] == pytest.approx(1.0)
    single = ours(*EDGE_CASES["single image"])
    assert single["CIDEr"].value == 0.0  # N = 1: every idf is 0
    assert single["Bleu_1"].value == pytest.approx(1.0)


def test_bleu_closest_length_tie_takes_the_shorter_reference() -> None:
    # Candidate of 4 tokens, references of 3 and 5 tokens: the effective length is 3, so no
    # brevity penalty; BLEU-1 is the clipped unigram precision 3/4.
    scores = bleu_score({1: ["a dog runs", "a dog runs on grass"]}, {1: "a dog runs fast"})
    assert scores[0].per_image[1] == pytest.approx(3 / 4)
    # With references of 5 and 3 tokens in the other order the result is the same.
    swapped = bleu_score({1: ["a dog runs on grass", "a dog runs"]}, {1: "a dog runs fast"})
    assert swapped[0].per_image[1] == scores[0].per_image[1]


def test_lcs_matches_the_dynamic_programme() -> None:
    rng = random.Random(3)
    for _ in range(300):
        first = [rng.choice("abcd") for _ in range(rng.randint(0, 12))]
        second = [rng.choice("abcd") for _ in range(rng.randint(0, 12))]
        assert lcs_length(first, second) == rouge_module.my_lcs(first, second)
    assert lcs_length([], ["a"]) == 0
    assert lcs_length(["a", "b", "c", "b"], ["b", "c", "b"]) == 3


def test_pycocoevalcap_cider_crashes_on_all_empty_references_we_score_zero() -> None:
    references = {1: [""], 2: [""]}
    candidates = {1: "a dog", 2: ""}
    with pytest.raises(ValueError):
        cider_module.Cider().compute_score(references, {i: [c] for i, c in candidates.items()})
    assert cider_d_score(references, candidates).per_image == {1: 0.0, 2: 0.0}


@pytest.mark.parametrize(
    "references, candidates, message",
    [
        ({1: []}, {1: "a dog"}, "image 1: no reference captions"),
        ({1: ["a"], 2: ["b"]}, {1: "a"}, "without a candidate: 2"),
        ({1: ["a"]}, {1: "a", 3: "b"}, "without references: 3"),
        ({}, {}, "candidate set is empty"),
        ({1: "a dog"}, {1: "a dog"}, "list of strings"),
        ({1: ["a"]}, {1: None}, "not a string"),
    ],
)
def test_unscorable_corpus_is_refused(references: dict, candidates: dict, message: str) -> None:
    for metric in (bleu_score, rouge_l_score, cider_d_score):
        with pytest.raises(InputError, match=message):
            metric(references, candidates)


def test_ciderd_with_corpus_frequencies_matches_pycocoevalcap_on_the_full_corpus() -> None:
    # pycocoevalcap takes df from the images it scores; scoring a subset of them with
    # CiderD(all references) must give the same per-image numbers.
    references, candidates = random_corpus(seed=2, num_images=40)
    _, per_image = official(references, candidates)["CIDEr"]
    expected = dict(zip(references, per_image))
    subset = [3, 10, 11, 29]
    scorer = CiderD(references)
    got = scorer.score({i: candidates[i] for i in subset}, {i: references[i] for i in subset})
    assert max(abs(got[i] - expected[i]) for i in subset) < TOLERANCE
    assert scorer.num_images == 40


def test_ciderd_batch_with_several_samples_per_image() -> None:
    references, candidates = random_corpus(seed=4, num_images=10)
    scorer = CiderD(list(references.values()))
    samples = [candidates[i] for i in range(10) for _ in range(3)]
    reference_lists = [references[i] for i in range(10) for _ in range(3)]
    samples[1] = "a dog"
    batch = scorer.score_batch(samples, reference_lists)
    single = scorer.score(candidates, references)
    assert len(batch) == 30
    assert batch[0] == batch[2] == pytest.approx(single[0])
    assert batch[1] == pytest.approx(scorer.score({0: "a dog"}, {0: references[0]})[0])
    with pytest.raises(InputError, match="2 candidates but 1 reference lists"):
        scorer.score_batch(["a", "b"], [["a"]])
    with pytest.raises(InputError, match="non-empty list"):
        scorer.score_batch(["a"], [[]])


def test_ciderd_ngrams_outside_the_corpus_get_idf_log_n() -> None:
    # Corpus of 2 images without the words x and y: every n-gram of "x y" has idf log 2, the
    # candidate equals its reference, so orders 1 and 2 have cosine 1 and orders 3 and 4 have
    # no n-grams: 10 * (1 + 1 + 0 + 0) / 4.
    scorer = CiderD({1: ["a b"], 2: ["c d"]})
    assert scorer.score({9: "x y"}, {9: ["x y"]})[9] == pytest.approx(5.0)
    assert scorer.score({9: "a b"}, {9: ["a b"]})[9] == pytest.approx(5.0)
    with pytest.raises(InputError, match="no reference captions"):
        CiderD({})


def test_score_captions_tokenizes_both_sides() -> None:
    references = {1: ["A dog runs.", "The dog"], 2: ["A man, with a ball!"]}
    candidates = {1: "A DOG runs", 2: "a man with the ball."}

    def tokenize(text: str) -> list[str]:
        return text.lower().replace(".", " ").replace(",", " ").replace("!", " ").split()

    raw = score_captions(references, candidates, meteor=False, tokenize=tokenize)
    tokenized = caption_metrics(
        {1: ["a dog runs", "the dog"], 2: ["a man with a ball"]},
        {1: "a dog runs", 2: "a man with the ball"},
        meteor=False,
    )
    assert list(raw) == list(CAPTION_METRICS)
    assert isinstance(raw["METEOR"], MetricUnavailable)
    for name in ("Bleu_4", "ROUGE_L", "CIDEr"):
        assert raw[name] == tokenized[name]


def coco_annotations(references: dict[int, list[str]]) -> dict:
    return {
        "info": {},
        "images": [{"id": i, "file_name": f"{i}.jpg", "height": 8, "width": 8} for i in references],
        "annotations": [
            {"id": 100 * i + k, "image_id": i, "caption": caption}
            for i, captions in references.items()
            for k, caption in enumerate(captions)
        ],
    }


def test_evaluate_captions_reports_every_metric() -> None:
    references, candidates = random_corpus(seed=5, num_images=12)
    results = [{"image_id": i, "caption": candidates[i]} for i in reversed(range(12))]
    report = evaluate_captions(results, coco_annotations(references), meteor=False, tokenize=str.split)
    expected = official(references, candidates)
    assert list(report["metrics"]) == list(CAPTION_METRICS)
    assert report["metrics"]["METEOR"] is None and "METEOR" in report["unavailable"]
    assert report["num_images"] == 12
    for name, (corpus, per_image) in expected.items():
        assert abs(report["metrics"][name] - corpus) < TOLERANCE
        assert max(abs(row[name] - v) for row, v in zip(report["per_image"], per_image)) < TOLERANCE
    assert [row["image_id"] for row in report["per_image"]] == list(range(12))


@pytest.mark.parametrize(
    "results, message",
    [
        ({"image_id": 1, "caption": "a"}, "expected a JSON list"),
        ([{"image_id": 1, "caption": "a"}, {"image_id": "2", "caption": "b"}], "entries at index 1 need an integer"),
        ([{"image_id": 1}, {"image_id": 2, "caption": 3}], "entries at index 0, 1 need"),
        ([{"image_id": 1, "caption": "a"}, {"image_id": 1, "caption": "b"}, {"image_id": 2, "caption": "b"}],
         "more than one caption for image_id 1"),
        ([{"image_id": 1, "caption": "a"}], "no caption for 1 image"),
        (
            [{"image_id": i, "caption": "a"} for i in (1, 2, 5, 6)],
            r"2 image_id\(s\) without reference captions .*: 5, 6",
        ),
    ],
)
def test_evaluate_captions_refuses_results_that_do_not_match(results: object, message: str) -> None:
    annotations = coco_annotations({1: ["a dog"], 2: ["a cat"]})
    with pytest.raises(DataFormatError, match=message):
        evaluate_captions(results, annotations, meteor=False, tokenize=str.split)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "annotations, message",
    [
        ({"images": []}, "missing key"),
        ({"annotations": {}}, "'annotations' is not a list"),
        ({"annotations": [{"image_id": 1, "caption": None}]}, r"annotations\[0\] needs"),
        ({"annotations": []}, "no caption annotations"),
    ],
)
def test_evaluate_captions_refuses_malformed_annotations(annotations: dict, message: str) -> None:
    with pytest.raises(DataFormatError, match=message):
        evaluate_captions([{"image_id": 1, "caption": "a"}], annotations, meteor=False, tokenize=str.split)


def _fake_java(directory: Path, body: str) -> str:
    script = directory / "java"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


@pytest.mark.skipif(os.name != "posix", reason="fake java is a shell script")
def test_meteor_unavailable_is_a_result_not_an_exception(tmp_path: Path) -> None:
    references = {1: ["a dog runs"], 2: ["a cat"]}
    candidates = {1: "a dog", 2: "a cat"}
    missing = meteor_score(references, candidates, java="no-such-java-here")
    assert isinstance(missing, MetricUnavailable) and "not found on PATH" in missing.reason
    failing = _fake_java(tmp_path, 'echo "Error: Unable to access jarfile" >&2\nexit 1')
    failed = meteor_score(references, candidates, java=failing)
    assert isinstance(failed, MetricUnavailable)
    assert failed.reason == "the METEOR jar failed: Error: Unable to access jarfile"
    hanging = _fake_java(tmp_path, "exec sleep 30")
    start = time.perf_counter()
    timed_out = meteor_score(references, candidates, java=hanging, timeout_s=0.5)
    assert isinstance(timed_out, MetricUnavailable) and "did not finish within 0.5 s" in timed_out.reason
    assert time.perf_counter() - start < 10


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("java") is None, reason="METEOR needs Java")
def test_meteor_matches_pycocoevalcap_numbers() -> None:
    # Numbers printed by pycocoevalcap.meteor.Meteor().compute_score on the same input.
    references = {
        1: ["a dog runs in the park", "a brown dog running"],
        2: ["a man rides a horse"],
        3: ["two cats sleep on a red sofa"],
    }
    candidates = {1: "a dog runs in a park", 2: "a man rides a horse", 3: ""}
    result = meteor_score(references, candidates)
    assert isinstance(result, MetricScore), result
    assert result.per_image[1] == pytest.approx(0.45876240259563655, abs=1e-9)
    assert result.per_image[2] == pytest.approx(1.0)
    assert result.per_image[3] == 0.0
    assert result.value == pytest.approx(0.34777366264208165, abs=1e-9)
    assert all(0.0 <= v <= 1.0 for v in result.per_image.values())
