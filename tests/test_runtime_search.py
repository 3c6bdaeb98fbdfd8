"""The runtime's numpy greedy and beam search give what the library's torch algorithms give, on the same step."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from multimodal_rnn.decoding import beam_search, greedy_decode
from multimodal_rnn.errors import ConfigError
from multimodal_rnn.runtime import search
from tests.decoding_models import BOS, EOS, PAD, TrigramModel, random_tables


def _numpy_step(model: TrigramModel):
    """The model's torch step over numpy arrays, as an onnxruntime session is called."""

    def step(tokens: np.ndarray, state: dict, context: dict) -> tuple[np.ndarray, dict]:
        logprobs, new_state = model.step(
            torch.from_numpy(tokens),
            {k: torch.from_numpy(v) for k, v in state.items()},
            {k: torch.from_numpy(v) for k, v in context.items()},
        )
        return logprobs.numpy(), {k: v.numpy() for k, v in new_state.items()}

    return step


def _start(model: TrigramModel, items: list[int]) -> tuple[dict, dict, dict, dict]:
    state, context = model.start(items)
    state["attention"] = torch.zeros(len(items), model.tables.shape[-1])  # every step returns it
    return state, context, {k: v.numpy() for k, v in state.items()}, {k: v.numpy() for k, v in context.items()}


SETTINGS = [
    dict(beam_size=3),
    dict(beam_size=3, n_best=3),
    dict(beam_size=4, length_penalty=0.7, n_best=2),
    dict(beam_size=2, block_repeated_trigrams=True),
    dict(beam_size=1),
    dict(beam_size=5, length_penalty=1.0),
]


@pytest.mark.parametrize(("settings", "seed"), list(itertools.product(SETTINGS, range(3))))
def test_beam_search_matches_the_library(settings: dict, seed: int) -> None:
    items, vocab_size, max_length = [0, 1, 2, 3, 4, 5], 7, 6
    model = TrigramModel(
        random_tables((len(items), vocab_size, vocab_size, vocab_size), seed, sharpness=1.5), max_length
    )
    state, context, np_state, np_context = _start(model, items)
    common = dict(batch_size=len(items), bos_id=BOS, eos_id=EOS, max_length=max_length, pad_id=PAD, record="attention")
    expected = beam_search(model.step, state, context, **settings, **common)
    got = search.beam_search(_numpy_step(model), np_state, np_context, **settings, **common)
    assert got.hypotheses == expected.hypotheses
    np.testing.assert_allclose(got.hypothesis_scores, expected.hypothesis_scores.numpy(), atol=1e-6)
    assert got.hypothesis_ended.tolist() == expected.hypothesis_ended.tolist()
    assert got.hypothesis_traces is not None and expected.hypothesis_traces is not None
    for got_item, expected_item in zip(got.hypothesis_traces, expected.hypothesis_traces):
        for got_trace, expected_trace in zip(got_item, expected_item):
            np.testing.assert_array_equal(got_trace, expected_trace.numpy())


@pytest.mark.parametrize("seed", range(3))
def test_greedy_search_matches_the_library(seed: int) -> None:
    items, vocab_size, max_length = [0, 1, 2, 3, 4], 6, 7
    model = TrigramModel(random_tables((len(items), vocab_size, vocab_size, vocab_size), seed), max_length)
    state, context, np_state, np_context = _start(model, items)
    common = dict(batch_size=len(items), bos_id=BOS, eos_id=EOS, max_length=max_length, pad_id=PAD, record="attention")
    expected = greedy_decode(model.step, state, context, **common)
    got = search.greedy_search(_numpy_step(model), np_state, np_context, **common)
    assert got.sequences == expected.sequences
    np.testing.assert_allclose(got.scores, expected.scores.numpy(), atol=1e-6)
    assert got.ended.tolist() == expected.ended.tolist()
    assert got.traces is not None and expected.traces is not None
    for got_trace, expected_trace in zip(got.traces, expected.traces):
        np.testing.assert_array_equal(got_trace, expected_trace.numpy())


def test_bad_settings_are_one_line_errors() -> None:
    model = TrigramModel(random_tables((1, 5, 5, 5), 0), 3)
    _, _, state, context = _start(model, [0])
    with pytest.raises(ConfigError, match="n_best"):
        search.beam_search(
            _numpy_step(model),
            state,
            context,
            batch_size=1,
            bos_id=BOS,
            eos_id=EOS,
            beam_size=2,
            max_length=3,
            n_best=3,
        )
    with pytest.raises(ConfigError, match="eos_id=9"):
        search.greedy_search(_numpy_step(model), state, context, batch_size=1, bos_id=BOS, eos_id=9, max_length=3)
