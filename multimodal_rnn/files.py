"""Files users hand us and files we write: one boundary for both, with one-line errors.

Reading: every file a user names goes through :func:`open_input` (or :func:`check_input_file`
when a library opens the path itself), which refuses, as a one-line :class:`InputError` naming
the file, a missing path, a directory, anything that is not a regular file (a FIFO, a device, a
socket: refused from ``stat`` before opening, and opened non-blocking, so nothing can hang),
permission denied (said so, not "no such file") and a file over a size limit.

JSON: :func:`read_json` (a file) and :func:`loads_json` (text already in memory: a checkpoint
header, a form field) share the limits: at most :data:`MAX_JSON_DEPTH` = 64 nested arrays or
objects and at most ``max_bytes`` (files: :data:`MAX_JSON_FILE_BYTES` = 2 GiB; text: the caller's
bound). Deeper or larger data is refused in one line; Python's ``RecursionError`` never escapes.

Writing: :func:`check_output_file` and :func:`check_output_dir` check an output path before a
command starts its work (the options of :mod:`multimodal_rnn.options` call them when the command
line is parsed): missing folders are created; a directory where a file is wanted, a file where a
folder is wanted, an unknown extension or a place we cannot write is refused. Atomic writes put
the data in a temporary file ``.<name>.<random>.tmp`` next to the destination, flush it to disk
and rename it over the destination, so a crash or a kill never leaves a half-written file where
the last good one was; :func:`remove_stale_temporaries` removes such files left by a killed run
(those untouched for :data:`STALE_TMP_AGE_S` = 60 s). A writer of thousands of files (a generated
dataset) wraps them in :func:`deferred_sync`: each is still renamed into place whole, and one
flush at the end replaces two per file.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from itertools import compress
from pathlib import Path
from typing import Any, BinaryIO

from multimodal_rnn.errors import DataFormatError, InputError, MMRNNError, first_ids

MAX_JSON_DEPTH = 64
"""Most nested JSON arrays/objects accepted anywhere (our own files nest at most 6 deep)."""

MAX_JSON_FILE_BYTES = 2 * 1024**3
"""Largest JSON file :func:`read_json` reads (2 GiB; COCO's largest annotation file is 0.5 GB)."""

MAX_RESULTS_FILE_BYTES = 256 * 1024**2
"""Largest results file the evaluations read (256 MiB; 40,000 COCO captions take about 3 MB)."""

MAX_RESULT_CHARS = 10_000
"""Longest caption or answer text in a results file, in characters."""

MAX_RESULT_WORDS = 1_000
"""Longest caption or answer text in a results file, in words (whitespace-separated)."""

_IS_CONTAINER = frozenset({dict, list}).__contains__
STALE_TMP_AGE_S = 60.0
"""Age (seconds since the last change) from which a temporary file of an atomic write is stale."""

_STALE_TMP_PATTERN = ".*.tmp"  # what atomic_write's mkstemp(prefix=".<name>.", suffix=".tmp") makes


def check_input_file(
    path: str | os.PathLike[str],
    *,
    what: str = "file",
    max_bytes: int | None = None,
    error: type[MMRNNError] = InputError,
) -> int:
    """Check that ``path`` is a regular file we may read, without opening it; returns its size.

    Raises ``error`` (one line naming ``path``, ``what`` says what was expected: "image file",
    "checkpoint file", ...) when it is missing, a directory, a FIFO, device or socket, not
    readable (permission denied) or larger than ``max_bytes``.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    _check_regular(path, info, what, max_bytes, error)
    if not os.access(path, os.R_OK):
        raise error(f"{path}: cannot read {what} (Permission denied)")
    return info.st_size


def open_input(
    path: str | os.PathLike[str],
    *,
    what: str = "file",
    max_bytes: int | None = None,
    error: type[MMRNNError] = InputError,
) -> BinaryIO:
    """Open a user's file for binary reading after :func:`check_input_file`'s checks.

    The file is opened non-blocking and checked again on the open descriptor, so a path swapped
    for a FIFO between the checks cannot block either.
    """
    check_input_file(path, what=what, max_bytes=max_bytes, error=error)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    try:
        _check_regular(path, os.fstat(fd), what, max_bytes, error)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _check_regular(
    path: str | os.PathLike[str], info: os.stat_result, what: str, max_bytes: int | None, error: type[MMRNNError]
) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{path}: is a directory, expected a {what}")
    if not stat.S_ISREG(info.st_mode):
        kind = (
            "a FIFO"
            if stat.S_ISFIFO(info.st_mode)
            else "a socket"
            if stat.S_ISSOCK(info.st_mode)
            else "a device"
            if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
            else "not a file"
        )
        raise error(f"{path}: is {kind}, expected a regular {what}")
    if max_bytes is not None and info.st_size > max_bytes:
        raise error(f"{path}: {what} of {info.st_size} bytes is over the limit of {max_bytes} bytes")


def read_json(path: str | os.PathLike[str], *, max_bytes: int = MAX_JSON_FILE_BYTES, what: str = "file") -> Any:
    """Parse a UTF-8 JSON file of at most ``max_bytes`` bytes and :data:`MAX_JSON_DEPTH` levels.

    Raises:
        InputError: a missing, unreadable or non-regular file, or one over ``max_bytes``.
        DataFormatError: not UTF-8, malformed JSON or nested too deep (one line naming the file).
    """
    with open_input(path, what=what, max_bytes=max_bytes) as handle:
        try:
            data = handle.read()
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return loads_json(data, where=str(path), max_bytes=max_bytes)


def loads_json(text: str | bytes, *, where: str, max_bytes: int, error: type[MMRNNError] = DataFormatError) -> Any:
    """Parse JSON text (bytes must be UTF-8) of at most ``max_bytes`` bytes and
    :data:`MAX_JSON_DEPTH` levels of nesting; any problem is one line ``<where>: <problem>``."""
    if len(text) > max_bytes:
        raise error(f"{where}: JSON of {len(text)} bytes is over the limit of {max_bytes} bytes")
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        data = json.loads(text)
    except UnicodeDecodeError as exc:
        raise error(f"{where}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise error(f"{where}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise error(f"{where}: JSON nested deeper than the limit of {MAX_JSON_DEPTH} levels") from None
    if json_depth(data, limit=MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise error(f"{where}: JSON nested deeper than the limit of {MAX_JSON_DEPTH} levels")
    return data


def json_depth(data: Any, *, limit: int) -> int:
    """Nesting depth of parsed JSON (a scalar is 0, ``[]`` is 1), counted up to ``limit + 1``;
    level by level, so that it costs about as much as parsing (0.7 s for 55 MB of COCO captions)."""
    level = [data] if type(data) in (dict, list) else []
    depth = 0
    while level and depth <= limit:
        depth += 1
        deeper: list[Any] = []
        for value in level:
            items = list(value.values()) if type(value) is dict else value
            deeper.extend(compress(items, map(_IS_CONTAINER, map(type, items))))
        level = deeper
    return depth


def check_result_texts(entries: Iterable[Mapping[str, Any]], *, text_key: str, id_key: str, where: str) -> None:
    """Refuse a results entry whose ``text_key`` string is over :data:`MAX_RESULT_CHARS` characters
    or :data:`MAX_RESULT_WORDS` words (the metrics' cost grows with it: a 100 MB caption took 12
    minutes); the one-line :class:`DataFormatError` names ``where`` and the entry's ``id_key``."""
    for entry in entries:
        text = entry[text_key]
        chars = len(text)
        words = len(text.split()) if chars <= MAX_RESULT_CHARS else 0
        if chars > MAX_RESULT_CHARS or words > MAX_RESULT_WORDS:
            size = f"{chars} characters" if chars > MAX_RESULT_CHARS else f"{words} words"
            raise DataFormatError(
                f"{where}: {text_key} of {id_key} {str(entry[id_key])[:40]} has {size}, over the "
                f"limit of {MAX_RESULT_CHARS} characters and {MAX_RESULT_WORDS} words"
            )


def read_id_captions(
    results: str | os.PathLike[str] | Sequence[Mapping[str, Any]], *, id_key: str, id_type: type
) -> tuple[dict[Any, str], str]:
    """A caption results list, ``[{id_key: id, "caption": str}]``: a JSON file (at most
    :data:`MAX_RESULTS_FILE_BYTES`) or the list itself -> ``({id: caption} in the list's order,
    where)``, ``where`` the file (or "results") for the caller's messages.

    ``id_type`` is ``int`` (booleans refused) or ``str``.

    Raises:
        InputError: the file is missing, unreadable or too large.
        DataFormatError: not a list; an entry without an ``id_type`` id and a string caption; a
            caption over the limits of :func:`check_result_texts`; an id given twice.
    """
    if isinstance(results, (str, os.PathLike)):
        data, where = read_json(results, max_bytes=MAX_RESULTS_FILE_BYTES), str(Path(results))
    else:
        data, where = results, "results"
    type_name, type_words = ("int", "an integer") if id_type is int else ("str", "a string")
    if not isinstance(data, list):
        raise DataFormatError(
            f'{where}: expected a JSON list of {{"{id_key}": {type_name}, "caption": str}} objects, '
            f"got {type(data).__name__}"
        )
    malformed = [
        index
        for index, entry in enumerate(data)
        if not (
            isinstance(entry, dict) and _is_id(entry.get(id_key), id_type) and isinstance(entry.get("caption"), str)
        )
    ]
    if malformed:
        raise DataFormatError(
            f"{where}: entries at index {first_ids(malformed)} need {type_words} '{id_key}' and a string 'caption'"
        )
    check_result_texts(data, text_key="caption", id_key=id_key, where=where)
    captions: dict[Any, str] = {}
    duplicates = set()
    for entry in data:
        if entry[id_key] in captions:
            duplicates.add(entry[id_key])
        captions[entry[id_key]] = entry["caption"]
    if duplicates:
        raise DataFormatError(f"{where}: more than one caption for {id_key} {first_ids(duplicates)}")
    return captions, where


def _is_id(value: Any, id_type: type) -> bool:
    return isinstance(value, id_type) and not isinstance(value, bool)


def require_keys(obj: Any, keys: tuple[str, ...], *, where: str) -> dict[str, Any]:
    """Check that ``obj`` is a JSON object holding ``keys``; otherwise a :class:`DataFormatError`."""
    if not isinstance(obj, dict):
        raise DataFormatError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in keys if k not in obj]
    if missing:
        raise DataFormatError(f"{where}: missing key(s) {', '.join(repr(k) for k in missing)}")
    return obj


