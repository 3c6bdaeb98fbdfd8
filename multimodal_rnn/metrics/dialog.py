"""Visual dialog (VisDial v1.0) retrieval metrics, as visdial-challenge-starter-pytorch ``metrics.py`` computes them.

Each round offers N = 100 answer options and a model scores all of them. Then:

* the **rank** of an option is its 1-based position after sorting the scores in descending
  order (:func:`ranks_from_scores`); the rank of the ground-truth option (``gt_index``) is what
  the sparse metrics read;
* **R@k** = share of rounds whose ground-truth rank is <= k (k = 1, 5, 10); **mean rank** =
  mean of the ground-truth ranks; **MRR** = mean of 1 / rank (:func:`retrieval_metrics`);
* **NDCG**, on the one densely annotated round per dialog (``gt_relevance``: 100 floats):
  k = the number of options with relevance > 0; DCG@k = sum over the model's top k options
  of ``relevance / log2(position + 1)`` (positions 1..k); divided by the ideal DCG@k (the
  relevances sorted descending) and averaged over rounds (:func:`ndcg`).

**Ties.** The official code sorts with ``torch.sort(descending=True)``, which is not stable:
the order it gives equal scores is unspecified (with torch 2.x on CPU a few equal scores come
out in index order, but 100 equal scores do not), so on tied scores its numbers depend on
the torch build. Here equal scores are ordered by option index, lowest first (a stable
descending sort, ``torch.sort(..., stable=True)``'s order): scores ``[1, 3, 3, 0]`` give ranks
``[3, 1, 2, 4]``. Without ties both agree exactly. The averages are computed in float64
(the official code averages float32 tensors: differences below 1e-6).

Submissions (:func:`write_submission`, :func:`read_submission`) are what the VisDial
evaluation server reads: ``[{"image_id": int, "round_id": int, "ranks": [100 ints]}]`` with
1-based ``round_id`` and ranks a permutation of 1..100. :func:`evaluate_submission` scores one
against plain ground truth (gt indices and dense relevances per ``(image_id, round_id)``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from multimodal_rnn.errors import DataFormatError, InputError
from multimodal_rnn.files import MAX_RESULTS_FILE_BYTES, read_json, require_keys, write_json

__all__ = [
    "DialogEvaluation",
    "METRIC_NAMES",
    "NUM_OPTIONS",
    "RECALL_AT",
    "RoundKey",
    "check_submission",
    "evaluate_submission",
    "gt_rank",
    "ndcg",
    "ranks_from_scores",
    "read_submission",
    "retrieval_metrics",
    "write_submission",
]

NUM_OPTIONS = 100
"""Answer options per VisDial round; submissions rank exactly this many."""
RECALL_AT = (1, 5, 10)
METRIC_NAMES = ("r@1", "r@5", "r@10", "mean_rank", "mrr", "ndcg")
"""Keys of :attr:`DialogEvaluation.metrics`, in the order tables print them."""

RoundKey = tuple[int, int]
"""``(image_id, round_id)``, round_id 1-based as in VisDial files and submissions."""


def ranks_from_scores(scores: Sequence[float]) -> list[int]:
    """1-based rank of every option: the highest score gets 1; equal scores rank by option index.

    Args:
        scores: one finite number per option (any count; VisDial has 100).

    Returns:
        ``ranks[i]`` = position of option ``i`` after a stable descending sort, a permutation of 1..N.

    Raises:
        InputError: a score is NaN or infinite.
    """
    values = [float(score) for score in scores]
    if not all(math.isfinite(value) for value in values):
        raise InputError("option scores must be finite numbers (got NaN or infinity)")
    order = sorted(range(len(values)), key=lambda index: -values[index])  # Python's sort is stable
    ranks = [0] * len(values)
    for position, index in enumerate(order, start=1):
        ranks[index] = position
    return ranks


def gt_rank(scores: Sequence[float], gt_index: int) -> int:
    """The 1-based rank of option ``gt_index`` among ``scores`` (see :func:`ranks_from_scores`)."""
    if not 0 <= gt_index < len(scores):
        raise InputError(f"gt_index {gt_index} is not an option index (0..{len(scores) - 1})")
    return ranks_from_scores(scores)[gt_index]


def retrieval_metrics(gt_ranks: Sequence[int]) -> dict[str, float]:
    """R@1, R@5, R@10 (fractions 0..1), mean rank and MRR of the ground-truth ranks (1-based).

    Returns:
        ``{"r@1", "r@5", "r@10", "mean_rank", "mrr"}``.

    Raises:
        InputError: no ranks, or a rank below 1.
    """
    ranks = [int(rank) for rank in gt_ranks]
    if not ranks:
        raise InputError("no ranked rounds to score")
    if min(ranks) < 1:
        raise InputError(f"ranks are 1-based, got {min(ranks)}")
    count = len(ranks)
    metrics = {f"r@{k}": sum(rank <= k for rank in ranks) / count for k in RECALL_AT}
    metrics["mean_rank"] = sum(ranks) / count
    metrics["mrr"] = sum(1.0 / rank for rank in ranks) / count
    return metrics


def ndcg(ranks: Sequence[int], relevance: Sequence[float]) -> float:
    """NDCG of one round: the model's ranks (a permutation of 1..N) against dense relevances.

    k = number of options with relevance > 0; the model's top k options (ranks 1..k) give
    DCG@k = sum_i rel_i / log2(i + 1); the ideal DCG@k takes the k largest relevances.

    Raises:
        InputError: lengths differ, ranks are not a permutation of 1..N, a relevance is negative
            or not finite, or no option is relevant (the official code would return NaN).
    """
    if len(ranks) != len(relevance):
        raise InputError(f"{len(ranks)} ranks but {len(relevance)} relevance scores")
    _check_permutation(ranks, "ranks")
    values = [float(value) for value in relevance]
    if not all(math.isfinite(value) and value >= 0.0 for value in values):
        raise InputError("relevance scores must be finite and >= 0")
    k = sum(value > 0.0 for value in values)
    if k == 0:
        raise InputError("no option has a relevance > 0: NDCG is undefined")
    by_rank = [0.0] * len(values)
    for index, rank in enumerate(ranks):
        by_rank[rank - 1] = values[index]
    dcg = _dcg(by_rank[:k])
    ideal = _dcg(sorted(values, reverse=True)[:k])
    return dcg / ideal


def _dcg(relevances: Sequence[float]) -> float:
    return sum(value / math.log2(position + 1) for position, value in enumerate(relevances, start=1))


def _check_permutation(ranks: Sequence[int], what: str) -> None:
    if sorted(ranks) != list(range(1, len(ranks) + 1)):
        raise InputError(f"{what} must be a permutation of 1..{len(ranks)}")


def write_submission(path: str | os.PathLike[str], entries: Sequence[Mapping[str, Any]]) -> None:
    """Write ``[{"image_id", "round_id", "ranks"}]`` atomically, after :func:`check_submission`."""
    write_json(path, check_submission(entries, where=str(path)))


def read_submission(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read and check a submission file (see :func:`check_submission`)."""
    return check_submission(read_json(path, max_bytes=MAX_RESULTS_FILE_BYTES), where=str(path))


