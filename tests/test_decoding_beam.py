"""Batched beam search on tiny hand-built models: brute force, n-best, batching, trigram blocking, penalties, traces."""

import math

import pytest
import torch

from multimodal_rnn.decoding import beam_search, greedy_decode
from multimodal_rnn.errors import ConfigError
from tests.decoding_models import (
    BOS,
    EOS,
    BigramModel,
    TrigramModel,
    brute_force,
    has_repeated_trigram,
    random_tables,
    table_step,
)


def test_beam_finds_the_sequence_greedy_misses():
    # first step: A=3 with 0.6, B=4 with 0.4; after A everything is flat; after B, C=5 with 0.99
    vocab_size = 6
    flat = [1.0 / vocab_size] * vocab_size
    step = table_step(
        {
            BOS: [0.0, 0.0, 0.0, 0.6, 0.4, 0.0],
            3: flat,
            4: [0.0, 0.0, 0.0, 0.0, 0.01 / 2, 0.99 - 0.01 / 2],
            5: [0.0, 0.0, 0.99, 0.0, 0.01, 0.0],
        },
        vocab_size,
    )
    common = dict(batch_size=1, bos_id=BOS, eos_id=EOS, max_length=3)
    greedy = greedy_decode(step, None, **common)
    beam = beam_search(step, None, beam_size=2, **common)
    assert greedy.sequences[0][0] == 3
    assert beam.sequences == [[4, 5]]
    assert beam.scores.item() == pytest.approx(math.log(0.4 * (0.99 - 0.005) * 0.99), abs=1e-5)
    assert beam.scores.item() > greedy.scores.item()


@pytest.mark.parametrize("alpha", [0.0, 1.5])
def test_exhaustive_beam_matches_brute_force(alpha):
    vocab_size, max_length = 5, 4
    model = TrigramModel(random_tables((2, vocab_size, vocab_size, vocab_size), seed=4, sharpness=1.0), max_length)
    # every candidate fits in a beam this wide, so beam search is exact
    beam = beam_search(
        model.step,
        *model.start([0, 1]),
        batch_size=2,
        bos_id=BOS,
        eos_id=EOS,
        beam_size=vocab_size**max_length,
        max_length=max_length,
        length_penalty=alpha,
        n_best=4,
    )
    for item in range(2):
        expected = brute_force(model, item, vocab_size, max_length, alpha)[:4]
        assert beam.hypotheses[item] == [words for _, words in expected]
        assert beam.hypothesis_scores[item].tolist() == pytest.approx([score for score, _ in expected], abs=1e-5)


def test_n_best_is_sorted_distinct_and_starts_with_the_best():
    vocab_size, max_length = 8, 6
    model = TrigramModel(random_tables((3, vocab_size, vocab_size, vocab_size), seed=5), max_length)
    state, context = model.start([0, 1, 2])
    common = dict(batch_size=3, bos_id=BOS, eos_id=EOS, beam_size=4, max_length=max_length)
    four = beam_search(model.step, state, context, n_best=4, **common)
    one = beam_search(model.step, state, context, n_best=1, **common)
    assert four.hypothesis_scores.shape == (3, 4)
    assert (four.hypothesis_scores[:, :-1] >= four.hypothesis_scores[:, 1:]).all()
    assert all(len({tuple(h) for h in item}) == 4 for item in four.hypotheses)
    assert four.sequences == one.sequences
    assert torch.equal(four.scores, one.scores)
    assert four.tokens.shape[:2] == (3, 4)
    for item in range(3):
        for rank, words in enumerate(four.hypotheses[item]):
            assert four.tokens[item, rank, : len(words)].tolist() == words


def test_batched_results_equal_items_decoded_alone():
    vocab_size, max_length = 7, 8
    model = TrigramModel(random_tables((4, vocab_size, vocab_size, vocab_size), seed=7), max_length)
    items = [2, 0, 3, 1]
    options = dict(bos_id=BOS, eos_id=EOS, max_length=max_length)
    beam_options = dict(beam_size=3, n_best=2, length_penalty=0.6, block_repeated_trigrams=True, **options)
    batched_beam = beam_search(model.step, *model.start(items), batch_size=4, **beam_options)
    batched_greedy = greedy_decode(model.step, *model.start(items), batch_size=4, **options)
    for row, item in enumerate(items):
        alone_beam = beam_search(model.step, *model.start([item]), batch_size=1, **beam_options)
        alone_greedy = greedy_decode(model.step, *model.start([item]), batch_size=1, **options)
        assert batched_beam.hypotheses[row] == alone_beam.hypotheses[0]
        assert torch.allclose(batched_beam.hypothesis_scores[row], alone_beam.hypothesis_scores[0])
        assert batched_greedy.sequences[row] == alone_greedy.sequences[0]
        assert torch.allclose(batched_greedy.scores[row], alone_greedy.scores[0])