def check_output_file(
    path: str | os.PathLike[str], *, suffixes: Collection[str] | None = None, what: str = "output file"
) -> Path:
    """Check, before any work, that a file can be written at ``path``; returns it as a Path.

    Missing parent folders are fine (the write creates them; nothing is created here). Refused
    (one-line :class:`InputError` naming the path): an existing directory or non-regular file (a
    FIFO, a device) at ``path``, an extension not in ``suffixes`` (lower case, with the dot, e.g.
    ``(".png", ".jpg")``), a parent that is a file, and a folder we cannot create files in
    (permission denied, a read-only file system, ``/proc``).
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: cannot write the {what}: is a directory, expected a file name")
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise InputError(
            f"{path}: unknown extension {path.suffix or '(none)'!r} for the {what} "
            f"(expected {', '.join(sorted(suffixes))})"
        )
    if path.exists() and not path.is_file():
        raise InputError(f"{path}: cannot write the {what}: not a regular file")
    _check_writable_folder(path.parent, for_path=path)
    return path


def check_output_dir(path: str | os.PathLike[str], *, what: str = "output folder") -> Path:
    """Check, before any work, that ``path`` is a folder we can create files in, or a missing one
    that can be made (the command makes it when it writes; nothing is created here); a file at
    ``path`` or above it is a one-line :class:`InputError`."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{path}: cannot write the {what}: is a file, expected a folder")
    _check_writable_folder(path, for_path=path)
    return path


