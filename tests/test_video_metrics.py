"""Video metrics on examples computed by hand (multimodal_rnn/metrics/video.py)."""

from __future__ import annotations

import pytest

from multimodal_rnn.errors import InputError
from multimodal_rnn.metrics.video import (
    Segment,
    clip_metrics,
    confusion_figure,
    confusion_matrix,
    frame_accuracy,
    frame_metrics,
    per_class_accuracy,
    segment_counts,
    segmental_f1,
    segments,
    top_k_accuracy,
)

RANKED = [["a", "b", "c"], ["b", "a", "c"], ["c", "b", "a"], ["a", "b", "c"]]
LABELS = ["a", "a", "b", "c"]


def test_top_k_accuracy():
    assert top_k_accuracy(RANKED, LABELS, 1) == 0.25  # only clip 0
    assert top_k_accuracy(RANKED, LABELS, 2) == 0.75  # clips 0, 1, 2; clip 3 has c third
    assert top_k_accuracy(RANKED, LABELS, 3) == 1.0
    with pytest.raises(InputError, match="3 predictions for 4 true labels"):
        top_k_accuracy(RANKED[:3], LABELS)
    with pytest.raises(InputError, match="nothing to score"):
        top_k_accuracy([], [])


def test_per_class_accuracy_and_summary():
    predicted = [guesses[0] for guesses in RANKED]  # a, b, c, a
    assert per_class_accuracy(predicted, LABELS) == {"a": 0.5, "b": 0.0, "c": 0.0}
    scores = clip_metrics(RANKED, LABELS, subset=["a"])
    assert scores == {"top1": 0.25, "top5": 1.0, "mean_class_accuracy": 0.5 / 3, "top1_subset": 0.5}
    assert "top1_subset" not in clip_metrics(RANKED, LABELS, subset=["z"])


def test_confusion_matrix_and_its_picture():
    predicted = [guesses[0] for guesses in RANKED]
    matrix = confusion_matrix(predicted, LABELS, ["a", "b", "c"])
    assert matrix == [[1, 1, 0], [0, 0, 1], [1, 0, 0]]  # rows true a, b, c; columns predicted
    image = confusion_figure(matrix, ["a", "b", "c"], cell=20)
    assert image.mode == "RGB" and image.height == 24 + 3 * 20 + 8
    assert image.getpixel((image.width - 8 - 20 + 10, 24 + 2)) == (255, 255, 255)  # a predicted as c: none
    with pytest.raises(InputError, match="'d' is not one of the 3 classes"):
        confusion_matrix(["d"], ["a"], ["a", "b", "c"])


def test_frame_accuracy():
    assert frame_accuracy([["a", "a", "b"], ["c"]], [["a", "b", "b"], ["c"]]) == 3 / 4
    with pytest.raises(InputError, match="clip 0 has 2 predicted and 3 true frames"):
        frame_accuracy([["a", "a"]], [["a", "b", "b"]])


def test_segments_are_runs_of_labels():
    assert segments(["a", "a", "b", "b", "b", "a"]) == [Segment("a", 0, 2), Segment("b", 2, 5), Segment("a", 5, 6)]
    assert segments([]) == []


def test_segment_matching_by_hand():
    truth = ["a"] * 4 + ["b"] * 4  # a [0,4), b [4,8)
    predicted = ["a"] * 2 + ["b"] * 6  # a [0,2): IoU with a = 2/4; b [2,8): IoU with b = 4/6
    assert segment_counts(predicted, truth, 0.5) == segment_counts(predicted, truth, 0.1)
    assert segment_counts(predicted, truth, 0.5).tp == 2
    counts = segment_counts(predicted, truth, 0.6)  # a fails (0.5 < 0.6), b passes (0.667)
    assert (counts.tp, counts.fp, counts.fn) == (1, 1, 1)
    assert counts.f1 == 0.5  # P = R = 1/2
    # over-segmentation: a b a b inside a single "a" run; the second "a" cannot match the same truth segment
    split = segment_counts(["a", "a", "b", "a"], ["a", "a", "a", "a"], 0.1)
    assert (split.tp, split.fp, split.fn) == (1, 2, 0)


def test_segmental_f1_sums_counts_over_clips():
    predicted = [["a"] * 2 + ["b"] * 6, ["c"] * 4]
    truth = [["a"] * 4 + ["b"] * 4, ["d"] * 4]
    # at 0.6: clip 1 tp 1 fp 1 fn 1; clip 2 tp 0 fp 1 fn 1 -> P = 1/3, R = 1/3, F1 = 1/3
    scores = segmental_f1(predicted, truth, thresholds=(0.1, 0.6))
    assert scores[0.1] == pytest.approx(2 * (2 / 3) * (2 / 3) / (4 / 3))  # tp 2, fp 1, fn 1
    assert scores[0.6] == pytest.approx(1 / 3)
    assert frame_metrics(truth, truth) == {"frame_accuracy": 1.0, "F1@0.1": 1.0, "F1@0.25": 1.0, "F1@0.5": 1.0}
