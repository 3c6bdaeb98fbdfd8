"""Predicting and scoring a split of clips: ``mmrnn predict frames`` and ``mmrnn eval frames``.

Results are JSON ``[{"video": <video id>, "frames": ["label of frame 0", ...]}]``, one label per
source frame of the clip (every frame is read and labeled). The scores
(:mod:`multimodal_rnn.metrics.video`) are the accuracy over all frames and the segmental F1@k.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from multimodal_rnn.datasets.video_clips import ClipDataset
from multimodal_rnn.datasets.video_records import VideoRecord
from multimodal_rnn.errors import DataFormatError, first_ids
from multimodal_rnn.metrics.video import frame_metrics
from multimodal_rnn.tasks.frames.predictor import FrameLabeler
from multimodal_rnn.tasks.video_data import readable_batches


def predict_records(
    labeler: FrameLabeler,
    records: Sequence[VideoRecord],
    *,
    batch_size: int = 32,
    max_bad: int = 100,
    workers: int | None = 0,
    progress: Callable[..., Iterable[Any]] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """``(results, skipped)``: the labels of every frame of each readable clip, in order, and
    unreadable clip path -> reason. ``workers`` processes read the clips (None: the default)."""
    dataset = ClipDataset(records, num_frames=None, transform=labeler.clip_transform, max_bad_clips=max_bad)
    results = []
    for batch in readable_batches(dataset, batch_size=batch_size, workers=workers, progress=progress, desc="labeling"):
        for video_id, result in zip(batch["video_id"], labeler.label_tensors(batch["frames"], batch["length"])):
            results.append({"video": video_id, "frames": list(result.labels)})
    return results, dict(dataset.bad_clips)


def evaluate_results(results: Any, records: Sequence[VideoRecord], *, where: str) -> dict[str, Any]:
    """The scores of ``results`` (parsed JSON) against the per-frame labels of ``records``.

    Returns:
        ``{"metrics": {"frame_accuracy", "F1@0.1", "F1@0.25", "F1@0.5"}, "num_clips", "num_frames"}``.

    Raises:
        DataFormatError: malformed results, a clip of the split without a result (or one for a clip
            not in it), or a result with another number of frames than the clip's labels.
    """
    if not isinstance(results, list):
        raise DataFormatError(f"{where}: expected a list of results")
    predicted: dict[str, list[str]] = {}
    for entry in results:
        frames = entry.get("frames") if isinstance(entry, dict) else None
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("video"), str)
            and isinstance(frames, list)
            and all(isinstance(label, str) for label in frames)
        ):
            raise DataFormatError(f"{where}: every result needs a 'video' string and 'frames', a list of labels")
        predicted[entry["video"]] = frames
    truth = {record.video_id: list(record.frame_labels or ()) for record in records}
    missing, extra = [v for v in truth if v not in predicted], [v for v in predicted if v not in truth]
    if missing or extra:
        problem = (
            f"no result for {first_ids(missing)}"
            if missing
            else f"results for clips not in the split: {first_ids(extra)}"
        )
        raise DataFormatError(f"{where}: {problem}")
    for video, labels in truth.items():
        if len(predicted[video]) != len(labels):
            raise DataFormatError(
                f"{where}: video {video!r} has {len(predicted[video])} labels for {len(labels)} frames"
            )
    videos = list(truth)
    metrics = dict(frame_metrics([predicted[v] for v in videos], [truth[v] for v in videos]))
    return {"metrics": metrics, "num_clips": len(videos), "num_frames": sum(len(truth[v]) for v in videos)}


def format_report(report: dict[str, Any]) -> list[str]:
    """The scores as aligned text lines, in percent."""
    names = {"frame_accuracy": "frame accuracy"}
    lines = [f"{names.get(key, key):<16} {100 * value:6.2f}" for key, value in report["metrics"].items()]
    return lines + [f"{'clips':<16} {report['num_clips']:6d}", f"{'frames':<16} {report['num_frames']:6d}"]
