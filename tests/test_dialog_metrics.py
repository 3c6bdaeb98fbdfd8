"""VisDial metrics: hand-computed ranks (ties included), R@k/MRR/mean rank/NDCG, the official code, submissions."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch

from multimodal_rnn.errors import DataFormatError, InputError
from multimodal_rnn.metrics.dialog import (
    check_submission,
    evaluate_submission,
    gt_rank,
    ndcg,
    ranks_from_scores,
    read_submission,
    retrieval_metrics,
    write_submission,
)


def test_ranks_without_ties() -> None:
    assert ranks_from_scores([0.1, 0.9, -2.0, 0.5]) == [3, 1, 4, 2]


def test_tied_scores_rank_by_option_index() -> None:
    assert ranks_from_scores([1, 3, 3, 0]) == [3, 1, 2, 4]
    assert ranks_from_scores([0.5, 0.5, 1.0, 0.5]) == [2, 3, 1, 4]
    assert ranks_from_scores([0.0] * 100) == list(range(1, 101))  # torch's unstable sort would scramble these
    assert gt_rank([1, 3, 3, 0], 2) == 2 and gt_rank([1, 3, 3, 0], 1) == 1


def test_ranks_match_torch_stable_descending_sort() -> None:
    generator = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 5, (100,), generator=generator).float()  # many ties
    order = torch.sort(scores, descending=True, stable=True).indices
    expected = torch.empty(100, dtype=torch.long)
    expected[order] = torch.arange(1, 101)
    assert ranks_from_scores(scores.tolist()) == expected.tolist()


def test_scores_must_be_finite() -> None:
    with pytest.raises(InputError, match="finite"):
        ranks_from_scores([1.0, math.nan])
    with pytest.raises(InputError, match="gt_index 4"):
        gt_rank([1.0, 2.0], 4)


def test_retrieval_metrics_by_hand() -> None:
    metrics = retrieval_metrics([1, 2, 5, 10, 20])
    assert metrics["r@1"] == pytest.approx(1 / 5)
    assert metrics["r@5"] == pytest.approx(3 / 5)
    assert metrics["r@10"] == pytest.approx(4 / 5)
    assert metrics["mean_rank"] == pytest.approx(38 / 5)
    assert metrics["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 5 + 1 / 10 + 1 / 20) / 5)
    with pytest.raises(InputError):
        retrieval_metrics([])
    with pytest.raises(InputError, match="1-based"):
        retrieval_metrics([0, 3])


def test_ndcg_by_hand() -> None:
    relevance = [0.0, 1.0, 0.5, 0.0]  # k = 2 relevant options
    # model order: option 0 (rel 0), option 1 (rel 1), ... -> DCG@2 = 0/log2(2) + 1/log2(3)
    assert ndcg([1, 2, 3, 4], relevance) == pytest.approx((1 / math.log2(3)) / (1 + 0.5 / math.log2(3)))
    assert ndcg([3, 1, 2, 4], relevance) == pytest.approx(1.0)  # option 1 first, option 2 second: ideal
    # option 2 (0.5) first, option 1 (1.0) second: (0.5 + 1/log2 3) / (1 + 0.5/log2 3)
    assert ndcg([4, 2, 1, 3], relevance) == pytest.approx((0.5 + 1 / math.log2(3)) / (1 + 0.5 / math.log2(3)))
    # only the model's top k = 2 count: relevant options at positions 3 and 4 give 0
    assert ndcg([1, 3, 4, 2], relevance) == 0.0


def test_ndcg_input_errors() -> None:
    with pytest.raises(InputError, match="no option has a relevance"):
        ndcg([1, 2], [0.0, 0.0])
    with pytest.raises(InputError, match="permutation"):
        ndcg([1, 1], [0.0, 1.0])
    with pytest.raises(InputError, match=">= 0"):
        ndcg([1, 2], [-1.0, 1.0])


def _official_scores_to_ranks(scores: torch.Tensor) -> torch.Tensor:
    """visdial-challenge-starter-pytorch ``scores_to_ranks``, transcribed (scores (B, R, N))."""
    batch_size, num_rounds, num_options = scores.size()
    scores = scores.view(-1, num_options)
    _, ranked_idx = scores.sort(1, descending=True)
    ranks = ranked_idx.clone().fill_(0)
    for i in range(ranked_idx.size(0)):
        for j in range(num_options):
            ranks[i][ranked_idx[i][j]] = j
    ranks += 1
    return ranks.view(batch_size, num_rounds, num_options)


def _official_ndcg(scores: torch.Tensor, relevance: torch.Tensor) -> float:
    """The starter code's ``NDCG.observe`` + ``retrieve`` for scores and relevance (B, N)."""
    ranks = _official_scores_to_ranks(scores.unsqueeze(1)).squeeze(1)
    k = torch.sum(relevance != 0, dim=-1)
    _, rankings = torch.sort(ranks, dim=-1)
    _, best_rankings = torch.sort(relevance, dim=-1, descending=True)

    def dcg(order: torch.Tensor, rel: torch.Tensor) -> torch.Tensor:
        discounts = torch.log2(torch.arange(len(order)).float() + 2)
        return torch.sum(rel[order].float() / discounts, dim=-1)

    values = [dcg(rankings[b][: k[b]], relevance[b]) / dcg(best_rankings[b][: k[b]], relevance[b])
              for b in range(scores.shape[0])]
    return float(sum(values) / len(values))