def remove_stale_temporaries(folder: str | os.PathLike[str], *, min_age_s: float = STALE_TMP_AGE_S) -> int:
    """Remove the temporary files ``.<name>.<random>.tmp`` that a killed :func:`atomic_write`
    left in ``folder`` (not in its subfolders), those not modified for ``min_age_s`` seconds (a
    write still under way, e.g. by another process of a distributed run, keeps its file);
    returns how many were removed."""
    removed = 0
    now = time.time()
    for stale in Path(folder).glob(_STALE_TMP_PATTERN):
        try:
            info = stale.stat()
            if stat.S_ISREG(info.st_mode) and now - info.st_mtime >= min_age_s:
                stale.unlink()
                removed += 1
        except FileNotFoundError:  # removed meanwhile
            continue
    return removed


def _check_writable_folder(folder: Path, *, for_path: Path) -> None:
    """``folder`` exists and takes new files, or is missing and its nearest existing ancestor is
    a folder that takes new files (checked by creating and removing a probe file there; the
    missing folders themselves are made by the write, so a command refused later leaves none)."""
    existing = folder
    for existing in (folder, *folder.parents):
        if existing.exists():
            if not existing.is_dir():
                raise InputError(f"{for_path}: cannot write: {existing} is a file, not a folder")
            break
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{for_path.name}.", suffix=".tmp", dir=existing)
        os.close(fd)
        Path(probe).unlink(missing_ok=True)  # another process may have removed it as stale
    except OSError as exc:
        raise InputError(f"{for_path}: cannot write in {existing} ({exc.strerror or exc})") from None


_DEFERRED_SYNC: ContextVar[bool] = ContextVar("deferred_sync", default=False)


@contextmanager
def deferred_sync() -> Iterator[None]:
    """Within the block, :func:`atomic_write` renames each file into place without flushing it
    and its folder to disk; leaving the block normally flushes everything once (``os.sync``).
    For writers of many files that form one whole (a generated dataset, whose manifest is
    written after the block): a crash midway loses the set, never leaves half a file in it."""
    token = _DEFERRED_SYNC.set(True)
    try:
        yield
    finally:
        _DEFERRED_SYNC.reset(token)
    os.sync()


def atomic_write(path: str | os.PathLike[str], write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` then rename ``tmp_path`` over ``path`` (same directory, fsynced;
    inside :func:`deferred_sync`, flushed when that block ends).

    If ``write`` raises (or the process is interrupted), the temporary file is removed and
    ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    deferred = _DEFERRED_SYNC.get()
    try:
        write(tmp)
        if not deferred:
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if not deferred:
        fsync_directory(path.parent)


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Flush ``directory``'s entries to disk, so that renames in it survive a crash (best effort:
    file systems that cannot sync a directory are left alone)."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write JSON atomically (temp file + rename), UTF-8, keys sorted for reproducible bytes."""
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)

    atomic_write(path, write)