def check_submission(entries: Any, *, where: str = "submission") -> list[dict[str, Any]]:
    """Validate a submission and return it as plain dicts (ints, lists), in the given order.

    Every entry needs an integer ``image_id``, an integer ``round_id`` >= 1 and ``ranks``, a
    permutation of 1..100; an ``(image_id, round_id)`` may appear once.

    Raises:
        DataFormatError: the first problem, naming the entry and its image and round.
    """
    if not isinstance(entries, list):
        raise DataFormatError(
            f"{where}: expected a JSON list of {{image_id, round_id, ranks}}, got {type(entries).__name__}"
        )
    checked: list[dict[str, Any]] = []
    seen: set[RoundKey] = set()
    for position, entry in enumerate(entries):
        require_keys(entry, ("image_id", "round_id", "ranks"), where=f"{where}: entry {position}")
        image_id, round_id, ranks = entry["image_id"], entry["round_id"], entry["ranks"]
        if not _is_int(image_id) or not _is_int(round_id) or round_id < 1:
            raise DataFormatError(f"{where}: entry {position}: image_id must be an integer and round_id an integer "
                                  f">= 1, got {image_id!r} and {round_id!r}")
        label = f"{where}: image {image_id} round {round_id}"
        if (image_id, round_id) in seen:
            raise DataFormatError(f"{label}: listed twice")
        seen.add((image_id, round_id))
        if not isinstance(ranks, list) or len(ranks) != NUM_OPTIONS or not all(_is_int(rank) for rank in ranks):
            raise DataFormatError(f"{label}: 'ranks' must be a list of {NUM_OPTIONS} integers")
        if sorted(ranks) != list(range(1, NUM_OPTIONS + 1)):
            raise DataFormatError(f"{label}: 'ranks' must be a permutation of 1..{NUM_OPTIONS}")
        checked.append({"image_id": image_id, "round_id": round_id, "ranks": list(ranks)})
    return checked


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class DialogEvaluation:
    """Scores of one submission.

    Attributes:
        metrics: ``r@1``, ``r@5``, ``r@10`` (0..1), ``mean_rank``, ``mrr`` over the submitted
            rounds that have a ground-truth answer, and ``ndcg`` over the densely annotated
            rounds; a metric is None when there is nothing to compute it on.
        num_rounds: submitted rounds with a ground-truth answer (the sparse metrics' count).
        num_dense_rounds: densely annotated rounds scored (NDCG's count).
        per_round: ``{"image_id", "round_id", "gt_rank"}`` (and ``"ndcg"`` on dense rounds) per
            submitted round that is scored, in submission order.
    """

    metrics: dict[str, float | None]
    num_rounds: int
    num_dense_rounds: int
    per_round: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The evaluation as JSON-ready data."""
        return {"metrics": dict(self.metrics), "num_rounds": self.num_rounds,
                "num_dense_rounds": self.num_dense_rounds, "per_round": list(self.per_round)}


def evaluate_submission(
    submission: Sequence[Mapping[str, Any]],
    gt_indices: Mapping[RoundKey, int | None],
    dense_relevance: Mapping[RoundKey, Sequence[float]] | None = None,
    *,
    where: str = "submission",
) -> DialogEvaluation:
    """Score a checked submission against ground truth.

    Args:
        submission: entries as :func:`check_submission` returns them.
        gt_indices: every round of the dialogs file: ``(image_id, round_id) -> gt_index``, None
            for a round whose answer is withheld (the last round of a test dialog).
        dense_relevance: ``(image_id, round_id) -> 100 relevances`` for the dense rounds; each
            must be in the submission.
        where: the submission's name for error messages.

    Raises:
        DataFormatError: a submitted round that is not in the dialogs, or a dense round missing
            from the submission.
    """
    per_round: list[dict[str, Any]] = []
    gt_ranks: list[int] = []
    ndcgs: list[float] = []
    submitted: dict[RoundKey, list[int]] = {}
    dense = dense_relevance or {}
    for entry in submission:
        key = (entry["image_id"], entry["round_id"])
        if key not in gt_indices:
            raise DataFormatError(f"{where}: image {key[0]} round {key[1]} is not a round of the dialogs")
        submitted[key] = entry["ranks"]
        row: dict[str, Any] = {"image_id": key[0], "round_id": key[1]}
        gt_index = gt_indices[key]
        if gt_index is not None:
            row["gt_rank"] = entry["ranks"][gt_index]
            gt_ranks.append(row["gt_rank"])
        if key in dense:
            row["ndcg"] = ndcg(entry["ranks"], dense[key])
            ndcgs.append(row["ndcg"])
        if len(row) > 2:
            per_round.append(row)
    missing = [key for key in dense if key not in submitted]
    if missing:
        raise DataFormatError(f"{where}: no ranks for the densely annotated image {missing[0][0]} round "
                              f"{missing[0][1]} ({len(missing)} dense rounds missing)")
    metrics: dict[str, float | None] = dict.fromkeys(METRIC_NAMES)
    if gt_ranks:
        metrics.update(retrieval_metrics(gt_ranks))
    if ndcgs:
        metrics["ndcg"] = sum(ndcgs) / len(ndcgs)
    return DialogEvaluation(metrics, len(gt_ranks), len(ndcgs), per_round)
