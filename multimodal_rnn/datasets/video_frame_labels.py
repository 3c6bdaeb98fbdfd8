"""Per-frame labels of videos (frame classification, action segmentation), in JSON or CSV.

JSON::

    {"version": 1, "classes": ["still", "moving left", ...],            (optional)
     "videos": {"<video key>": {"frames": ["still", "still", "moving left", ...]},
                "<video key>": {"fps": 8, "frames_total": 16,
                                "segments": [[0.0, 1.0, "still"], [1.0, 2.0, "moving left"]]}}}

CSV, one row per frame (header ``video,frame,label``) or per segment (``video,start,end,label``,
seconds). The video key is the path relative to the dataset root (as in UCF-101's list files) or
the dataset's video id. Segments (Charades-like ``start end label``, in seconds) become one label
per source frame: frame ``i`` is at ``i / fps`` seconds and takes the label of the last segment
with ``start <= i / fps < end``, else ``background``; without ``fps`` and ``frames_total`` (always
so in CSV), they are read from the video's header (:func:`multimodal_rnn.video.probe_video`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

from multimodal_rnn.datasets.video_records import VideoRecord, read_csv_rows
from multimodal_rnn.errors import DataFormatError, first_ids
from multimodal_rnn.files import read_json
from multimodal_rnn.video import probe_video

BACKGROUND = "background"
"""Label of the frames no segment covers."""


class FrameLabels(NamedTuple):
    """``videos``: one label per source frame, by video key; ``classes``: the file's ``classes``,
    or else every label used, sorted."""

    videos: dict[str, tuple[str, ...]]
    classes: tuple[str, ...]


def segments_to_frames(
    segments: Iterable[tuple[float, float, str]], *, fps: float, total_frames: int, background: str = BACKGROUND
) -> tuple[str, ...]:
    """One label per frame of a ``total_frames``-frame video at ``fps`` from ``(start_s, end_s,
    label)`` segments (see the module docstring for the rule)."""
    labels = [background] * total_frames
    for start, end, label in segments:
        first = max(0, math.ceil(start * fps - 1e-9))
        stop = min(total_frames, math.ceil(end * fps - 1e-9))
        labels[first:stop] = [label] * max(0, stop - first)
    return tuple(labels)


def read_frame_labels(
    path: str | os.PathLike[str],
    *,
    videos_dir: str | os.PathLike[str] | None = None,
    background: str = BACKGROUND,
) -> FrameLabels:
    """Read a per-frame labels file (``.json`` or ``.csv``, see the module docstring).

    ``videos_dir`` (default: the file's folder) holds the videos whose segments need their
    frame rate and frame count.

    Raises:
        InputError: a missing or unreadable file (or a video to probe).
        DataFormatError: anything that does not follow the format (one line naming the file).
    """
    path = Path(path)
    folder = Path(videos_dir) if videos_dir is not None else path.parent
    if path.suffix.lower() == ".csv":
        return _read_csv(path, folder, background)
    data = read_json(path, what="frame labels file")
    if not isinstance(data, dict) or not isinstance(data.get("videos"), dict):
        raise DataFormatError(f"{path}: expected a JSON object with a 'videos' object")
    classes = data.get("classes")
    if classes is not None and not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
        raise DataFormatError(f"{path}: 'classes' must be a list of strings")
    videos: dict[str, tuple[str, ...]] = {}
    for key, entry in data["videos"].items():
        where = f"{path}: video {key!r}"
        if not isinstance(entry, dict):
            raise DataFormatError(f"{where}: expected an object with 'frames' or 'segments'")
        if "frames" in entry:
            frames = entry["frames"]
            if not (isinstance(frames, list) and frames and all(isinstance(f, str) for f in frames)):
                raise DataFormatError(f"{where}: 'frames' must be a non-empty list of label strings")
            videos[key] = tuple(frames)
        elif "segments" in entry:
            segments = [_segment(s, where) for s in _list(entry["segments"], where)]
            fps: Any = entry.get("fps")
            total: Any = entry.get("frames_total")
            if fps is None or total is None:
                info = probe_video(folder / key)
                fps = info.fps if fps is None else fps
                total = info.total_frames if total is None else total
            if not (_is_number(fps) and fps > 0 and isinstance(total, int) and total > 0):
                raise DataFormatError(f"{where}: 'fps' must be a positive number and 'frames_total' a positive integer")
            videos[key] = segments_to_frames(segments, fps=float(fps), total_frames=total, background=background)
        else:
            raise DataFormatError(f"{where}: expected 'frames' or 'segments'")
    return _checked(videos, tuple(classes) if classes is not None else None, str(path))


def _read_csv(path: Path, folder: Path, background: str) -> FrameLabels:
    rows = read_csv_rows(path, what="frame labels file")
    header = [cell.strip() for cell in rows[0]] if rows else []
    if header not in (["video", "frame", "label"], ["video", "start", "end", "label"]):
        raise DataFormatError(f"{path}: header must be 'video,frame,label' or 'video,start,end,label'")
    per_frame: dict[str, dict[int, str]] = {}
    segments: dict[str, list[tuple[float, float, str]]] = {}
    for number, row in enumerate(rows[1:], 2):
        if not row:
            continue
        where = f"{path}: line {number}"
        if len(row) != len(header):
            raise DataFormatError(f"{where}: expected {len(header)} fields, got {len(row)}")
        if len(header) == 3:
            video, frame, label = row
            if not frame.strip().isdigit():
                raise DataFormatError(f"{where}: frame {frame!r} is not a frame number")
            frames = per_frame.setdefault(video, {})
            if int(frame) in frames:
                raise DataFormatError(f"{where}: frame {frame} of {video!r} is labelled twice")
            frames[int(frame)] = label
        else:
            segments.setdefault(row[0], []).append(_segment(row[1:], where))
    videos: dict[str, tuple[str, ...]] = {}
    for video, frames in per_frame.items():
        if sorted(frames) != list(range(len(frames))):
            missing = sorted(set(range(max(frames) + 1)) - set(frames))
            raise DataFormatError(f"{path}: video {video!r} has no label for frame(s) {first_ids(missing)}")
        videos[video] = tuple(frames[i] for i in range(len(frames)))
    for video, spans in segments.items():
        info = probe_video(folder / video)
        if info.fps is None:
            raise DataFormatError(f"{path}: video {video!r} has no frame rate to place its segments")
        videos[video] = segments_to_frames(spans, fps=info.fps, total_frames=info.total_frames, background=background)
    return _checked(videos, None, str(path))


def _checked(videos: dict[str, tuple[str, ...]], classes: tuple[str, ...] | None, where: str) -> FrameLabels:
    if not videos:
        raise DataFormatError(f"{where}: no videos")
    used = {label for labels in videos.values() for label in labels}
    if classes is None:
        return FrameLabels(videos, tuple(sorted(used)))
    unknown = used - set(classes)
    if unknown:
        raise DataFormatError(f"{where}: label(s) {first_ids(unknown)} not in 'classes'")
    return FrameLabels(videos, classes)


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise DataFormatError(f"{where}: 'segments' must be a list of [start_s, end_s, label]")
    return value


def _segment(value: Sequence[Any], where: str) -> tuple[float, float, str]:
    try:
        start, end, label = value
        start, end = float(start), float(end)
    except (TypeError, ValueError):
        raise DataFormatError(f"{where}: a segment must be start_s, end_s, label; got {str(value)[:80]}") from None
    if not (math.isfinite(start) and math.isfinite(end) and 0 <= start <= end) or not isinstance(label, str):
        raise DataFormatError(f"{where}: segment {str(value)[:80]} needs 0 <= start <= end and a label string")
    return start, end, label


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def attach_frame_labels(
    records: Sequence[VideoRecord], labels: FrameLabels | Mapping[str, tuple[str, ...]], where: str | os.PathLike[str]
) -> list[VideoRecord]:
    """``records`` with the ``frame_labels`` of their ``video_id``; every record must have some."""
    videos = labels.videos if isinstance(labels, FrameLabels) else labels
    missing = [record.video_id for record in records if record.video_id not in videos]
    if missing:
        raise DataFormatError(f"{where}: no frame labels for video(s) {first_ids(missing)}")
    return [replace(record, frame_labels=tuple(videos[record.video_id])) for record in records]