def test_trigram_blocking_prevents_a_repeated_trigram():
    # the model loves the cycle 3 4 5 3 4 5 ...; 6 is a weak alternative everywhere
    vocab_size = 7
    cycle = {3: 4, 4: 5, 5: 3, BOS: 3, 6: 3}
    rows = {}
    for fed, favourite in cycle.items():
        probs = [0.01] * vocab_size
        probs[favourite] = 0.8
        probs[6] = 0.1
        total = sum(probs)
        rows[fed] = [p / total for p in probs]
    step = table_step(rows, vocab_size)
    common = dict(batch_size=1, bos_id=BOS, eos_id=EOS, beam_size=3, max_length=10)
    free = beam_search(step, None, **common)
    blocked = beam_search(step, None, block_repeated_trigrams=True, **common)
    assert has_repeated_trigram(free.sequences[0])
    assert len(blocked.sequences[0]) >= 3
    assert not has_repeated_trigram(blocked.sequences[0])
    assert blocked.scores.item() < free.scores.item()


def test_length_penalty_changes_the_choice():
    # short: EOS at once (0.55) -> log 0.55 = -0.598, length 1
    # long: 3 4 EOS (0.45 * 0.99 * 0.99) -> -0.819, length 3; GNMT alpha=2 divides by (8/6)^2: -0.461
    vocab_size = 5
    step = table_step(
        {
            BOS: [0.0, 0.0, 0.55, 0.45, 0.0],
            3: [0.0, 0.0, 0.005, 0.005, 0.99],
            4: [0.0, 0.0, 0.99, 0.005, 0.005],
        },
        vocab_size,
    )
    common = dict(batch_size=1, bos_id=BOS, eos_id=EOS, beam_size=2, max_length=6)
    plain = beam_search(step, None, **common)
    penalised = beam_search(step, None, length_penalty=2.0, **common)
    assert plain.sequences == [[]]
    assert plain.scores.item() == pytest.approx(math.log(0.55), abs=1e-5)
    assert penalised.sequences == [[3, 4]]
    assert penalised.scores.item() == pytest.approx(math.log(0.45 * 0.99 * 0.99) / (8 / 6) ** 2, abs=1e-5)


def test_record_trace_follows_the_beam_path():
    vocab_size, max_length = 6, 7
    model = TrigramModel(random_tables((3, vocab_size, vocab_size, vocab_size), seed=8), max_length)
    state, context = model.start([0, 1, 2])
    common = dict(batch_size=3, bos_id=BOS, eos_id=EOS, max_length=max_length)
    beam = beam_search(model.step, state, context, beam_size=3, n_best=3, record="attention", **common)
    greedy = greedy_decode(model.step, state, context, record="attention", **common)
    history_beam = beam_search(model.step, state, context, beam_size=3, n_best=3, record="history", **common)
    assert history_beam.hypotheses == beam.hypotheses
    checked = 0
    for item in range(3):
        paths = zip(beam.hypotheses[item], beam.hypothesis_traces[item], history_beam.hypothesis_traces[item])
        for words, trace, history in paths:
            fed = ([BOS] + words)[: len(words)]
            expected = torch.nn.functional.one_hot(torch.tensor(fed, dtype=torch.long), vocab_size).float()
            expected *= torch.arange(1, len(words) + 1)[:, None]
            assert trace.shape == (len(words), vocab_size)
            assert torch.equal(trace, expected)
            if words:  # the buffer after the step that chose the last word holds bos and every word before it
                assert history[-1, : len(words)].tolist() == fed
            checked += len(words)
        assert torch.equal(beam.traces[item], beam.hypothesis_traces[item][0])
    assert checked > 0
    for words, trace in zip(greedy.sequences, greedy.traces):
        fed = torch.tensor(([BOS] + words)[: len(words)], dtype=torch.long)
        assert torch.equal(trace.argmax(dim=1), fed)


@pytest.mark.parametrize(
    "options",
    [
        dict(beam_size=0),
        dict(n_best=3),
        dict(max_length=0),
        dict(length_penalty=-1.0),
        dict(eos_id=99),
    ],
)
def test_invalid_beam_options_raise_config_error(options):
    model = BigramModel(random_tables((1, 5, 5), seed=10))
    arguments = dict(batch_size=1, bos_id=BOS, eos_id=EOS, beam_size=2, max_length=3) | options
    with pytest.raises(ConfigError):
        beam_search(model.step, *model.start([0]), **arguments)
