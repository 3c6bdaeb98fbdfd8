"""Navigation metrics (success rate, mean length, SPL) as pure functions."""

from __future__ import annotations

import pytest

from multimodal_rnn.errors import InputError
from multimodal_rnn.metrics.navigation import mean_length, navigation_summary, spl, spl_terms, success_rate


def test_success_rate_counts_true_episodes() -> None:
    assert success_rate([True, False, True, True]) == 0.75
    assert success_rate([False]) == 0.0


def test_spl_terms_follow_the_definition() -> None:
    # S * L / max(P, L): optimal path 1, twice the expert path 0.5, failure 0, shorter than expert capped at 1.
    terms = spl_terms([True, True, False, True], [5, 10, 3, 4], [5, 5, 3, 6])
    assert terms == [1.0, 0.5, 0.0, 1.0]
    assert spl([True, True, False, True], [5, 10, 3, 4], [5, 5, 3, 6]) == pytest.approx(0.625)


def test_spl_of_a_known_case_by_hand() -> None:
    # 3 episodes: 8 vs 6 expert -> 0.75, success 7 vs 7 -> 1, failure -> 0; mean 1.75 / 3.
    assert spl([True, True, False], [8, 7, 64], [6, 7, 5]) == pytest.approx(1.75 / 3)


def test_failures_do_not_need_valid_lengths() -> None:
    assert spl([False, False], [0, 0], [0, 0]) == 0.0


def test_summary_has_every_figure() -> None:
    summary = navigation_summary([True, False], [4, 64], [4, 5], [0.9, 0.0])
    assert summary == {"episodes": 2.0, "success_rate": 0.5, "mean_length": 34.0, "spl": 0.5, "mean_reward": 0.45}


@pytest.mark.parametrize("call", [
    lambda: success_rate([]),
    lambda: mean_length([]),
    lambda: spl([], [], []),
    lambda: spl([True], [1, 2], [1]),
    lambda: spl([True], [1], []),
    lambda: spl([True], [0], [3]),
    lambda: navigation_summary([True], [1], [1], []),
])
def test_bad_input_is_an_input_error(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError):
        call()
