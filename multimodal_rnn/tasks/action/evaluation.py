"""Predicting and scoring a split of clips: ``mmrnn predict action`` and ``mmrnn eval action``.

Results are JSON ``[{"video": <video id>, "label": str, "classes": [{"class", "probability"}, ...]}]``
(best first). The scores (:mod:`multimodal_rnn.metrics.video`) are top-1, top-5 and the mean of
the per-class accuracies, each class's accuracy, the confusion matrix (and its picture) and, for
the moving-shapes classes, the top-1 accuracy on the motion classes
(:data:`~multimodal_rnn.datasets.moving_shapes.MOTION_CLASSES`, which only the order of the frames
tells apart).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from multimodal_rnn.datasets.moving_shapes import MOTION_CLASSES
from multimodal_rnn.datasets.video_clips import ClipDataset
from multimodal_rnn.datasets.video_records import VideoRecord
from multimodal_rnn.errors import DataFormatError, InputError, first_ids
from multimodal_rnn.images import save_image
from multimodal_rnn.metrics.video import clip_metrics, confusion_figure, confusion_matrix, per_class_accuracy
from multimodal_rnn.tasks.action.predictor import ActionClassifier
from multimodal_rnn.tasks.video_data import readable_batches


def predict_records(
    classifier: ActionClassifier,
    records: Sequence[VideoRecord],
    *,
    top: int = 5,
    batch_size: int = 32,
    max_bad: int = 100,
    workers: int | None = 0,
    progress: Callable[..., Iterable[Any]] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """``(results, skipped)``: one result per readable clip (the format of the module docstring), in
    order, and unreadable clip path -> reason. ``workers`` processes read the clips (None: the default)."""
    dataset = ClipDataset(
        records, num_frames=classifier.num_frames, transform=classifier.clip_transform, max_bad_clips=max_bad
    )
    results = []
    for batch in readable_batches(
        dataset, batch_size=batch_size, workers=workers, progress=progress, desc="classifying"
    ):
        for video_id, result in zip(
            batch["video_id"], classifier.classify_tensors(batch["frames"], batch["length"], top=top)
        ):
            classes = [{"class": name, "probability": round(p, 4)} for name, p in result.classes]
            results.append({"video": video_id, "label": result.label, "classes": classes})
    return results, dict(dataset.bad_clips)


def _ranked(entry: Any, where: str) -> list[str]:
    if (
        not isinstance(entry, dict)
        or not isinstance(entry.get("video"), str)
        or not isinstance(entry.get("label"), str)
    ):
        raise DataFormatError(f"{where}: every result needs a 'video' and a 'label' string")
    ranked = [entry["label"]]
    for item in entry.get("classes") or ():
        name = item.get("class") if isinstance(item, dict) else item
        if not isinstance(name, str):
            raise DataFormatError(f"{where}: video {entry['video']!r}: 'classes' must hold class names")
        if name not in ranked:
            ranked.append(name)
    return ranked


def evaluate_results(
    results: Any,
    records: Sequence[VideoRecord],
    classes: Sequence[str],
    *,
    where: str,
    confusion_png: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """The scores of ``results`` (parsed JSON) against the labels of ``records``.

    Returns:
        ``{"metrics": {"top1", "top5", "mean_class_accuracy"[, "top1_motion"]}, "per_class":
        {class: accuracy}, "classes": [...], "confusion": [[...]], "num_clips": N}``.

    Raises:
        DataFormatError: malformed results, a clip of the split without a result, or a result for
            a clip that is not in it.
    """
    if not isinstance(results, list):
        raise DataFormatError(f"{where}: expected a list of results")
    ranked: dict[str, list[str]] = {}
    for entry in results:
        ranked[entry["video"]] = _ranked(entry, where)
    truth = {record.video_id: record.label for record in records}
    missing, extra = [v for v in truth if v not in ranked], [v for v in ranked if v not in truth]
    if missing or extra:
        problem = (
            f"no result for {first_ids(missing)}"
            if missing
            else f"results for clips not in the split: {first_ids(extra)}"
        )
        raise DataFormatError(f"{where}: {problem}")
    videos = list(truth)
    labels = [str(truth[v]) for v in videos]
    guesses = [ranked[v] for v in videos]
    motion = MOTION_CLASSES if set(MOTION_CLASSES) <= set(classes) else ()
    metrics = clip_metrics(guesses, labels, subset=motion)
    if "top1_subset" in metrics:
        metrics["top1_motion"] = metrics.pop("top1_subset")
    unknown = sorted({g[0] for g in guesses} - set(classes))
    if unknown:
        raise InputError(f"{where}: predicted class {unknown[0]!r} is not one of the dataset's classes")
    matrix = confusion_matrix([g[0] for g in guesses], labels, classes)
    if confusion_png is not None:
        save_image(confusion_figure(matrix, classes), confusion_png)
    return {
        "metrics": metrics,
        "per_class": per_class_accuracy([g[0] for g in guesses], labels),
        "classes": list(classes),
        "confusion": matrix,
        "num_clips": len(videos),
    }


def format_report(report: dict[str, Any]) -> list[str]:
    """The scores as aligned text lines, in percent: the summary, then each class."""
    names = {
        "top1": "top-1",
        "top5": "top-5",
        "mean_class_accuracy": "mean class accuracy",
        "top1_motion": "top-1 on the motion classes",
    }
    lines = [f"{names[key]:<28} {100 * value:6.2f}" for key, value in report["metrics"].items()]
    lines.append(f"{'clips':<28} {report['num_clips']:6d}")
    width = max(len(name) for name in report["per_class"])
    lines += [f"  {name:<{width}}  {100 * value:6.2f}" for name, value in report["per_class"].items()]
    return lines
