"""The value ranges of command-line options: argparse ``type=`` callables, one per kind of value.

Every command declares its options with these, so that a range is checked once, when the command
line is parsed and before any work starts, and every out-of-range value gets the same one-line
message (``argument --beam: must be an integer from 1 to 50, got '1000000000'``). The caps bound
the time and memory one command can ask for:

* :data:`MAX_BEAM_SIZE` = 50 beams (the server caps requests lower, at its ``--max-beam-size``);
* :data:`MAX_DECODE_LENGTH` = 200 tokens per generated caption or answer.

Output paths are declared with :func:`add_output_argument` and checked by :func:`check_outputs`
before a command starts its work, so every command refuses a directory, a FIFO, an unknown
extension or an unwritable folder the same way.

These are parsers of single values, not of argv: the library still never reads ``sys.argv``.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from multimodal_rnn.files import check_output_dir, check_output_file, remove_stale_temporaries

MAX_BEAM_SIZE = 50
"""Largest beam size a command accepts; the cost of beam search grows linearly with it."""

MAX_DECODE_LENGTH = 200
"""Most tokens a decoder may generate for one caption or answer."""


def int_range(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer ``low <= n`` (``<= high`` when given)."""

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {_int_range_words(low, high)}, got {text!r}")
        return value

    parse.__name__ = "integer"  # argparse names the type in its messages
    return parse


def float_range(
    low: float | None = None, high: float | None = None, *, low_open: bool = False, high_open: bool = False
) -> Callable[[str], float]:
    """An argparse type: a finite number in ``[low, high]``; ``low_open`` / ``high_open`` leave the
    bound out (``(low, high]``, ``[low, high)``); ``nan`` and ``inf`` are always refused."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if not math.isfinite(value) or too_low or too_high:
            words = _float_range_words(low, high, low_open, high_open)
            raise argparse.ArgumentTypeError(f"must be {words}, got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


positive_int = int_range(1)
"""An integer >= 1 (batch sizes, counts of epochs, steps, workers per GPU, ...)."""

non_negative_int = int_range(0)
"""An integer >= 0 (seeds, counts that may be zero such as ``--max-bad-images``)."""

beam_size = int_range(1, MAX_BEAM_SIZE)
"""A beam size from 1 (greedy) to :data:`MAX_BEAM_SIZE`."""

decode_length = int_range(1, MAX_DECODE_LENGTH)
"""A decoding length limit from 1 to :data:`MAX_DECODE_LENGTH` tokens."""

finite_float = float_range()
"""Any finite number (``nan`` and ``inf`` refused), e.g. a length penalty."""

positive_float = float_range(0.0, low_open=True)
"""A finite number > 0 (learning rates, timeouts in seconds, ...)."""

non_negative_float = float_range(0.0)
"""A finite number >= 0 (weight decay, gradient clipping, waits, ...)."""

probability = float_range(0.0, 1.0)
"""A finite number in [0, 1] (dropout, label smoothing, sampling rates)."""

proper_fraction = float_range(0.0, 1.0, low_open=True, high_open=True)
"""A finite number strictly between 0 and 1 (a share of the data to hold out)."""


def _int_range_words(low: int, high: int | None) -> str:
    return f"an integer from {low} to {high}" if high is not None else f"an integer >= {low}"


def _float_range_words(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        if low_open or high_open:
            return f"a number {'>' if low_open else '>='} {low:g} and {'<' if high_open else '<='} {high:g}"
        return f"a number from {low:g} to {high:g}"
    if low is not None:
        return f"a number {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"a number {'<' if high_open else '<='} {high:g}"
    return "a finite number"


IMAGE_OUTPUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp")
"""Extensions an image output (``--attention-map``) may have: formats PIL writes."""


def add_output_argument(
    parser: argparse.ArgumentParser, *flags: str, folder: bool = False, suffixes: Sequence[str] = (), **kwargs: Any
) -> argparse.Action:
    """Add an option naming a file (or, with ``folder``, a folder) the command writes; its value
    is a ``Path``, checked by :func:`check_outputs` before the command starts its work."""
    action = parser.add_argument(*flags, type=Path, **kwargs)
    outputs = [*(parser.get_default("_outputs") or ()), (action.dest, folder, tuple(suffixes))]
    parser.set_defaults(_outputs=outputs)
    return action


def add_beam_argument(parser: argparse.ArgumentParser) -> None:
    """``--beam N`` (default 3): the beam size of a decoding command, 1 (greedy) to :data:`MAX_BEAM_SIZE`."""
    parser.add_argument(
        "--beam",
        type=beam_size,
        default=3,
        metavar="N",
        help=f"beam size, 1-{MAX_BEAM_SIZE}; 1 = greedy (default: %(default)s)",
    )


def check_outputs(args: argparse.Namespace) -> list[str]:
    """Check every output option of the parsed command (see :func:`add_output_argument`) with
    :func:`multimodal_rnn.files.check_output_file` / :func:`~multimodal_rnn.files.check_output_dir`
    (nothing is created: the writes make missing folders), and remove the temporary files a killed write left in output
    folders. Returns notes for the user (how many such files were removed, where).

    Raises:
        InputError: a directory where a file is wanted, a file where a folder is wanted, an
            extension not in the option's ``suffixes``, or a place we cannot write.
    """
    notes = []
    for dest, folder, suffixes in getattr(args, "_outputs", None) or ():
        value = getattr(args, dest, None)
        if value is None:
            continue
        if not folder:
            check_output_file(value, suffixes=suffixes or None)
            continue
        removed = remove_stale_temporaries(check_output_dir(value))
        if removed:
            notes.append(f"{value}: removed {removed} temporary file(s) left by an interrupted write")
    return notes
