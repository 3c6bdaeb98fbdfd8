"""User-facing error types.

Every error a user can cause (a missing or corrupt file, a malformed JSON, a wrong checkpoint,
an unknown option) is raised as a subclass of :class:`MMRNNError` with a one-line message that
names the file and the problem. The CLI prints that line and exits non-zero, without a traceback.
Anything else is a bug and keeps its traceback.
"""

from collections.abc import Collection, Hashable

_SHOWN_IDS = 5


class MMRNNError(Exception):
    """Base class of errors caused by user input; the message is one self-contained line."""


class ConfigError(MMRNNError, ValueError):
    """An unknown or invalid configuration key or value."""


class InputError(MMRNNError, ValueError):
    """An input file or value that cannot be used (missing, unreadable, too large, malformed)."""


class ImageError(InputError):
    """An image that cannot be used; ``kind`` says why: ``"too_large"`` (over a pixel limit or
    PIL's decompression-bomb guard), ``"not_image"`` (unrecognised format) or ``"corrupt"``
    (empty, truncated, malformed or pixel-less)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class VideoError(InputError):
    """A video that cannot be used; ``kind`` says why: ``"too_large"`` (over a limit of
    :class:`multimodal_rnn.video.VideoLimits`: file bytes, duration, frames, pixels per frame),
    ``"not_video"`` (an unrecognised container, a still image, no video stream, a folder without
    frame images), ``"corrupt"`` (empty, truncated, malformed or without frames) or
    ``"unreadable"`` (missing, a FIFO, device or socket, permission denied)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class DataFormatError(InputError):
    """A dataset file that does not follow its documented format."""


class CheckpointError(MMRNNError):
    """A checkpoint that is not a valid multimodal_rnn checkpoint or does not match its model."""


def first_ids(ids: Collection[Hashable]) -> str:
    """The first few ids of a collection as a short comma-separated string (sorted when possible),
    for one-line messages such as ``no caption for image_id 3, 7, 9 (+12 more)``."""
    try:
        ordered = sorted(ids)  # type: ignore[type-var]
    except TypeError:
        ordered = list(ids)
    shown = ", ".join(repr(i) for i in ordered[:_SHOWN_IDS])
    return shown + (f" (+{len(ordered) - _SHOWN_IDS} more)" if len(ordered) > _SHOWN_IDS else "")
