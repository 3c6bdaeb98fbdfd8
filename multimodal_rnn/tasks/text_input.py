"""Questions a user types or pipes in at the command line (``mmrnn ask``, ``mmrnn chat``).

Standard input is read as bytes and decoded as strict UTF-8 whatever the locale, so ``ask -``
and ``chat`` refuse the same invalid input with the same one line,
``standard input: not UTF-8 text (byte N)`` (N counts from the start of the input). Text that
came as a ``str`` (a command-line argument, a text stream without bytes underneath) is checked
for the lone surrogates that undecodable bytes become. A question must hold a word, by the
server's rule (:func:`multimodal_rnn.text.vocab.words`: a token with a letter or a digit), so the
CLI refuses what the server answers with HTTP 422.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TextIO

from multimodal_rnn.errors import InputError

STDIN = "standard input"
"""How messages name standard input."""


def decode_utf8(data: bytes | str, *, where: str, offset: int = 0) -> str:
    """``data`` as text: bytes decoded as strict UTF-8, a ``str`` checked to be encodable as UTF-8.

    ``offset`` is the position of ``data`` in the input ``where`` names, for the message.

    Raises:
        InputError: ``<where>: not UTF-8 text (byte N)`` (``character N`` for a ``str``).
    """
    if isinstance(data, bytes):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{where}: not UTF-8 text (byte {offset + exc.start})") from None
    try:
        data.encode("utf-8")
    except UnicodeEncodeError as exc:  # undecodable argv bytes arrive as lone surrogates
        raise InputError(f"{where}: not UTF-8 text (character {offset + exc.start})") from None
    return data


def read_stdin(stdin: TextIO) -> str:
    """All of ``stdin``, decoded by :func:`decode_utf8` (through its byte buffer when it has one)."""
    buffer = getattr(stdin, "buffer", None)
    return decode_utf8(stdin.read() if buffer is None else buffer.read(), where=STDIN)


def stdin_lines(stdin: TextIO) -> Iterator[str]:
    """The lines of ``stdin`` as they come (each with its line break), each decoded by :func:`decode_utf8`."""
    buffer = getattr(stdin, "buffer", None)
    offset = 0
    while True:
        data = stdin.readline() if buffer is None else buffer.readline()
        if not data:
            return
        yield decode_utf8(data, where=STDIN, offset=offset)
        offset += len(data)


def check_question(text: str, *, where: str = "") -> str:
    """``text`` stripped, if it holds a word (see the module docstring).

    Raises:
        InputError: ``[<where>: ]the question is empty (no words)``, or text that is not UTF-8.
    """
    from multimodal_rnn.text.vocab import words

    prefix = f"{where}: " if where else ""
    text = decode_utf8(text, where=f"{where or 'question'}").strip()
    if not words(text):
        raise InputError(f"{prefix}the question is empty (no words)")
    return text
