"""The record every video format reader returns, and what the readers share: text list files
read with one-line errors, and finding a video by its id in a folder whatever its extension."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from multimodal_rnn.errors import DataFormatError, InputError
from multimodal_rnn.files import open_input
from multimodal_rnn.video import VIDEO_EXTENSIONS

MAX_LIST_FILE_BYTES = 256 * 1024**2
"""Largest list, CSV or caption text file read (256 MiB; Kinetics-700's train CSV is 30 MB)."""


@dataclass(frozen=True)
class VideoRecord:
    """One video of a dataset.

    Attributes:
        video_id: the id the dataset gives it (UCF-101/HMDB-51: the path relative to the dataset
            root as in the list files, ``ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi``; MSR-VTT:
            ``video7``; Kinetics: ``<youtube_id>_<start:06d>_<end:06d>``; MSVD: the id of its lines).
        path: the video file (or folder of frames).
        label: the clip's class, if the format has one.
        frame_labels: one label per frame of the source video, if known.
        captions: reference captions (raw text), possibly none.
        split: the split the format puts it in (``train``, ``val``, ``test``, ...), if any.
    """

    video_id: str
    path: Path
    label: str | None = None
    frame_labels: tuple[str, ...] | None = None
    captions: tuple[str, ...] = ()
    split: str | None = None


def read_lines(path: str | os.PathLike[str], *, what: str = "list file") -> list[str]:
    """The lines of a UTF-8 text file (a BOM and ``\\r`` removed, blank lines kept as ``""`` so
    that line numbers in messages are the file's)."""
    with open_input(path, what=what, max_bytes=MAX_LIST_FILE_BYTES) as handle:
        try:
            data = handle.read()
        except OSError as exc:
            raise InputError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return [line.rstrip("\r") for line in text.split("\n")]


def read_csv_rows(path: str | os.PathLike[str], *, what: str) -> list[list[str]]:
    """The rows of a UTF-8 CSV file (as :func:`read_lines` reads it; row ``i`` is line ``i + 1``);
    a malformed row (a field over the csv module's 131,072 characters) is a one-line error."""
    reader = csv.reader(read_lines(path, what=what))
    try:
        return list(reader)
    except csv.Error as exc:
        raise DataFormatError(f"{path}: line {reader.line_num}: malformed CSV ({exc})") from None


class VideoFolder:
    """The videos of a folder by id: ``find(video_id)`` is ``<folder>/<video_id><ext>`` for the
    first extension of :data:`~multimodal_rnn.video.VIDEO_EXTENSIONS` present (a folder of frames
    ``<folder>/<video_id>/`` also counts), or None. The folder is listed once."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise InputError(f"{self.folder}: no such videos folder")
        self._names = {entry.name for entry in os.scandir(self.folder)}

    def find(self, video_id: str) -> Path | None:
        for extension in VIDEO_EXTENSIONS:
            if video_id + extension in self._names:
                return self.folder / (video_id + extension)
        if video_id in self._names and (self.folder / video_id).is_dir():
            return self.folder / video_id
        return None

    def path(self, video_id: str) -> Path:
        """:meth:`find`, or ``<folder>/<video_id>.mp4`` when absent (reading it later is then
        counted as an unreadable clip)."""
        return self.find(video_id) or self.folder / f"{video_id}.mp4"


def check_found(records: list[VideoRecord], where: str, folder: str | os.PathLike[str]) -> list[VideoRecord]:
    """Refuse a dataset none of whose videos is in ``folder`` (a wrong folder, most likely)."""
    if records and not any(record.path.exists() for record in records):
        raise InputError(f"{folder}: none of the {len(records)} videos of {where} is in this folder")
    return records