def test_agrees_with_the_official_code_on_untied_scores() -> None:
    generator = torch.Generator().manual_seed(3)
    scores = torch.randn(4, 10, 100, generator=generator)  # continuous: no ties
    gt = torch.randint(0, 100, (4, 10), generator=generator)
    official_ranks = _official_scores_to_ranks(scores)
    ours = [ranks_from_scores(scores[b, r].tolist()) for b in range(4) for r in range(10)]
    assert ours == official_ranks.view(40, 100).tolist()
    gt_ranks = official_ranks.view(40, 100)[torch.arange(40), gt.view(40)].float()
    official = {"r@1": (gt_ranks <= 1).float().mean().item(), "r@5": (gt_ranks <= 5).float().mean().item(),
                "r@10": (gt_ranks <= 10).float().mean().item(), "mean_rank": gt_ranks.mean().item(),
                "mrr": gt_ranks.reciprocal().mean().item()}
    assert retrieval_metrics(gt_ranks.long().tolist()) == pytest.approx(official, rel=1e-6)

    dense_scores = torch.randn(6, 100, generator=generator)
    choices = torch.tensor([0.0, 0.0, 0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    relevance = choices[torch.randint(0, len(choices), (6, 100), generator=generator)]
    ours_ndcg = sum(ndcg(ranks_from_scores(dense_scores[b].tolist()), relevance[b].tolist()) for b in range(6)) / 6
    assert ours_ndcg == pytest.approx(_official_ndcg(dense_scores, relevance), rel=1e-6)


def _entry(image_id: int, round_id: int, ranks: list[int] | None = None) -> dict[str, object]:
    return {"image_id": image_id, "round_id": round_id, "ranks": ranks if ranks is not None else list(range(1, 101))}


def test_submission_round_trip(tmp_path: Path) -> None:
    ranks = list(range(100, 0, -1))
    path = tmp_path / "out" / "submission.json"
    write_submission(path, [_entry(7, 1, ranks), _entry(7, 2)])
    assert json.loads(path.read_text())[0] == {"image_id": 7, "ranks": ranks, "round_id": 1}
    assert read_submission(path) == [_entry(7, 1, ranks), _entry(7, 2)]


@pytest.mark.parametrize(
    "entries, message",
    [
        ({"image_id": 1}, "expected a JSON list"),
        ([{"image_id": 1, "round_id": 1}], r"entry 0: missing key\(s\) 'ranks'"),
        ([_entry(1, 0)], "round_id an integer >= 1"),
        ([_entry(True, 1)], "image_id must be an integer"),
        ([_entry(1, 1), _entry(1, 1)], "image 1 round 1: listed twice"),
        ([_entry(1, 2, list(range(1, 100)))], "image 1 round 2: 'ranks' must be a list of 100 integers"),
        ([_entry(1, 2, [1] * 100)], "image 1 round 2: 'ranks' must be a permutation of 1..100"),
        ([_entry(1, 2, [float(r) for r in range(1, 101)])], "list of 100 integers"),
    ],
    ids=["not-a-list", "missing-key", "round-0", "bool-id", "duplicate", "short", "not-permutation", "floats"],
)
def test_bad_submissions(entries: object, message: str) -> None:
    with pytest.raises(DataFormatError, match=message):
        check_submission(entries, where="sub.json")


def test_evaluate_submission() -> None:
    def ranks_with(gt_index: int, rank: int) -> list[int]:
        others = iter(r for r in range(1, 101) if r != rank)
        return [rank if i == gt_index else next(others) for i in range(100)]

    gt = {(1, 1): 4, (1, 2): 9, (2, 1): 0, (2, 2): None}  # (2, 2): a withheld test round
    relevance = [0.0] * 100
    relevance[9] = 1.0
    submission = [_entry(1, 1, ranks_with(4, 1)), _entry(1, 2, ranks_with(9, 2)), _entry(2, 2)]
    result = evaluate_submission(submission, gt, {(1, 2): relevance})
    assert result.num_rounds == 2 and result.num_dense_rounds == 1
    assert result.metrics["r@1"] == 0.5 and result.metrics["mean_rank"] == 1.5 and result.metrics["mrr"] == 0.75
    assert result.metrics["ndcg"] == 0.0  # k = 1 relevant option, ranked 2nd: outside the top k
    assert result.per_round == [{"image_id": 1, "round_id": 1, "gt_rank": 1},
                                {"image_id": 1, "round_id": 2, "gt_rank": 2, "ndcg": 0.0}]
    relevance[0] = 0.5  # k = 2; the model puts option 0 (0.5) first and option 9 (1.0) second
    second = evaluate_submission(submission, gt, {(1, 2): relevance})
    assert second.metrics["ndcg"] == pytest.approx((0.5 + 1 / math.log2(3)) / (1 + 0.5 / math.log2(3)))
    only_test = evaluate_submission([_entry(2, 2)], gt)
    assert only_test.num_rounds == 0 and set(only_test.metrics.values()) == {None}
    with pytest.raises(DataFormatError, match="image 3 round 1 is not a round of the dialogs"):
        evaluate_submission([_entry(3, 1)], gt)
    with pytest.raises(DataFormatError, match="densely annotated image 1 round 2"):
        evaluate_submission([_entry(1, 1)], gt, {(1, 2): relevance})


def test_random_scores_give_chance_level() -> None:
    rng = random.Random(0)
    ranks = [gt_rank([rng.random() for _ in range(100)], rng.randrange(100)) for _ in range(2000)]
    metrics = retrieval_metrics(ranks)
    assert metrics["mean_rank"] == pytest.approx(50.5, abs=2.0)
    assert metrics["r@10"] == pytest.approx(0.10, abs=0.02)
