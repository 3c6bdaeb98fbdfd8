"""The n-grams of a list of sentences as integer arrays, so corpus metrics run in numpy.

:func:`ngram_table` splits every sentence on whitespace (``str.split()``, as pycocoevalcap's
BLEU and CIDEr do), numbers its n-grams of orders 1..max_order with ids shared by all sentences
(two n-grams get one id exactly when they are the same token tuple) and counts each n-gram per
sentence. Ids are built order by order without any Python object per n-gram: an n-gram's key
is (id of its first n - 1 tokens, id of its last token), compacted with ``np.unique``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, count

import numpy as np


@dataclass(frozen=True)
class NgramTable:
    """Per-sentence n-gram counts of S sentences, as E entries sorted by (sentence, gram).

    Attributes:
        lengths: (S,) tokens per sentence.
        sentence: (E,) sentence index of each entry.
        gram: (E,) n-gram id in 0..num_grams-1 (ids of one order are contiguous).
        order: (E,) n-gram order, 1..max_order.
        count: (E,) occurrences of the n-gram in the sentence (>= 1).
        num_grams: number of distinct n-grams of all orders.
    """

    lengths: np.ndarray
    sentence: np.ndarray
    gram: np.ndarray
    order: np.ndarray
    count: np.ndarray
    num_grams: int


def ngram_table(sentences: Sequence[str], max_order: int) -> NgramTable:
    """Counts of the n-grams (orders 1..max_order) of every sentence; see :class:`NgramTable`.

    A sentence of L tokens has max(0, L - n + 1) n-grams of order n.
    """
    split = [sentence.split() for sentence in sentences]
    lengths = np.fromiter(map(len, split), dtype=np.int64, count=len(split))
    total = int(lengths.sum())
    vocabulary: dict[str, int] = {}
    # setdefault gives each word the position of its first occurrence: one id per distinct word.
    first_seen = np.fromiter(map(vocabulary.setdefault, chain.from_iterable(split), count()), np.int64, total)
    _, token = np.unique(first_seen, return_inverse=True)  # (total,) word ids 0..V-1
    num_words = len(vocabulary)
    sentence_of = np.repeat(np.arange(len(split), dtype=np.int64), lengths)
    starts = np.cumsum(lengths) - lengths
    remaining = lengths[sentence_of] - (np.arange(total) - starts[sentence_of])  # tokens from here to the end
    sentences_parts, grams_parts, order_ends = [], [], []
    prefix = token  # prefix[i]: id of the (n-1)-gram starting at i, where it exists
    positions = np.arange(total)
    offset = 0
    for order in range(1, max_order + 1):
        if order == 1:
            valid, ids, num_ids = positions, token, num_words
        else:
            valid = positions[remaining >= order]
            keys = prefix[valid] * num_words + token[valid + order - 1]
            unique_keys, ids = np.unique(keys, return_inverse=True)
            num_ids = len(unique_keys)
            prefix = np.empty(total, dtype=np.int64)
            prefix[valid] = ids
        sentences_parts.append(sentence_of[valid])
        grams_parts.append(ids + offset)
        offset += num_ids
        order_ends.append(offset)
    num_grams = max(offset, 1)
    keys = np.concatenate(sentences_parts) * num_grams + np.concatenate(grams_parts)
    unique_keys, counts = distinct_sorted(keys, return_counts=True)
    gram = unique_keys % num_grams
    return NgramTable(
        lengths=lengths,
        sentence=unique_keys // num_grams,
        gram=gram,
        order=np.searchsorted(np.array(order_ends), gram, side="right") + 1,
        count=counts,
        num_grams=num_grams,
    )


def distinct_sorted(keys: np.ndarray, *, return_counts: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of a 1-D int array in increasing order and, if asked, how often each occurs.

    A sort and a comparison of neighbours (``np.unique`` without ``return_*`` arguments hashes,
    which is several times slower on large int64 arrays in numpy 2.x). Without
    ``return_counts`` the second array is empty.
    """
    ordered = np.sort(keys)
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, len(ordered))) if return_counts else np.empty(0, dtype=np.int64)
    return ordered[starts], counts
