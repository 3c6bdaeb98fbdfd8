"""Action recognition datasets in class folders: UCF-101 and HMDB-51.

UCF-101 layout (HMDB-51 converted to it reads the same)::

    videos_dir/<Class>/v_<Class>_gXX_cYY.avi
    lists_dir/classInd.txt       "1 ApplyEyeMakeup" per line (1-based class numbers)
    lists_dir/trainlist01.txt    "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1" per line
    lists_dir/testlist01.txt     "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi" per line
    lists_dir/vallist01.txt      (optional) as the test list

``lists_dir`` is ``videos_dir`` or, as UCF-101 ships it, ``videos_dir/ucfTrainTestlist``. The
label is the class folder of the path (checked against ``classInd.txt``, and against the class
number when the line has one). HMDB-51's own split files (``<class>_test_split1.txt``: lines
``<name>.avi <0|1|2>``, 1 train, 2 test, 0 unused) are read by :func:`read_hmdb51`.
"""

from __future__ import annotations

import os
from pathlib import Path

from multimodal_rnn.datasets.video_frame_labels import attach_frame_labels, read_frame_labels
from multimodal_rnn.datasets.video_records import VideoRecord, check_found, read_lines
from multimodal_rnn.errors import DataFormatError, InputError

UCF_SPLITS = {"train": "trainlist", "val": "vallist", "test": "testlist"}
"""Split name -> list file prefix (``trainlist01.txt``)."""


def ucf_lists_dir(videos_dir: str | os.PathLike[str], lists_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where ``classInd.txt`` is: ``lists_dir``, else ``videos_dir`` or ``videos_dir/ucfTrainTestlist``."""
    if lists_dir is not None:
        return Path(lists_dir)
    videos_dir = Path(videos_dir)
    shipped = videos_dir / "ucfTrainTestlist"
    return shipped if not (videos_dir / "classInd.txt").exists() and (shipped / "classInd.txt").exists() else videos_dir


def read_ucf_classes(lists_dir: str | os.PathLike[str]) -> list[str]:
    """The class names of ``lists_dir/classInd.txt`` in their number order (number ``k`` is
    ``classes[k - 1]``); numbers must be 1, 2, 3, ... and names distinct."""
    path = Path(lists_dir) / "classInd.txt"
    classes: list[str] = []
    for number, line in enumerate(read_lines(path), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise DataFormatError(f"{path}: line {number}: expected '<number> <class name>', got {line[:80]!r}")
        if int(parts[0]) != len(classes) + 1:
            raise DataFormatError(f"{path}: line {number}: class number {parts[0]}, expected {len(classes) + 1}")
        if parts[1] in classes:
            raise DataFormatError(f"{path}: line {number}: class {parts[1]!r} is listed twice")
        classes.append(parts[1])
    if not classes:
        raise DataFormatError(f"{path}: no classes")
    return classes


def read_ucf101(
    videos_dir: str | os.PathLike[str],
    *,
    split: str = "train",
    fold: int = 1,
    lists_dir: str | os.PathLike[str] | None = None,
    frame_labels: str | os.PathLike[str] | None = None,
) -> list[VideoRecord]:
    """The videos of one split (``train``, ``val``, ``test``) of fold ``fold`` (1-3 for UCF-101),
    in list order, labelled with their class name.

    ``frame_labels``: a per-frame labels JSON or CSV file (docs/formats.md, "Video") whose keys are
    the list files' relative paths; every listed video must have labels.

    Raises:
        InputError: a missing folder or list file, or none of the listed videos found.
        DataFormatError: a malformed line, an unknown class or a number that contradicts the
            folder (one line naming the file and line).
    """
    if split not in UCF_SPLITS:
        raise InputError(f"{split}: unknown UCF-101 split (one of {', '.join(UCF_SPLITS)})")
    videos_dir = Path(videos_dir)
    if not videos_dir.is_dir():
        raise InputError(f"{videos_dir}: no such videos folder")
    lists = ucf_lists_dir(videos_dir, lists_dir)
    classes = read_ucf_classes(lists)
    known = set(classes)
    path = lists / f"{UCF_SPLITS[split]}{fold:02d}.txt"
    records: list[VideoRecord] = []
    seen: set[str] = set()
    for number, line in enumerate(read_lines(path), 1):
        parts = line.split()
        if not parts:
            continue
        where = f"{path}: line {number}"
        relative = parts[0].replace("\\", "/")
        if len(parts) > 2 or "/" not in relative or (len(parts) == 2 and not parts[1].isdigit()):
            raise DataFormatError(f"{where}: expected '<Class>/<video file> [<class number>]', got {line[:80]!r}")
        label = relative.split("/")[0]
        if label not in known:
            raise DataFormatError(f"{where}: class folder {label!r} is not in {lists / 'classInd.txt'}")
        if len(parts) == 2 and not (1 <= int(parts[1]) <= len(classes) and classes[int(parts[1]) - 1] == label):
            raise DataFormatError(f"{where}: class number {parts[1]} does not name the folder {label!r}")
        if relative in seen:
            raise DataFormatError(f"{where}: {relative} is listed twice")
        seen.add(relative)
        records.append(VideoRecord(relative, videos_dir / relative, label=label, split=split))
    if frame_labels is not None:
        records = attach_frame_labels(records, read_frame_labels(frame_labels, videos_dir=videos_dir), frame_labels)
    return check_found(records, str(path), videos_dir)


def read_hmdb51(
    videos_dir: str | os.PathLike[str],
    splits_dir: str | os.PathLike[str],
    *,
    split: str = "train",
    fold: int = 1,
) -> list[VideoRecord]:
    """One split (``train``: mark 1, ``test``: mark 2) of HMDB-51's own split files
    ``splits_dir/<class>_test_split<fold>.txt``; videos are ``videos_dir/<class>/<name>``, ids
    ``<class>/<name>``, classes in sorted order of the split files."""
    marks = {"train": "1", "test": "2"}
    if split not in marks:
        raise InputError(f"{split}: unknown HMDB-51 split (one of train, test)")
    videos_dir, splits_dir = Path(videos_dir), Path(splits_dir)
    if not splits_dir.is_dir():
        raise InputError(f"{splits_dir}: no such folder of split files")
    suffix = f"_test_split{fold}.txt"
    files = sorted(p for p in splits_dir.iterdir() if p.name.endswith(suffix))
    if not files:
        raise InputError(f"{splits_dir}: no HMDB-51 split files (*{suffix})")
    records = []
    for path in files:
        label = path.name[: -len(suffix)]
        for number, line in enumerate(read_lines(path), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise DataFormatError(f"{path}: line {number}: expected '<video file> <0|1|2>', got {line[:80]!r}")
            if parts[1] == marks[split]:
                relative = f"{label}/{parts[0]}"
                records.append(VideoRecord(relative, videos_dir / relative, label=label, split=split))
    return check_found(records, str(splits_dir), videos_dir)
