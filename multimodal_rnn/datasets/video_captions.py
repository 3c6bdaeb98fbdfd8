"""Video captioning datasets: MSR-VTT (``videodatainfo.json``) and MSVD (caption lines).

MSR-VTT: ``{"videos": [{"video_id": "video0", "split": "train"}, ...], "sentences": [{"video_id":
"video0", "caption": "a man is talking"}, ...]}`` (other keys ignored); ``split`` is ``train``,
``validate`` or ``test``; files are ``<videos_dir>/<video_id>.<ext>`` with any extension of
:data:`multimodal_rnn.video.VIDEO_EXTENSIONS`. MSVD: lines ``<video_id> <caption>`` (e.g.
``-4wsuPCjDBc_5_15 a squirrel is eating a peanut``), files ``<videos_dir>/<video_id>.<ext>``.
"""

from __future__ import annotations

import os
from typing import Any

from multimodal_rnn.datasets.video_records import VideoFolder, VideoRecord, check_found, read_lines
from multimodal_rnn.errors import DataFormatError, InputError
from multimodal_rnn.files import check_result_texts, read_json, require_keys

MSRVTT_SPLITS = ("train", "validate", "test")
"""The split names of ``videodatainfo.json``; ``val`` is read as ``validate``."""


def read_msrvtt(
    info: str | os.PathLike[str],
    videos_dir: str | os.PathLike[str],
    *,
    split: str | None = "train",
    skip_missing: bool = False,
) -> list[VideoRecord]:
    """The videos of one split (``train``, ``validate`` or ``val``, ``test``; None: all) of an
    MSR-VTT ``videodatainfo.json``, in file order, with their captions in file order.

    ``skip_missing``: leave out the videos not in ``videos_dir`` (otherwise they are kept and
    counted as unreadable clips when read).

    Raises:
        InputError: a missing file or folder, or none of the file's videos in ``videos_dir``.
        DataFormatError: not the format above (one line naming the file and the entry).
    """
    split = "validate" if split == "val" else split
    if split is not None and split not in MSRVTT_SPLITS:
        raise InputError(f"{split}: unknown MSR-VTT split (one of {', '.join(MSRVTT_SPLITS)}, val)")
    where = str(info)
    data = require_keys(read_json(info, what="MSR-VTT file"), ("videos", "sentences"), where=where)
    videos, sentences = data["videos"], data["sentences"]
    if not isinstance(videos, list) or not isinstance(sentences, list):
        raise DataFormatError(f"{where}: 'videos' and 'sentences' must be lists")
    order: dict[str, str | None] = {}
    for index, video in enumerate(videos):
        if not (isinstance(video, dict) and isinstance(video.get("video_id"), str)):
            raise DataFormatError(f"{where}: videos[{index}] needs a string 'video_id'")
        video_split = video.get("split")
        if video_split is not None and video_split not in MSRVTT_SPLITS:
            raise DataFormatError(
                f"{where}: videos[{index}] has split {str(video_split)[:40]!r}, not one of {', '.join(MSRVTT_SPLITS)}"
            )
        if video["video_id"] in order:
            raise DataFormatError(f"{where}: video_id {video['video_id']!r} is listed twice")
        order[video["video_id"]] = video_split
    captions: dict[str, list[str]] = {video_id: [] for video_id in order}
    for index, sentence in enumerate(sentences):
        if not (
            isinstance(sentence, dict)
            and isinstance(sentence.get("video_id"), str)
            and isinstance(sentence.get("caption"), str)
        ):
            raise DataFormatError(f"{where}: sentences[{index}] needs a string 'video_id' and 'caption'")
        if sentence["video_id"] not in captions:
            raise DataFormatError(
                f"{where}: sentences[{index}] is for video_id {sentence['video_id'][:40]!r}, which is not in 'videos'"
            )
        captions[sentence["video_id"]].append(sentence["caption"])
    check_result_texts(sentences, text_key="caption", id_key="video_id", where=where)
    folder = VideoFolder(videos_dir)
    records = [
        VideoRecord(video_id, folder.path(video_id), captions=tuple(captions[video_id]), split=video_split)
        for video_id, video_split in order.items()
    ]
    return [record for record in _found(records, folder, where, skip_missing) if split in (None, record.split)]


def read_msvd(
    captions_file: str | os.PathLike[str],
    videos_dir: str | os.PathLike[str],
    *,
    video_ids: str | os.PathLike[str] | None = None,
    skip_missing: bool = False,
) -> list[VideoRecord]:
    """The videos of an MSVD caption file (lines ``<video_id> <caption>``; blank lines and lines
    starting with ``#`` skipped), in order of first appearance, with their captions.

    ``video_ids``: a file of video ids, one a line, to keep only those (a split), in its order.
    ``skip_missing`` as for :func:`read_msrvtt`.
    """
    captions: dict[str, list[str]] = {}
    for number, line in enumerate(read_lines(captions_file, what="caption file"), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.strip().split(maxsplit=1)
        if len(parts) != 2:
            raise DataFormatError(f"{captions_file}: line {number}: expected '<video_id> <caption>', got {line[:80]!r}")
        captions.setdefault(parts[0], []).append(parts[1])
    entries: list[dict[str, Any]] = [{"video_id": v, "caption": c} for v, cs in captions.items() for c in cs]
    check_result_texts(entries, text_key="caption", id_key="video_id", where=str(captions_file))
    ids = list(captions)
    if video_ids is not None:
        ids = [line.strip() for line in read_lines(video_ids, what="video id file") if line.strip()]
        unknown = [video_id for video_id in ids if video_id not in captions]
        if unknown:
            raise DataFormatError(f"{video_ids}: video id {unknown[0][:40]!r} has no caption in {captions_file}")
    if not ids:
        raise DataFormatError(f"{captions_file}: no captions")
    folder = VideoFolder(videos_dir)
    records = [VideoRecord(video_id, folder.path(video_id), captions=tuple(captions[video_id])) for video_id in ids]
    return _found(records, folder, str(captions_file), skip_missing)


def _found(records: list[VideoRecord], folder: VideoFolder, where: str, skip_missing: bool) -> list[VideoRecord]:
    if skip_missing:
        kept = [record for record in records if folder.find(record.video_id) is not None]
        if records and not kept:
            raise InputError(f"{folder.folder}: none of the {len(records)} videos of {where} is in this folder")
        return kept
    return check_found(records, where, folder.folder)


def video_references(records: list[VideoRecord]) -> dict[str, list[str]]:
    """Reference captions per video id (only videos with at least one), for the caption metrics."""
    return {record.video_id: list(record.captions) for record in records if record.captions}
