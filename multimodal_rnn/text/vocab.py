"""Caption tokenization and the word vocabulary shared by every text-reading head.

:func:`tokenize` is the COCO caption evaluation's tokenizer (see
:mod:`multimodal_rnn.text.ptb_tokenizer`), so that the words a model learns are the words the
official metrics count. :class:`Vocabulary` maps tokens to ids with four distinct special
tokens: ``<pad>`` = 0 (so zero-padded batches need no bookkeeping), ``<bos>`` = 1, ``<eos>`` = 2
and ``<unk>`` = 3. It is plain data: :meth:`Vocabulary.to_dict` is what checkpoints store.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multimodal_rnn.errors import ConfigError, DataFormatError
from multimodal_rnn.files import atomic_write
from multimodal_rnn.text.ptb_tokenizer import coco_tokenize

if TYPE_CHECKING:
    import torch

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)
FORMAT_NAME = "multimodal_rnn.vocabulary"
FORMAT_VERSION = 1


def tokenize(text: str) -> list[str]:
    """Lowercased word tokens of ``text`` exactly as pycocoevalcap's ``PTBTokenizer`` makes them.

    Punctuation tokens (``. , ? ! : ; - -- ... `` '' ` '``) are dropped; clitics are split
    (``don't`` -> ``do n't``, ``dog's`` -> ``dog 's``); hyphenated and slashed words stay whole
    (``black-and-white``, ``and/or``); brackets become ``-lrb-``/``-rrb-`` and are kept, as in
    the official tool. See :mod:`multimodal_rnn.text.ptb_tokenizer` for the known divergences.
    """
    return coco_tokenize(text)


BRACKET_TOKENS = frozenset({"-lrb-", "-rrb-", "-lsb-", "-rsb-", "-lcb-", "-rcb-"})
"""The tokens :func:`tokenize` makes of brackets (kept, as the COCO tool keeps them)."""


def words(text: str) -> list[str]:
    """The tokens of ``text`` that are words: those with at least one letter or digit.

    Punctuation-only tokens (``?!?``, ``%``) and brackets (:data:`BRACKET_TOKENS`) are not words,
    so ``"?!?"`` has none. A question or caption without a word is empty, for the CLI and the server alike.
    """
    return [token for token in tokenize(text) if token not in BRACKET_TOKENS and any(c.isalnum() for c in token)]


class Vocabulary:
    """An ordered token list; a token's id is its position. The special tokens come first."""

    def __init__(self, tokens: Sequence[str]) -> None:
        """Wrap ``tokens`` (id order, starting with :data:`SPECIAL_TOKENS`).

        Raises:
            ValueError: when the special tokens are not first or a token repeats.
        """
        tokens = tuple(tokens)
        if tokens[: len(SPECIAL_TOKENS)] != SPECIAL_TOKENS:
            raise ValueError(f"a vocabulary must start with {list(SPECIAL_TOKENS)}")
        self._tokens = tokens
        self._ids = {token: index for index, token in enumerate(tokens)}
        if len(self._ids) != len(tokens):
            repeated = sorted(token for token, n in Counter(tokens).items() if n > 1)
            raise ValueError(f"repeated token(s) in the vocabulary: {repeated[:5]}")

    @classmethod
    def build(
        cls, token_lists: Iterable[Sequence[str]], *, min_count: int = 1, max_size: int | None = None
    ) -> Vocabulary:
        """Count tokens and keep the frequent ones.

        Args:
            token_lists: tokenized texts (e.g. ``tokenize(caption)`` for every training caption).
            min_count: keep tokens seen at least this many times.
            max_size: keep at most this many words besides the four special tokens.

        Words are ordered by count (descending), ties by the token itself, so the same data
        always gives the same ids. Special tokens found in the data are not counted twice.
        """
        if min_count < 1 or (max_size is not None and max_size < 0):
            raise ValueError(f"need min_count >= 1 and max_size >= 0, got {min_count}, {max_size}")
        counts = Counter(token for tokens in token_lists for token in tokens)
        ranked = sorted(
            (token for token, count in counts.items() if count >= min_count and token not in SPECIAL_TOKENS),
            key=lambda token: (-counts[token], token),
        )
        return cls(SPECIAL_TOKENS + tuple(ranked[:max_size]))

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def bos_id(self) -> int:
        return 1

    @property
    def eos_id(self) -> int:
        return 2

    @property
    def unk_id(self) -> int:
        return 3

    @property
    def tokens(self) -> tuple[str, ...]:
        """All tokens in id order."""
        return self._tokens

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._ids

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and other._tokens == self._tokens

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens)"

    def id_of(self, token: str) -> int:
        """The id of ``token``; :attr:`unk_id` for a token not in the vocabulary."""
        return self._ids.get(token, self.unk_id)

    def token_of(self, token_id: int) -> str:
        """The token with id ``token_id`` (``IndexError`` when out of range)."""
        if not 0 <= token_id < len(self._tokens):
            raise IndexError(f"token id {token_id} is outside the vocabulary (size {len(self)})")
        return self._tokens[token_id]

    def encode(
        self,
        tokens_or_text: str | Sequence[str],
        *,
        max_length: int | None = None,
        add_bos: bool = True,
        add_eos: bool = True,
    ) -> list[int]:
        """Ids of a text (tokenized with :func:`tokenize`) or of a token list.

        ``max_length`` bounds the whole result, ``<bos>``/``<eos>`` included; a longer text is
        cut and still ends with ``<eos>``. Unknown tokens become :attr:`unk_id`.
        """
        tokens = tokenize(tokens_or_text) if isinstance(tokens_or_text, str) else tokens_or_text
        ids = [self.id_of(token) for token in tokens]
        if max_length is not None:
            room = max_length - int(add_bos) - int(add_eos)
            if room < 0:
                raise ValueError(f"max_length {max_length} leaves no room for <bos>/<eos>")
            ids = ids[:room]
        return [self.bos_id] * add_bos + ids + [self.eos_id] * add_eos

    def decode(self, ids: Iterable[int] | torch.Tensor, *, strip_special: bool = True) -> list[str]:
        """Tokens of ``ids`` (a list or a 1-D tensor) up to the first ``<eos>``.

        With ``strip_special`` (default) ``<pad>``, ``<bos>`` and ``<eos>`` are left out;
        ``<unk>`` is kept, since it stands for a real word.
        """
        if hasattr(ids, "tolist"):  # a tensor or an array; the module imports no torch (the ONNX runtime uses it)
            ids = ids.tolist()
        tokens = []
        for token_id in ids:
            token_id = int(token_id)
            if token_id == self.eos_id:
                if not strip_special:
                    tokens.append(EOS)
                break
            if strip_special and token_id in (self.pad_id, self.bos_id):
                continue
            tokens.append(self.token_of(token_id))
        return tokens

    def decode_text(self, ids: Iterable[int] | torch.Tensor) -> str:
        """The decoded tokens joined by single spaces (the form caption metrics read)."""
        return " ".join(self.decode(ids))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (what checkpoints store)."""
        return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "tokens": list(self._tokens)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "vocabulary") -> Vocabulary:
        """Rebuild from :meth:`to_dict` output; a malformed one raises :class:`DataFormatError`."""
        if not isinstance(data, Mapping):
            raise DataFormatError(f"{where}: expected a JSON object, got {type(data).__name__}")
        if data.get("format") != FORMAT_NAME or data.get("version") != FORMAT_VERSION:
            raise DataFormatError(
                f"{where}: not a {FORMAT_NAME} version {FORMAT_VERSION} object "
                f"(format={data.get('format')!r}, version={data.get('version')!r})"
            )
        unknown = sorted(set(data) - {"format", "version", "tokens"})
        if unknown:
            raise DataFormatError(f"{where}: unknown key(s) {', '.join(unknown)}")
        tokens = data.get("tokens")
        if not isinstance(tokens, list) or not all(isinstance(t, str) and t for t in tokens):
            raise DataFormatError(f"{where}: 'tokens' must be a list of non-empty strings")
        try:
            return cls(tokens)
        except ValueError as exc:
            raise DataFormatError(f"{where}: {exc}") from None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_dict` as JSON; the file is replaced atomically (never half-written)."""
        text = json.dumps(self.to_dict(), ensure_ascii=False)

        def write(tmp: str) -> None:
            Path(tmp).write_text(text, encoding="utf-8")

        atomic_write(path, write)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Vocabulary:
        """Read a file written by :meth:`save`.

        Raises:
            DataFormatError: (one line naming the file) when it is missing, unreadable, not
                JSON or not a vocabulary.
        """
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DataFormatError(f"{path}: vocabulary file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DataFormatError(f"{path}: cannot read vocabulary file ({type(exc).__name__})") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}") from None
        return cls.from_dict(data, where=str(path))


def pad_sequences(sequences: Sequence[Sequence[int] | torch.Tensor], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists (or 1-D id tensors) into one batch: the one padding helper of the package.

    Returns:
        ``ids`` LongTensor (B, T) with T the longest length (pad_id after each sequence) and
        ``lengths`` LongTensor (B,) of the true lengths.
    """
    import torch

    lengths = torch.tensor([len(seq) for seq in sequences], dtype=torch.long)
    longest = int(lengths.max()) if len(sequences) else 0
    ids = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.as_tensor(seq if isinstance(seq, torch.Tensor) else list(seq), dtype=torch.long)
    return ids, lengths


def check_special_ids(pad_id: int, bos_id: int, eos_id: int, vocab_size: int, *, size_name: str = "vocab_size") -> None:
    """Raise :class:`ConfigError` unless the special ids are distinct and inside the vocabulary."""
    if len({pad_id, bos_id, eos_id}) != 3:
        raise ConfigError("pad_id, bos_id and eos_id must be distinct")
    if not 0 <= min(pad_id, bos_id, eos_id) <= max(pad_id, bos_id, eos_id) < vocab_size:
        raise ConfigError(f"special token ids must lie in [0, {size_name}={vocab_size})")
