"""ROUGE-L exactly as the COCO caption evaluation computes it (pycocoevalcap ``Rouge``).

Per image: with LCS the length of the longest common subsequence of candidate and reference
tokens, P = max over references of LCS / len(candidate), R = max over references of
LCS / len(reference), and ROUGE-L = (1 + beta^2) P R / (R + beta^2 P) (0 if P or R is 0),
beta = 1.2. The corpus score is the mean over images.

Like the official code, sentences are split on single spaces (``str.split(" ")``), so an empty
caption is one empty token: it never divides by zero and matches only another empty caption.
"""

from __future__ import annotations

from collections.abc import Sequence

from multimodal_rnn.metrics.corpus import Candidates, MetricScore, References, check_corpus

ROUGE_BETA = 1.2


def lcs_length(first: Sequence[str], second: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token sequences.

    Bit-parallel algorithm (Hyyro 2004): bit i of ``row`` is 1 while position i of ``first`` is
    not yet used by the best alignment with the prefix of ``second`` seen so far, so the work is
    len(second) big-integer operations instead of a len(first) x len(second) table.
    """
    return _lcs_length(_positions(first), len(first), second)


def _positions(tokens: Sequence[str]) -> dict[str, int]:
    """token -> bit mask of its positions in ``tokens``."""
    positions: dict[str, int] = {}
    for index, token in enumerate(tokens):
        positions[token] = positions.get(token, 0) | (1 << index)
    return positions


def _lcs_length(positions: dict[str, int], length: int, second: Sequence[str]) -> int:
    all_ones = (1 << length) - 1
    row = all_ones
    masks = positions.get
    for token in second:
        matches = row & masks(token, 0)
        row = ((row + matches) | (row - matches)) & all_ones
    return length - row.bit_count()


def _image_rouge_l(candidate_tokens: list[str], references: Sequence[str], beta: float) -> float:
    best_precision = 0.0
    best_recall = 0.0
    positions, length = _positions(candidate_tokens), len(candidate_tokens)  # shared by the references
    for reference in references:
        reference_tokens = reference.split(" ")
        common = _lcs_length(positions, length, reference_tokens)
        best_precision = max(best_precision, common / float(length))
        best_recall = max(best_recall, common / float(len(reference_tokens)))
    if best_precision == 0 or best_recall == 0:
        return 0.0
    return ((1 + beta**2) * best_precision * best_recall) / float(best_recall + beta**2 * best_precision)


def rouge_l_score(references: References, candidates: Candidates, beta: float = ROUGE_BETA) -> MetricScore:
    """Corpus (mean over images) and per-image ROUGE-L, named ``ROUGE_L``.

    Raises:
        InputError: mismatched ids, an image without references, or a non-string caption.
    """
    check_corpus(references, candidates)
    per_image = {
        image_id: _image_rouge_l(candidate.split(" "), references[image_id], beta)
        for image_id, candidate in candidates.items()
    }
    return MetricScore("ROUGE_L", sum(per_image.values()) / len(per_image), per_image)
