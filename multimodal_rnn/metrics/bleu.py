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
from dataclasses import dataclass

from multimodal_rnn.metrics.corpus import Candidates, ImageId, MetricScore, References, check_corpus, ngram_counts

_TINY = 1e-15  # added to match counts and candidate length
_SMALL = 1e-9  # added to n-gram counts and reference length


@dataclass(frozen=True)
class _BleuStats:
    """Sufficient statistics of one image: lengths, n-gram counts and clipped matches per order."""

    candidate_length: int
    reference_length: int
    guess: tuple[int, ...]
    correct: tuple[int, ...]


def _image_stats(candidate: str, references: Sequence[str], max_order: int) -> _BleuStats:
    max_reference_counts: dict[tuple[str, ...], int] = {}
    reference_lengths = []
    for reference in references:
        tokens = reference.split()
        reference_lengths.append(len(tokens))
        for counts in ngram_counts(tokens, max_order):
            for ngram, count in counts.items():
                if count > max_reference_counts.get(ngram, 0):
                    max_reference_counts[ngram] = count
    tokens = candidate.split()
    length = len(tokens)
    correct = [0] * max_order
    for order_index, counts in enumerate(ngram_counts(tokens, max_order)):
        correct[order_index] = sum(min(count, max_reference_counts.get(ngram, 0)) for ngram, count in counts.items())
    closest = min((abs(ref_length - length), ref_length) for ref_length in reference_lengths)[1]
    guess = tuple(max(0, length - order + 1) for order in range(1, max_order + 1))
    return _BleuStats(length, closest, guess, tuple(correct))


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
    per_image: list[dict[ImageId, float]] = [{} for _ in range(max_order)]
    total_guess = [0] * max_order
    total_correct = [0] * max_order
    total_candidate_length = 0
    total_reference_length = 0
    for image_id, candidate in candidates.items():
        stats = _image_stats(candidate, references[image_id], max_order)
        for order_index in range(max_order):
            total_guess[order_index] += stats.guess[order_index]
            total_correct[order_index] += stats.correct[order_index]
        total_candidate_length += stats.candidate_length
        total_reference_length += stats.reference_length
        image_scores = _combine(stats.guess, stats.correct, stats.candidate_length, stats.reference_length)
        for order_index, score in enumerate(image_scores):
            per_image[order_index][image_id] = score
    corpus = _combine(total_guess, total_correct, total_candidate_length, total_reference_length)
    return [
        MetricScore(f"Bleu_{order_index + 1}", corpus[order_index], per_image[order_index])
        for order_index in range(max_order)
    ]
