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

:class:`CiderD` keeps the document frequencies of a fixed corpus (the training references for
self-critical rewards) and scores any number of captions against it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from multimodal_rnn.errors import InputError
from multimodal_rnn.metrics.corpus import (
    Candidates,
    ImageId,
    MetricScore,
    References,
    all_ngrams,
    check_corpus,
)

CIDER_SIGMA = 6.0
CIDER_MAX_ORDER = 4
_SCALE = 10.0


class _TfidfVector(NamedTuple):
    """One sentence as CIDEr sees it: tf-idf weight of each n-gram (all orders) and L2 norm per order."""

    weights: dict[tuple[str, ...], float]
    norms: list[float]
    length: int


class CiderD:
    """CIDEr-D scorer whose document frequencies come from a fixed reference corpus.

    ``CiderD(train_references).score(candidates, references)`` scores each candidate against
    its own references with idf taken from ``train_references`` (N = its number of images), as
    self-critical sequence training does. Reference vectors are built once per distinct
    reference list within a call, so several sampled captions of one image share the work.

    Args:
        corpus_references: one list of tokenized reference captions per image, either as a
            mapping image id -> captions or as an iterable of caption lists.
        max_order: largest n-gram order (4 in the official metric).
        sigma: width of the Gaussian length penalty, in tokens (6 in the official metric).
    """

    def __init__(
        self,
        corpus_references: References | Iterable[Sequence[str]],
        *,
        max_order: int = CIDER_MAX_ORDER,
        sigma: float = CIDER_SIGMA,
    ) -> None:
        image_references = corpus_references.values() if isinstance(corpus_references, Mapping) else corpus_references
        document_frequency: Counter[tuple[str, ...]] = Counter()
        num_images = 0
        for references in image_references:
            if isinstance(references, str):
                raise InputError("CiderD corpus: each image needs a list of reference captions, got a string")
            num_images += 1
            ngrams: set[tuple[str, ...]] = set()
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

    def _score_vectors(self, candidate: _TfidfVector, references: list[_TfidfVector]) -> float:
        two_sigma_squared = 2 * self.sigma**2
        total = 0.0
        for reference in references:
            overlap = [0.0] * self.max_order  # sum of min(h, r) * r per order
            reference_weight = reference.weights.get
            for ngram, hyp_weight in candidate.weights.items():
                ref_weight = reference_weight(ngram)
                if ref_weight:
                    overlap[len(ngram) - 1] += min(hyp_weight, ref_weight) * ref_weight
            penalty = math.exp(-float(candidate.length - reference.length) ** 2 / two_sigma_squared)
            for order_index in range(self.max_order):
                norm_product = candidate.norms[order_index] * reference.norms[order_index]
                cosine = overlap[order_index] / norm_product if norm_product != 0 else overlap[order_index]
                total += cosine * penalty
        return total / self.max_order / len(references) * _SCALE

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
        # Candidates sharing one reference list (samples of one image) share its vectors; the
        # vectors of a group are dropped once its candidates are scored, so memory stays flat.
        groups: dict[tuple[str, ...], list[int]] = {}
        for index, image_references in enumerate(references):
            if isinstance(image_references, str) or len(image_references) == 0:
                raise InputError(f"CiderD: candidate {index} needs a non-empty list of reference captions")
            groups.setdefault(tuple(image_references), []).append(index)
        scores = [0.0] * len(candidates)
        for group_references, indices in groups.items():
            reference_vectors = [self._vectorize(reference) for reference in group_references]
            for index in indices:
                scores[index] = self._score_vectors(self._vectorize(candidates[index]), reference_vectors)
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
    per_image = CiderD(references, max_order=max_order, sigma=sigma).score(candidates, references)
    return MetricScore("CIDEr", sum(per_image.values()) / len(per_image), per_image)
