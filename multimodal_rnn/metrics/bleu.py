"""BLEU-1..4 exactly as the COCO caption evaluation computes it (pycocoevalcap ``Bleu(4)``).

Per image: tokens are the candidate split on whitespace; an n-gram match is clipped at the
largest count of that n-gram in any single reference; the candidate has max(0, L - n + 1)
n-grams of order n; the effective reference length is the reference length closest to the
candidate length (a tie goes to the shorter reference). Corpus BLEU sums matches, n-gram counts
and lengths over images before combining:

    BLEU-n = (prod_{k <= n} (correct_k + 1e-15) / (guess_k + 1e-9)) ** (1 / n) * BP,
    BP = exp(1 - r / c) if c < r else 1, with c / r computed as (c + 1e-15) / (r + 1e-9).

Per-image BLEU uses the same formula on one image's counts. The small constants make an empty
candidate score (nearly) 0 instead of dividing by zero, exactly as the official code does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from multimodal_rnn.metrics.corpus import Candidates, ImageId, MetricScore, References, check_corpus
from multimodal_rnn.metrics.ngrams import CorpusNgrams, corpus_ngrams

_TINY = 1e-15  # added to match counts and candidate length
_SMALL = 1e-9  # added to n-gram counts and reference length


def _corpus_stats(ngrams: CorpusNgrams) -> tuple[list[int], list[int], list[list[int]], list[list[int]]]:
    """Per image: candidate length, effective reference length, n-gram counts per order and
    clipped matches per order."""
    table, max_order, num_images = ngrams.table, ngrams.max_order, ngrams.num_images
    is_ref, image_of_ref, refs_per_image = ngrams.is_ref, ngrams.image_of_ref, ngrams.refs_per_image
    # Largest count of each (image, n-gram) in any single reference: one sort of key * stride + count.
    stride = int(table.count.max(initial=0)) + 1
    ordered = np.sort(ngrams.ref_keys * stride + table.count[is_ref])
    last = np.ones(len(ordered), dtype=bool)
    last[:-1] = ordered[1:] // stride != ordered[:-1] // stride
    max_keys, max_counts = ordered[last] // stride, ordered[last] % stride
    candidate_keys = ngrams.candidate_keys
    clipped = np.zeros(len(candidate_keys), dtype=np.int64)
    if len(max_keys):
        found = np.minimum(np.searchsorted(max_keys, candidate_keys), len(max_keys) - 1)
        match = max_keys[found] == candidate_keys
        clipped[match] = np.minimum(table.count[~is_ref][match], max_counts[found[match]])
    slot = table.sentence[~is_ref] * max_order + table.order[~is_ref] - 1
    correct = np.bincount(slot, clipped, minlength=num_images * max_order).reshape(num_images, max_order)
    length = table.lengths[:num_images]
    guess = np.maximum(length[:, None] - np.arange(max_order)[None, :], 0)
    # Closest reference length, a tie going to the shorter: the smallest (|r - c|, r).
    ref_lengths = table.lengths[num_images:]
    length_stride = int(ref_lengths.max(initial=0)) + 1
    closeness = np.abs(ref_lengths - length[image_of_ref]) * length_stride + ref_lengths
    closest = np.minimum.reduceat(closeness, np.cumsum(refs_per_image) - refs_per_image) % length_stride
    return length.tolist(), closest.tolist(), guess.tolist(), np.rint(correct).astype(np.int64).tolist()


def _combine(guess: Sequence[int], correct: Sequence[int], candidate_length: int, reference_length: int) -> list[float]:
    """BLEU-1..n from summed statistics, in the official order of floating-point operations."""
    scores = []
    product = 1.0
    for order_index in range(len(guess)):
        product *= (float(correct[order_index]) + _TINY) / (float(guess[order_index]) + _SMALL)
        scores.append(product ** (1.0 / (order_index + 1)))
    ratio = (candidate_length + _TINY) / (reference_length + _SMALL)
    if ratio < 1:
        brevity_penalty = math.exp(1 - 1 / ratio)
        scores = [score * brevity_penalty for score in scores]
    return scores


def bleu_score(references: References, candidates: Candidates, max_order: int = 4) -> list[MetricScore]:
    """Corpus and per-image BLEU-1..``max_order`` (entry ``n - 1`` is BLEU-n, named ``Bleu_n``).

    Args:
        references: image id -> tokenized reference captions (at least one per image).
        candidates: image id -> one tokenized candidate caption; same ids as ``references``.

    Raises:
        InputError: mismatched ids, an image without references, or a non-string caption.
    """
    check_corpus(references, candidates)
    return bleu_of(corpus_ngrams(references, candidates, max_order), list(candidates))


def bleu_of(ngrams: CorpusNgrams, image_ids: Sequence[ImageId]) -> list[MetricScore]:
    """BLEU-1..``ngrams.max_order`` of a corpus whose n-grams are counted (``image_ids`` in the
    corpus's image order), as :func:`bleu_score` reports them."""
    max_order = ngrams.max_order
    lengths, closest, guesses, corrects = _corpus_stats(ngrams)
    per_image: list[dict[ImageId, float]] = [{} for _ in range(max_order)]
    for image_id, length, reference_length, guess, correct in zip(image_ids, lengths, closest, guesses, corrects):
        image_scores = _combine(guess, correct, length, reference_length)
        for order_index, score in enumerate(image_scores):
            per_image[order_index][image_id] = score
    total_guess = [sum(column) for column in zip(*guesses)]
    total_correct = [sum(column) for column in zip(*corrects)]
    corpus = _combine(total_guess, total_correct, sum(lengths), sum(closest))
    return [
        MetricScore(f"Bleu_{order_index + 1}", corpus[order_index], per_image[order_index])
        for order_index in range(max_order)
    ]
