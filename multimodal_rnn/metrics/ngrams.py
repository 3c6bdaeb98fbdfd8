"""The n-grams of a list of sentences as integer arrays, so corpus metrics run in numpy.

:func:`ngram_table` splits every sentence on whitespace (``str.split()``, as pycocoevalcap's
BLEU and CIDEr do), numbers its n-grams of orders 1..max_order with ids shared by all sentences
(two n-grams get one id exactly when they are the same token tuple) and counts each n-gram per
sentence. Ids are built order by order without any Python object per n-gram: an n-gram's key
is (id of its first n - 1 tokens, id of its last token), compacted with ``np.unique``.
:func:`corpus_ngrams` builds that table once for a caption corpus, for BLEU and CIDEr-D both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import count
from typing import Any

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
    # One list of all tokens (no list per sentence kept alive, which would wake the garbage
    # collector over and over); the sentence lengths come from short-lived splits.
    lengths = np.fromiter(map(len, map(str.split, sentences)), dtype=np.int64, count=len(sentences))
    words = " ".join(sentences).split()
    total = len(words)
    vocabulary: dict[str, int] = {}
    # setdefault gives each word the position of its first occurrence: one id per distinct word.
    first_seen = np.fromiter(map(vocabulary.setdefault, words, count()), np.int64, total)
    num_words = len(vocabulary)
    compact = np.empty(total, dtype=np.int64)
    compact[np.fromiter(vocabulary.values(), np.int64, num_words)] = np.arange(num_words)
    token = compact[first_seen]  # (total,) word ids 0..V-1, in order of first occurrence
    sentence_of = np.repeat(np.arange(len(sentences), dtype=np.int64), lengths)
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


@dataclass(frozen=True)
class CorpusNgrams:
    """The :class:`NgramTable` of a caption corpus of C images and R references in all.

    Sentence i < C is the candidate of image i; the references follow, image after image.

    Attributes:
        table: the n-gram counts of the C + R sentences.
        max_order: largest n-gram order counted.
        refs_per_image: (C,) references per image.
        image_of_ref: (R,) image of each reference.
        is_ref: (E,) whether each table entry belongs to a reference.
        ref_keys: (E_ref,) image * num_grams + gram of each reference entry.
        candidate_keys: (E_cand,) image * num_grams + gram of each candidate entry, increasing.
    """

    table: NgramTable
    max_order: int
    refs_per_image: np.ndarray
    image_of_ref: np.ndarray
    is_ref: np.ndarray
    ref_keys: np.ndarray
    candidate_keys: np.ndarray

    @property
    def num_images(self) -> int:
        return len(self.refs_per_image)


def corpus_ngrams(
    references: Mapping[Any, Sequence[str]], candidates: Mapping[Any, str], max_order: int
) -> CorpusNgrams:
    """The n-grams of a checked corpus (see :func:`~multimodal_rnn.metrics.corpus.check_corpus`),
    images in the order of ``candidates``."""
    image_ids = list(candidates)
    num_images = len(image_ids)
    reference_lists = [references[i] for i in image_ids]
    refs_per_image = np.fromiter(map(len, reference_lists), dtype=np.int64, count=num_images)
    sentences = [candidates[i] for i in image_ids]
    sentences.extend(r for refs in reference_lists for r in refs)
    table = ngram_table(sentences, max_order)
    image_of_ref = np.repeat(np.arange(num_images), refs_per_image)
    image = np.concatenate([np.arange(num_images), image_of_ref])  # (S,)
    is_ref = table.sentence >= num_images
    keys = image[table.sentence] * table.num_grams + table.gram
    return CorpusNgrams(table, max_order, refs_per_image, image_of_ref, is_ref, keys[is_ref], keys[~is_ref])
