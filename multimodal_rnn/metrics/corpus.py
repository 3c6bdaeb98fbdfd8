"""A caption corpus as the caption metrics take it, its checks, and the result type they return.

A corpus is two mappings keyed by image id: ``references[image_id]`` is the list of reference
captions of that image and ``candidates[image_id]`` the one caption being scored. Every string
is already tokenized the COCO way (lowercase tokens joined by single spaces, punctuation
dropped; see :func:`multimodal_rnn.text.vocab.tokenize`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

from multimodal_rnn.errors import InputError, first_ids

ImageId = Any
"""Any hashable image id (ints in COCO files). ``Any`` rather than ``Hashable``: mapping keys are
invariant, so ``dict[int, str]`` would not be a ``Mapping[Hashable, str]``."""
References = Mapping[ImageId, Sequence[str]]
Candidates = Mapping[ImageId, str]

@dataclass(frozen=True)
class MetricScore:
    """A corpus-level score and the per-image scores it summarises.

    ``name`` follows the COCO caption evaluation (``Bleu_4``, ``ROUGE_L``, ``CIDEr``, ``METEOR``);
    ``per_image`` is keyed by image id in the order of the candidates.
    """

    name: str
    value: float
    per_image: dict[ImageId, float]


@dataclass(frozen=True)
class MetricUnavailable:
    """A metric that could not be computed here, with a one-line reason (e.g. Java not found)."""

    name: str
    reason: str


def check_corpus(references: References, candidates: Candidates) -> None:
    """Refuse a corpus the metrics cannot score, with a one-line :class:`InputError`.

    The two mappings must hold the same non-empty set of image ids, every candidate must be a
    string and every image must have at least one reference string. (pycocoevalcap asserts on
    the same conditions.)
    """
    if not candidates:
        raise InputError("no captions to score: the candidate set is empty")
    missing = [i for i in candidates if i not in references]
    if missing:
        raise InputError(f"candidates for image ids without references: {first_ids(missing)}")
    extra = [i for i in references if i not in candidates]
    if extra:
        raise InputError(f"references for image ids without a candidate: {first_ids(extra)}")
    for image_id, candidate in candidates.items():
        if not isinstance(candidate, str):
            raise InputError(f"image {image_id!r}: candidate caption is {type(candidate).__name__}, not a string")
        refs = references[image_id]
        if isinstance(refs, str) or not all(isinstance(r, str) for r in refs):
            raise InputError(f"image {image_id!r}: references must be a list of strings")
        if len(refs) == 0:
            raise InputError(f"image {image_id!r}: no reference captions")


def all_ngrams(tokens: Sequence[str], max_order: int) -> Iterator[tuple[str, ...]]:
    """Every n-gram of ``tokens`` for n = 1..max_order, in order of n then position (order = tuple length)."""
    shifted = [tokens[start:] for start in range(max_order)]  # shifted[s][i] == tokens[i + s]
    return chain.from_iterable(zip(*shifted[:order]) for order in range(1, max_order + 1))
