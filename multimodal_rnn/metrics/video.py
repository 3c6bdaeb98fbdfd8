"""Video metrics as pure functions over plain Python data: clip classification and frame labeling.

Clip classification (action recognition): top-k accuracy over ranked predictions, accuracy per
class, the confusion matrix (rows: true class, columns: predicted class) and a picture of it.

Frame labeling: per-frame accuracy over every frame of every clip, and the segmental F1 score
F1@k of action segmentation (Lea et al. 2017, as computed by MS-TCN, Farha & Gall 2019): a clip's
labels are cut into segments (maximal runs of one label); a predicted segment is a true positive
when its intersection over union with a ground-truth segment of the same label is at least k and
that ground-truth segment has not been matched yet (each predicted segment is compared with the
ground-truth segment of highest IoU only); every other predicted segment is a false positive,
every unmatched ground-truth segment a false negative. The counts are summed over all clips
before precision, recall and F1 are computed.

Every score is a fraction in [0, 1]. Lists that do not match (lengths, an empty set) are an
:class:`~multimodal_rnn.errors.InputError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from multimodal_rnn.errors import InputError

F1_THRESHOLDS = (0.1, 0.25, 0.5)
"""The IoU thresholds of the F1@k scores action segmentation reports."""


def _check_pairs(what: str, predicted: Sequence[object], truth: Sequence[object]) -> None:
    if len(predicted) != len(truth):
        raise InputError(f"{what}: {len(predicted)} predictions for {len(truth)} true labels")
    if not truth:
        raise InputError(f"{what}: nothing to score")


def top_k_accuracy(ranked: Sequence[Sequence[str]], labels: Sequence[str], k: int = 1) -> float:
    """The fraction of clips whose true label is among the first ``k`` of its ranked predictions."""
    _check_pairs("top-k accuracy", ranked, labels)
    if k < 1:
        raise InputError(f"top-k accuracy: k must be at least 1, got {k}")
    return sum(1 for guesses, label in zip(ranked, labels) if label in guesses[:k]) / len(labels)


def per_class_accuracy(predicted: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    """Accuracy (recall) of every true class: {class: correct / clips of that class}, classes sorted."""
    _check_pairs("per-class accuracy", predicted, labels)
    totals: dict[str, list[int]] = {}
    for guess, label in zip(predicted, labels):
        counts = totals.setdefault(label, [0, 0])
        counts[0] += guess == label
        counts[1] += 1
    return {label: correct / count for label, (correct, count) in sorted(totals.items())}


def confusion_matrix(predicted: Sequence[str], labels: Sequence[str], classes: Sequence[str]) -> list[list[int]]:
    """``matrix[i][j]``: clips of true class ``classes[i]`` predicted as ``classes[j]``.

    Raises:
        InputError: a label or prediction that is not one of ``classes``.
    """
    _check_pairs("confusion matrix", predicted, labels)
    index = {name: i for i, name in enumerate(classes)}
    matrix = [[0] * len(classes) for _ in classes]
    for guess, label in zip(predicted, labels):
        for name in (guess, label):
            if name not in index:
                raise InputError(f"confusion matrix: {name!r} is not one of the {len(classes)} classes")
        matrix[index[label]][index[guess]] += 1
    return matrix


def confusion_figure(matrix: Sequence[Sequence[int]], classes: Sequence[str], *, cell: int = 28) -> Image.Image:
    """The confusion matrix as an RGB picture: a row per true class, a column per predicted class,
    each cell shaded by its share of the row (white 0 to dark blue 1) with its count written in it;
    the class names down the left and, numbered, along the top (the row numbers say which)."""
    font = ImageFont.load_default()
    count = len(classes)
    names = [f"{i + 1} {name}" for i, name in enumerate(classes)]
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_width = max((int(probe.textlength(name, font=font)) for name in names), default=0) + 12
    top = 24
    image = Image.new("RGB", (label_width + count * cell + 8, top + count * cell + 8), "white")
    draw = ImageDraw.Draw(image)
    for i, name in enumerate(names):
        y = top + i * cell
        draw.text((4, y + cell // 2 - 5), name, fill="black", font=font)
        draw.text((label_width + i * cell + cell // 2 - 4, 6), str(i + 1), fill="black", font=font)
        total = sum(matrix[i]) or 1
        for j, value in enumerate(matrix[i]):
            share = value / total
            shade = (round(255 - 225 * share), round(255 - 185 * share), round(255 - 75 * share))
            x = label_width + j * cell
            draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=shade, outline=(200, 200, 200))
            if value:
                draw.text((x + 4, y + cell // 2 - 5), str(value), fill="white" if share > 0.5 else "black", font=font)
    return image


def frame_accuracy(predicted: Sequence[Sequence[str]], truth: Sequence[Sequence[str]]) -> float:
    """The fraction of frames, over all clips, whose predicted label is the true one.

    Raises:
        InputError: a clip whose prediction has another number of frames than its truth.
    """
    _check_pairs("frame accuracy", predicted, truth)
    correct = total = 0
    for index, (guesses, labels) in enumerate(zip(predicted, truth)):
        if len(guesses) != len(labels):
            raise InputError(f"frame accuracy: clip {index} has {len(guesses)} predicted and {len(labels)} true frames")
        correct += sum(1 for guess, label in zip(guesses, labels) if guess == label)
        total += len(labels)
    if not total:
        raise InputError("frame accuracy: no frames to score")
    return correct / total


@dataclass(frozen=True)
class Segment:
    """A maximal run of one label: frames ``start`` .. ``end - 1``."""

    label: str
    start: int
    end: int


def segments(labels: Sequence[str]) -> list[Segment]:
    """The segments of a label sequence, in order: ``["a", "a", "b"]`` -> a [0, 2), b [2, 3)."""
    found: list[Segment] = []
    start = 0
    for t in range(1, len(labels) + 1):
        if t == len(labels) or labels[t] != labels[start]:
            found.append(Segment(labels[start], start, t))
            start = t
    return found


@dataclass(frozen=True)
class SegmentCounts:
    """True positives, false positives and false negatives of the segments at one IoU threshold."""

    tp: int
    fp: int
    fn: int

    def __add__(self, other: SegmentCounts) -> SegmentCounts:
        return SegmentCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def f1(self) -> float:
        """2PR / (P + R) with P = tp / (tp + fp), R = tp / (tp + fn); 0 when tp is 0."""
        if not self.tp:
            return 0.0
        precision, recall = self.tp / (self.tp + self.fp), self.tp / (self.tp + self.fn)
        return 2 * precision * recall / (precision + recall)


def segment_counts(predicted: Sequence[str], truth: Sequence[str], threshold: float) -> SegmentCounts:
    """The segment matches of one clip at IoU ``threshold`` (see the module docstring)."""
    guessed, true = segments(predicted), segments(truth)
    hits = [False] * len(true)
    tp = fp = 0
    for segment in guessed:
        best, best_iou = -1, float("-inf")
        for index, reference in enumerate(true):
            iou = 0.0
            if reference.label == segment.label:
                overlap = min(segment.end, reference.end) - max(segment.start, reference.start)
                iou = overlap / (max(segment.end, reference.end) - min(segment.start, reference.start))
            if iou > best_iou:
                best, best_iou = index, iou
        if best >= 0 and best_iou >= threshold and not hits[best]:
            tp += 1
            hits[best] = True
        else:
            fp += 1
    return SegmentCounts(tp, fp, len(true) - sum(hits))


def segmental_f1(
    predicted: Sequence[Sequence[str]], truth: Sequence[Sequence[str]], thresholds: Sequence[float] = F1_THRESHOLDS
) -> dict[float, float]:
    """F1@k for every threshold k, from the segment counts summed over all clips."""
    _check_pairs("segmental F1", predicted, truth)
    scores: dict[float, float] = {}
    for threshold in thresholds:
        total = SegmentCounts(0, 0, 0)
        for guesses, labels in zip(predicted, truth):
            total = total + segment_counts(guesses, labels, threshold)
        scores[threshold] = total.f1
    return scores


def clip_metrics(
    ranked: Sequence[Sequence[str]],
    labels: Sequence[str],
    *,
    classes: Sequence[str] | None = None,
    subset: Sequence[str] = (),
) -> dict[str, float]:
    """``{"top1", "top5", "mean_class_accuracy"}`` of ranked predictions, plus ``"top1_subset"`` (the
    top-1 accuracy on the clips whose true class is in ``subset``, e.g. the motion classes) when
    ``subset`` is given and some clip is of one of its classes."""
    scores = {"top1": top_k_accuracy(ranked, labels, 1), "top5": top_k_accuracy(ranked, labels, 5)}
    per_class = per_class_accuracy([guesses[0] for guesses in ranked], labels)
    scores["mean_class_accuracy"] = sum(per_class.values()) / len(per_class)
    chosen = [(guesses, label) for guesses, label in zip(ranked, labels) if label in set(subset)]
    if chosen:
        scores["top1_subset"] = top_k_accuracy([g for g, _ in chosen], [label for _, label in chosen], 1)
    return scores


def frame_metrics(predicted: Sequence[Sequence[str]], truth: Sequence[Sequence[str]]) -> Mapping[str, float]:
    """``{"frame_accuracy", "F1@0.1", "F1@0.25", "F1@0.5"}`` of per-frame label sequences."""
    scores = {"frame_accuracy": frame_accuracy(predicted, truth)}
    scores.update({f"F1@{k:g}": value for k, value in segmental_f1(predicted, truth).items()})
    return scores
