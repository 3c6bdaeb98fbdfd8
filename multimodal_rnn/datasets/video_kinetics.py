"""Kinetics-style CSV files (Kinetics-400/600/700) with the videos downloaded to a local folder.

A CSV with the header ``label,youtube_id,time_start,time_end,split`` (other columns, such as
``is_cc``, are ignored; a test CSV may lack ``label``), one clip a row: ``time_start`` and
``time_end`` in whole seconds of the YouTube video. The clip's file is
``<videos_dir>/<youtube_id>_<time_start:06d>_<time_end:06d>.<ext>`` (the name the usual download
scripts give) or ``<videos_dir>/<youtube_id>.<ext>``, with any extension of
:data:`multimodal_rnn.video.VIDEO_EXTENSIONS`; class folders (``<videos_dir>/<label>/...``, as
some copies keep them) are looked into too. The video id is ``<youtube_id>_<start:06d>_<end:06d>``.
"""

from __future__ import annotations

import os

from multimodal_rnn.datasets.video_records import VideoFolder, VideoRecord, check_found, read_csv_rows
from multimodal_rnn.errors import DataFormatError, InputError

KINETICS_COLUMNS = ("youtube_id", "time_start", "time_end")
"""The columns a Kinetics CSV must have (``label`` and ``split`` too when present)."""


def read_kinetics(
    csv_file: str | os.PathLike[str],
    videos_dir: str | os.PathLike[str],
    *,
    split: str | None = None,
    skip_missing: bool = False,
) -> list[VideoRecord]:
    """The clips of a Kinetics CSV in file order (``split``: only the rows of that split, e.g.
    ``train``, ``val``, ``test``; None: all).

    ``skip_missing``: leave out clips whose file is not found (videos taken off YouTube are
    common); otherwise they are kept and counted as unreadable clips when read.

    Raises:
        InputError: a missing file or folder, or none of the clips found.
        DataFormatError: a missing column, a malformed row, a clip listed twice (one line naming
            the file and line).
    """
    rows = read_csv_rows(csv_file, what="Kinetics CSV file")
    header = [cell.strip() for cell in rows[0]] if rows else []
    missing = [column for column in KINETICS_COLUMNS if column not in header]
    if missing:
        raise DataFormatError(
            f"{csv_file}: no column(s) {', '.join(missing)} in the header "
            "(expected label,youtube_id,time_start,time_end,split)"
        )
    column = {name: header.index(name) for name in header}
    folder = VideoFolder(videos_dir)
    subfolders: dict[str, VideoFolder] = {}
    records: list[VideoRecord] = []
    seen: set[str] = set()
    for number, row in enumerate(rows[1:], 2):
        if not row:
            continue
        where = f"{csv_file}: line {number}"
        if len(row) != len(header):
            raise DataFormatError(f"{where}: expected {len(header)} fields, got {len(row)}")
        youtube_id = row[column["youtube_id"]].strip()
        start, end = row[column["time_start"]].strip(), row[column["time_end"]].strip()
        if not youtube_id or not _is_seconds(start) or not _is_seconds(end):
            raise DataFormatError(
                f"{where}: needs a youtube_id and whole seconds time_start, time_end, got {','.join(row)[:80]!r}"
            )
        label = row[column["label"]].strip() if "label" in column else None
        row_split = row[column["split"]].strip() if "split" in column else None
        if split is not None and row_split != split:
            continue
        video_id = f"{youtube_id}_{int(float(start)):06d}_{int(float(end)):06d}"
        if video_id in seen:
            raise DataFormatError(f"{where}: clip {video_id} is listed twice")
        seen.add(video_id)
        path = folder.find(video_id) or folder.find(youtube_id)
        if path is None and label and (folder.folder / label).is_dir():
            sub = subfolders.setdefault(label, VideoFolder(folder.folder / label))
            path = sub.find(video_id) or sub.find(youtube_id)
        if path is None and skip_missing:
            continue
        records.append(VideoRecord(video_id, path or folder.path(video_id), label=label or None, split=row_split))
    if skip_missing and not records and seen:
        raise InputError(f"{folder.folder}: none of the {len(seen)} clips of {csv_file} is in this folder")
    return check_found(records, str(csv_file), folder.folder)


def _is_seconds(text: str) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return value >= 0 and value == int(value)


def kinetics_classes(records: list[VideoRecord]) -> list[str]:
    """The labels of ``records``, sorted (Kinetics numbers its classes in alphabetical order)."""
    return sorted({record.label for record in records if record.label is not None})
