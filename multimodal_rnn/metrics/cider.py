"""CIDEr-D exactly as the COCO caption evaluation computes it (pycocoevalcap ``Cider``).

Each sentence becomes, for n = 1..4, a vector of tf-idf weights over its n-grams:
tf = the raw count, idf = log(N) - log(max(1, df)), where df is the number of images whose
references contain the n-gram and N the number of images of the reference corpus. For one
candidate h and one reference r, per order n:

    sim_n = sum_g min(h_g, r_g) * r_g / (|h| |r|) * exp(-(len_h - len_r)^2 / (2 sigma^2)),

with sigma = 6 and the division skipped when a norm is 0. The image score is
10 * mean over n of (mean over references of sim_n); the corpus score is the mean over images.

Quirks of the official code kept here on purpose (they change the numbers):

* the "length" in the Gaussian penalty is the number of bigrams, max(0, L - 1), so an empty
  caption and a one-word caption have the same length 0;
* with :func:`cider_d_score` the corpus is the references being evaluated, so a single image
  (N = 1) gives every n-gram idf 0 and every score 0;
* an n-gram absent from the corpus gets df 1 (idf log N); with :func:`cider_d_score` only
  candidate n-grams can be absent, with :class:`CiderD` reference n-grams can be too.

:func:`cider_d_score` scores a whole corpus at once in numpy (:mod:`multimodal_rnn.metrics.ngrams`).
:class:`CiderD` keeps the document frequencies of a fixed corpus (the training references for
self-critical rewards) and scores any number of captions against it, keeping the tf-idf vectors
of every reference list it has seen, so a reference is vectorized once per training run.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

import numpy as np

from multimodal_rnn.errors import InputError
from multimodal_rnn.metrics.corpus import (
    Candidates,
    ImageId,
    MetricScore,
    References,
    all_ngrams,
    check_corpus,
)
from multimodal_rnn.metrics.ngrams import CorpusNgrams, corpus_ngrams, distinct_sorted

CIDER_SIGMA = 6.0
CIDER_MAX_ORDER = 4
_SCALE = 10.0

Ngram = tuple[str, ...]


class _TfidfVector(NamedTuple):
    """One sentence as CIDEr sees it: tf-idf weight of each n-gram (all orders) and L2 norm per order."""

    weights: dict[Ngram, float]
    norms: list[float]
    length: int


class _ReferenceVectors(NamedTuple):
    """The references of one image: n-gram -> [(reference index, tf-idf weight)], norms, lengths."""

    postings: dict[Ngram, list[tuple[int, float]]]
    norms: list[list[float]]
    lengths: list[int]


class CiderD:
    """CIDEr-D scorer whose document frequencies come from a fixed reference corpus.

    ``CiderD(train_references).score(candidates, references)`` scores each candidate against
    its own references with idf taken from ``train_references`` (N = its number of images), as
    self-critical sequence training does. The tf-idf vectors of each distinct reference list
    are built on its first use and kept (memory grows with the number of distinct reference
    lists scored, at most the training set); ``cache_references=False`` rebuilds them on every
    call instead. The scores are the same either way, bit for bit.

    Args:
        corpus_references: one list of tokenized reference captions per image, either as a
            mapping image id -> captions or as an iterable of caption lists.
        max_order: largest n-gram order (4 in the official metric).
        sigma: width of the Gaussian length penalty, in tokens (6 in the official metric).
        cache_references: keep reference vectors between calls.
    """

    def __init__(
        self,
        corpus_references: References | Iterable[Sequence[str]],
        *,
        max_order: int = CIDER_MAX_ORDER,
        sigma: float = CIDER_SIGMA,
        cache_references: bool = True,
    ) -> None:
        image_references = corpus_references.values() if isinstance(corpus_references, Mapping) else corpus_references
        document_frequency: Counter[Ngram] = Counter()
        num_images = 0
        for references in image_references:
            if isinstance(references, str):
                raise InputError("CiderD corpus: each image needs a list of reference captions, got a string")
            num_images += 1
            ngrams: set[Ngram] = set()
            for reference in references:
                ngrams.update(all_ngrams(reference.split(), max_order))
            document_frequency.update(ngrams)
        if num_images == 0:
            raise InputError("CiderD corpus: no reference captions to take document frequencies from")
        self.max_order = max_order
        self.sigma = sigma
        self.num_images = num_images
        self._log_num_images = math.log(float(num_images))
        self._idf = {ngram: self._log_num_images - math.log(float(df)) for ngram, df in document_frequency.items()}
        self._cache: dict[tuple[str, ...], _ReferenceVectors] | None = {} if cache_references else None

    def _vectorize(self, sentence: str) -> _TfidfVector:
        tokens = sentence.split()
        idf = self._idf.get
        unseen_idf = self._log_num_images
        counts = Counter(all_ngrams(tokens, self.max_order))
        weights = {ngram: count * idf(ngram, unseen_idf) for ngram, count in counts.items()}
        squares = [0.0] * self.max_order
        for ngram, weight in weights.items():
            squares[len(ngram) - 1] += weight * weight
        return _TfidfVector(weights, [math.sqrt(s) for s in squares], max(0, len(tokens) - 1))

    def _reference_vectors(self, references: tuple[str, ...]) -> _ReferenceVectors:
        cached = self._cache.get(references) if self._cache is not None else None
        if cached is not None:
            return cached
        postings: dict[Ngram, list[tuple[int, float]]] = {}
        vectors = [self._vectorize(reference) for reference in references]
        for index, vector in enumerate(vectors):
            for ngram, weight in vector.weights.items():
                postings.setdefault(ngram, []).append((index, weight))
        result = _ReferenceVectors(postings, [v.norms for v in vectors], [v.length for v in vectors])
        if self._cache is not None:
            self._cache[references] = result
        return result

    def _score_vector(self, candidate: _TfidfVector, references: _ReferenceVectors) -> float:
        # Sums run in the order of the per-reference formula (candidate n-grams, then references,
        # then orders), so the scores do not depend on the cache.
        max_order = self.max_order
        overlaps = [[0.0] * max_order for _ in references.lengths]  # sum of min(h, r) * r per order
        postings = references.postings.get
        for ngram, hyp_weight in candidate.weights.items():
            matches = postings(ngram)
            if matches:
                order_index = len(ngram) - 1
                for index, ref_weight in matches:
                    if ref_weight:
                        overlaps[index][order_index] += min(hyp_weight, ref_weight) * ref_weight
        two_sigma_squared = 2 * self.sigma**2
        total = 0.0
        for overlap, norms, length in zip(overlaps, references.norms, references.lengths):
            penalty = math.exp(-(float(candidate.length - length) ** 2) / two_sigma_squared)
            for order_index in range(max_order):
                norm_product = candidate.norms[order_index] * norms[order_index]
                cosine = overlap[order_index] / norm_product if norm_product != 0 else overlap[order_index]
                total += cosine * penalty
        return total / max_order / len(references.lengths) * _SCALE

    def score_batch(self, candidates: Sequence[str], references: Sequence[Sequence[str]]) -> list[float]:
        """CIDEr-D of ``candidates[i]`` against ``references[i]``, for i in 0..B-1.

        Args:
            candidates: (B,) tokenized captions; several may share one image.
            references: (B,) lists of tokenized reference captions, one list per candidate.

        Returns:
            (B,) scores, on the official 0..~10 scale (x10 included).
        """
        if len(candidates) != len(references):
            raise InputError(f"CiderD: {len(candidates)} candidates but {len(references)} reference lists")
        scores = [0.0] * len(candidates)
        calls: dict[tuple[str, ...], _ReferenceVectors] = {}  # reference lists of this call
        candidate_vectors: dict[str, _TfidfVector] = {}  # samples often repeat a caption
        for index, image_references in enumerate(references):
            if isinstance(image_references, str) or len(image_references) == 0:
                raise InputError(f"CiderD: candidate {index} needs a non-empty list of reference captions")
            key = tuple(image_references)
            reference_vectors = calls.get(key)
            if reference_vectors is None:
                reference_vectors = calls[key] = self._reference_vectors(key)
            candidate = candidates[index]
            vector = candidate_vectors.get(candidate)
            if vector is None:
                vector = candidate_vectors[candidate] = self._vectorize(candidate)
            scores[index] = self._score_vector(vector, reference_vectors)
        return scores

    def score(self, candidates: Candidates, references: References) -> dict[ImageId, float]:
        """Per-image CIDEr-D of ``candidates[image_id]`` against ``references[image_id]``.

        Raises:
            InputError: mismatched ids, an image without references, or a non-string caption.
        """
        check_corpus(references, candidates)
        image_ids = list(candidates)
        scores = self.score_batch([candidates[i] for i in image_ids], [references[i] for i in image_ids])
        return dict(zip(image_ids, scores))


def cider_d_of(ngrams: CorpusNgrams, image_ids: Sequence[ImageId], *, sigma: float = CIDER_SIGMA) -> MetricScore:
    """CIDEr-D of a corpus whose n-grams are counted (``image_ids`` in the corpus's image order),
    idf from its references (N = its number of images)."""
    table, max_order, num_images = ngrams.table, ngrams.max_order, ngrams.num_images
    num_grams, is_ref, image_of_ref = table.num_grams, ngrams.is_ref, ngrams.image_of_ref
    document_frequency = np.bincount(distinct_sorted(ngrams.ref_keys)[0] % num_grams, minlength=num_grams)
    idf = math.log(float(num_images)) - np.log(np.maximum(document_frequency, 1).astype(np.float64))
    weight = table.count * idf[table.gram]
    slot = table.sentence * max_order + table.order - 1  # (sentence, order) of each entry
    norms = np.sqrt(np.bincount(slot, weight * weight, minlength=len(table.lengths) * max_order))
    norms = norms.reshape(-1, max_order)
    candidate_keys, ref_keys = ngrams.candidate_keys, ngrams.ref_keys
    candidate_weight, ref_weight = weight[~is_ref], weight[is_ref]
    overlap: np.ndarray = np.zeros(len(image_of_ref) * max_order)  # sum of min(h, r) * r per (reference, order)
    if len(candidate_keys):
        found = np.minimum(np.searchsorted(candidate_keys, ref_keys), len(candidate_keys) - 1)
        match = candidate_keys[found] == ref_keys
        hyp = candidate_weight[found[match]]
        ref = ref_weight[match]
        overlap = np.bincount(
            slot[is_ref][match] - num_images * max_order,
            np.minimum(hyp, ref) * ref,
            minlength=len(image_of_ref) * max_order,
        )
    overlap = overlap.reshape(-1, max_order)  # (R, orders)
    hyp_norms, ref_norms = norms[image_of_ref], norms[num_images:]
    nonzero = (hyp_norms != 0) & (ref_norms != 0)
    cosine = np.where(nonzero, overlap / np.where(nonzero, hyp_norms * ref_norms, 1.0), overlap)
    bigrams = np.maximum(table.lengths - 1, 0)  # the official "length" counts bigrams
    delta = (bigrams[image_of_ref] - bigrams[num_images:]).astype(np.float64)
    penalty = np.exp(-(delta**2) / (2 * sigma**2))
    per_ref = (cosine * penalty[:, None]).sum(axis=1)
    scores = np.bincount(image_of_ref, per_ref, minlength=num_images) / max_order / ngrams.refs_per_image * _SCALE
    per_image = dict(zip(image_ids, scores.tolist()))
    return MetricScore("CIDEr", sum(per_image.values()) / len(per_image), per_image)


def cider_d_score(
    references: References,
    candidates: Candidates,
    *,
    max_order: int = CIDER_MAX_ORDER,
    sigma: float = CIDER_SIGMA,
) -> MetricScore:
    """Corpus and per-image CIDEr-D named ``CIDEr`` (what COCO reports), idf from ``references``.

    Raises:
        InputError: mismatched ids, an image without references, or a non-string caption.
    """
    check_corpus(references, candidates)
    return cider_d_of(corpus_ngrams(references, candidates, max_order), list(candidates), sigma=sigma)
