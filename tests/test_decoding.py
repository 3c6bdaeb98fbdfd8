"""Decoding algorithms on tiny hand-built models: pure step functions over fixed log-probability tables."""

import itertools
import math
from collections import namedtuple

import pytest
import torch

from multimodal_rnn.decoding import (
    beam_search,
    expand_state,
    greedy_decode,
    map_state,
    sample_decode,
    select_state,
)
from multimodal_rnn.errors import ConfigError

PAD, BOS, EOS = 0, 1, 2


def random_tables(shape: tuple[int, ...], seed: int, sharpness: float = 2.0) -> torch.Tensor:
    """Log-probability tables over the last dim, without ties."""
    generator = torch.Generator().manual_seed(seed)
    return torch.log_softmax(torch.randn(shape, generator=generator) * sharpness, dim=-1)


class BigramModel:
    """logprobs = table[item, fed token]; the state only says which item's table a row uses."""

    def __init__(self, tables: torch.Tensor) -> None:
        self.tables = tables  # (I, V, V)

    def initial_state(self, items: list[int]) -> dict:
        return {"item": torch.tensor(items), "unused": None, "label": "bigram"}

    def step(self, tokens: torch.Tensor, state: dict) -> tuple[torch.Tensor, dict]:
        return self.tables[state["item"], tokens], state


class TrigramModel:
    """logprobs = table[item, token before, fed token]: wrong state reordering changes the scores.

    The state also keeps a history buffer of the fed tokens, a step counter and an "attention"
    vector (one-hot of the fed token times the step number) to check recorded traces.
    """

    def __init__(self, tables: torch.Tensor, max_length: int) -> None:
        self.tables = tables  # (I, V, V, V)
        self.max_length = max_length

    def initial_state(self, items: list[int]) -> dict:
        count = len(items)
        return {
            "item": torch.tensor(items),
            "previous": torch.full((count,), BOS),
            "history": torch.full((count, self.max_length), PAD),
            "count": torch.zeros(count, dtype=torch.long),
        }

    def step(self, tokens: torch.Tensor, state: dict) -> tuple[torch.Tensor, dict]:
        logprobs = self.tables[state["item"], state["previous"], tokens]
        vocab_size = self.tables.size(-1)
        count = state["count"]
        new_state = {
            "item": state["item"],
            "previous": tokens,
            "history": state["history"].scatter(1, count[:, None], tokens[:, None]),
            "count": count + 1,
            "attention": torch.nn.functional.one_hot(tokens, vocab_size).float() * (count + 1)[:, None],
        }
        return logprobs, new_state


def table_step(rows: dict[int, list[float]], vocab_size: int):
    """A bigram step from a hand-written table {fed token: probabilities}; missing rows are uniform."""
    table = torch.full((vocab_size, vocab_size), -math.log(vocab_size))
    for fed, probs in rows.items():
        table[fed] = torch.tensor(probs).log()
    return lambda tokens, state: (table[tokens], state)


def brute_force(
    model, item: int, vocab_size: int, max_length: int, alpha: float = 0.0
) -> list[tuple[float, list[int]]]:
    """Every hypothesis of ``item`` with its score, best first, by running all token strings."""
    strings = torch.tensor(list(itertools.product(range(vocab_size), repeat=max_length)))  # (S, L)
    state = model.initial_state([item] * len(strings))
    fed = torch.full((len(strings),), BOS)
    logprobs = []
    for t in range(max_length):
        step_logprobs, state = model.step(fed, state)
        logprobs.append(step_logprobs.gather(1, strings[:, t : t + 1]).squeeze(1))
        fed = strings[:, t]
    logprobs = torch.stack(logprobs, dim=1).tolist()
    hypotheses = {}
    for string, string_logprobs in zip(strings.tolist(), logprobs):
        length = string.index(EOS) + 1 if EOS in string else max_length
        raw = sum(string_logprobs[:length])
        words = tuple(string[: length - 1] if EOS in string else string)
        hypotheses[words] = raw / ((5 + length) / 6) ** alpha
    return sorted(((score, list(words)) for words, score in hypotheses.items()), reverse=True)


def has_repeated_trigram(sequence: list[int]) -> bool:
    trigrams = [tuple(sequence[i : i + 3]) for i in range(len(sequence) - 2)]
    return len(trigrams) != len(set(trigrams))


# ---------------------------------------------------------------- state helpers


def test_state_helpers_walk_nested_structures_and_pass_other_leaves():
    Pair = namedtuple("Pair", "hidden cell")
    state = {"core": Pair(torch.arange(2)[:, None], torch.tensor([5, 6])), "extras": [None, 3, (torch.tensor([7, 8]),)]}
    expanded = expand_state(state, 3)
    assert isinstance(expanded["core"], Pair)
    assert expanded["core"].hidden[:, 0].tolist() == [0, 0, 0, 1, 1, 1]
    assert expanded["core"].cell.tolist() == [5, 5, 5, 6, 6, 6]
    assert expanded["extras"][:2] == [None, 3]
    assert isinstance(expanded["extras"][2], tuple)
    assert expanded["extras"][2][0].tolist() == [7, 7, 7, 8, 8, 8]
    selected = select_state(expanded, torch.tensor([5, 0]))
    assert selected["core"].cell.tolist() == [6, 5]
    assert selected["extras"][2][0].tolist() == [8, 7]
    assert map_state(lambda tensor: tensor * 2, (None, torch.tensor([1])))[1].tolist() == [2]


# ---------------------------------------------------------------- greedy and beam


@pytest.mark.parametrize("kind", ["bigram", "trigram"])
def test_beam_size_one_equals_greedy(kind):
    vocab_size, max_length = 7, 9
    if kind == "bigram":
        model = BigramModel(random_tables((4, vocab_size, vocab_size), seed=1))
    else:
        model = TrigramModel(random_tables((4, vocab_size, vocab_size, vocab_size), seed=2), max_length)
    state = model.initial_state([0, 1, 2, 3])
    common = dict(batch_size=4, bos_id=BOS, eos_id=EOS, max_length=max_length)
    greedy = greedy_decode(model.step, state, **common)
    beam = beam_search(model.step, state, beam_size=1, **common)
    assert beam.sequences == greedy.sequences
    assert torch.equal(beam.scores, greedy.scores)
    assert beam.hypothesis_ended[:, 0].tolist() == greedy.ended.tolist()
    assert any(greedy.ended) and not all(greedy.ended)


def test_greedy_output_tensors_are_consistent():
    step = table_step({BOS: [0.0, 0.0, 0.1, 0.9], 3: [0.0, 0.0, 0.8, 0.2]}, vocab_size=4)
    out = greedy_decode(step, None, batch_size=2, bos_id=BOS, eos_id=EOS, max_length=5, pad_id=PAD)
    assert out.sequences == [[3], [3]]
    assert out.tokens.tolist() == [[3, EOS], [3, EOS]]
    assert out.mask.all()
    assert out.ended.tolist() == [True, True]
    expected = math.log(0.9) + math.log(0.8)
    assert out.scores.tolist() == pytest.approx([expected, expected])
    assert torch.allclose(out.logprobs.sum(dim=1), out.scores)


def test_greedy_pads_rows_that_ended_earlier():
    model = BigramModel(random_tables((6, 6, 6), seed=3))
    state = model.initial_state(list(range(6)))
    out = greedy_decode(model.step, state, batch_size=6, bos_id=BOS, eos_id=EOS, max_length=8, pad_id=PAD)
    lengths = [len(sequence) for sequence in out.sequences]
    assert len(set(lengths)) > 1
    for row, sequence in enumerate(out.sequences):
        steps = int(out.mask[row].sum())
        assert steps == len(sequence) + int(out.ended[row])
        assert out.tokens[row, :len(sequence)].tolist() == sequence
        assert (out.tokens[row, steps:] == PAD).all()
        assert (out.logprobs[row, steps:] == 0).all()


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
        model.step, model.initial_state([0, 1]), batch_size=2, bos_id=BOS, eos_id=EOS,
        beam_size=vocab_size ** max_length, max_length=max_length, length_penalty=alpha, n_best=4,
    )
    for item in range(2):
        expected = brute_force(model, item, vocab_size, max_length, alpha)[:4]
        assert beam.hypotheses[item] == [words for _, words in expected]
        assert beam.hypothesis_scores[item].tolist() == pytest.approx([score for score, _ in expected], abs=1e-5)


def test_n_best_is_sorted_distinct_and_starts_with_the_best():
    vocab_size, max_length = 8, 6
    model = TrigramModel(random_tables((3, vocab_size, vocab_size, vocab_size), seed=5), max_length)
    state = model.initial_state([0, 1, 2])
    common = dict(batch_size=3, bos_id=BOS, eos_id=EOS, beam_size=4, max_length=max_length)
    four = beam_search(model.step, state, n_best=4, **common)
    one = beam_search(model.step, state, n_best=1, **common)
    assert four.hypothesis_scores.shape == (3, 4)
    assert (four.hypothesis_scores[:, :-1] >= four.hypothesis_scores[:, 1:]).all()
    assert all(len({tuple(h) for h in item}) == 4 for item in four.hypotheses)
    assert four.sequences == one.sequences
    assert torch.equal(four.scores, one.scores)
    assert four.tokens.shape[:2] == (3, 4)
    for item in range(3):
        for rank, words in enumerate(four.hypotheses[item]):
            assert four.tokens[item, rank, : len(words)].tolist() == words


def test_no_decoder_fails_when_eos_is_never_emitted():
    vocab_size, max_length = 6, 5
    tables = random_tables((2, vocab_size, vocab_size), seed=6)
    tables[..., EOS] = float("-inf")
    model = BigramModel(tables)
    state = model.initial_state([0, 1])
    common = dict(batch_size=2, bos_id=BOS, eos_id=EOS, max_length=max_length)
    outputs = [
        greedy_decode(model.step, state, **common),
        sample_decode(model.step, state, generator=torch.Generator().manual_seed(0), **common),
    ]
    for output in outputs:
        assert [len(sequence) for sequence in output.sequences] == [max_length, max_length]
        assert not output.ended.any()
        assert output.scores.isfinite().all()
    beam = beam_search(model.step, state, beam_size=3, n_best=3, **common)
    assert all(len(words) == max_length for item in beam.hypotheses for words in item)
    assert not beam.hypothesis_ended.any()
    assert beam.hypothesis_scores.isfinite().all()


def test_batched_results_equal_items_decoded_alone():
    vocab_size, max_length = 7, 8
    model = TrigramModel(random_tables((4, vocab_size, vocab_size, vocab_size), seed=7), max_length)
    items = [2, 0, 3, 1]
    options = dict(bos_id=BOS, eos_id=EOS, max_length=max_length)
    beam_options = dict(beam_size=3, n_best=2, length_penalty=0.6, block_repeated_trigrams=True, **options)
    batched_beam = beam_search(model.step, model.initial_state(items), batch_size=4, **beam_options)
    batched_greedy = greedy_decode(model.step, model.initial_state(items), batch_size=4, **options)
    for row, item in enumerate(items):
        alone_beam = beam_search(model.step, model.initial_state([item]), batch_size=1, **beam_options)
        alone_greedy = greedy_decode(model.step, model.initial_state([item]), batch_size=1, **options)
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
    state = model.initial_state([0, 1, 2])
    common = dict(batch_size=3, bos_id=BOS, eos_id=EOS, max_length=max_length)
    beam = beam_search(model.step, state, beam_size=3, n_best=3, record="attention", **common)
    greedy = greedy_decode(model.step, state, record="attention", **common)
    history_beam = beam_search(model.step, state, beam_size=3, n_best=3, record="history", **common)
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


def test_record_of_a_missing_key_is_a_config_error():
    model = BigramModel(random_tables((1, 5, 5), seed=9))
    with pytest.raises(ConfigError, match="attention"):
        greedy_decode(
            model.step, model.initial_state([0]), batch_size=1, bos_id=BOS, eos_id=EOS, max_length=3, record="attention"
        )


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
        beam_search(model.step, model.initial_state([0]), **arguments)


@pytest.mark.parametrize("options", [dict(temperature=0.0), dict(top_k=0), dict(num_samples=0)])
def test_invalid_sampling_options_raise_config_error(options):
    model = BigramModel(random_tables((1, 5, 5), seed=10))
    with pytest.raises(ConfigError):
        sample_decode(
            model.step, model.initial_state([0]), batch_size=1, bos_id=BOS, eos_id=EOS, max_length=3, **options
        )


# ---------------------------------------------------------------- sampling


def sampling_model() -> tuple[TrigramModel, dict, dict]:
    vocab_size, max_length = 7, 8
    model = TrigramModel(random_tables((3, vocab_size, vocab_size, vocab_size), seed=11), max_length)
    return model, model.initial_state([0, 1, 2]), dict(batch_size=3, bos_id=BOS, eos_id=EOS, max_length=max_length)


@pytest.mark.parametrize("options", [dict(top_k=1), dict(temperature=1e-3)])
def test_sampling_that_keeps_only_the_best_token_equals_greedy(options):
    model, state, common = sampling_model()
    greedy = greedy_decode(model.step, state, **common)
    sampled = sample_decode(model.step, state, generator=torch.Generator().manual_seed(0), **options, **common)
    assert sampled.sequences == greedy.sequences
    assert torch.equal(sampled.scores, greedy.scores)


def test_sampling_is_reproducible_with_a_seeded_generator():
    model, state, common = sampling_model()

    def run(seed: int):
        return sample_decode(model.step, state, num_samples=4, generator=torch.Generator().manual_seed(seed), **common)

    first, again, other = run(3), run(3), run(4)
    assert first.sequences == again.sequences
    assert torch.equal(first.scores, again.scores)
    assert first.sequences != other.sequences


def test_num_samples_are_grouped_by_item():
    vocab_size = 6
    tables = torch.full((3, vocab_size, vocab_size), -50.0)
    tables[:, :, EOS] = 0.0
    tables[:, BOS, EOS] = -50.0
    tables[torch.arange(3), BOS, torch.tensor([3, 4, 5])] = 0.0  # item i says word 3+i then eos
    model = BigramModel(torch.log_softmax(tables, dim=-1))
    state = model.initial_state([0, 1, 2])
    generator = torch.Generator().manual_seed(0)
    out = sample_decode(
        model.step, state, batch_size=3, bos_id=BOS, eos_id=EOS, max_length=4, num_samples=2, generator=generator
    )
    assert out.sequences == [[3], [3], [4], [4], [5], [5]]


def test_sampling_frequencies_follow_temperature_and_top_k():
    probs = torch.tensor([0.0, 0.0, 0.1, 0.2, 0.3, 0.4])
    table = probs.log().expand(6, 6)

    def step(tokens, state):
        return table[tokens], state

    count = 20000
    common = dict(batch_size=1, bos_id=BOS, eos_id=EOS, max_length=1, num_samples=count)

    def frequencies(**options) -> torch.Tensor:
        out = sample_decode(step, None, generator=torch.Generator().manual_seed(0), **options, **common)
        return torch.bincount(out.tokens[:, 0], minlength=6).float() / count

    assert torch.allclose(frequencies(), probs, atol=0.015)
    top_two = torch.tensor([0.0, 0.0, 0.0, 0.0, 3 / 7, 4 / 7])
    assert torch.allclose(frequencies(top_k=2), top_two, atol=0.015)
    tempered = torch.softmax(probs.log() / 2.0, dim=0)
    assert torch.allclose(frequencies(temperature=2.0), tempered, atol=0.015)


def test_sampled_logprobs_are_differentiable():
    vocab_size = 6
    logits = torch.nn.Parameter(torch.randn(vocab_size, vocab_size, generator=torch.Generator().manual_seed(12)))

    def step(tokens, state):
        return torch.log_softmax(logits, dim=-1)[tokens], state

    generator = torch.Generator().manual_seed(1)
    out = sample_decode(
        step, None, batch_size=2, bos_id=BOS, eos_id=EOS, max_length=5, num_samples=3, generator=generator
    )
    assert out.scores.requires_grad
    out.scores.sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    with torch.no_grad():
        table = torch.log_softmax(logits, dim=-1)
        for row in range(len(out.sequences)):
            fed = [BOS] + out.tokens[row][out.mask[row]].tolist()
            expected = sum(table[a, b].item() for a, b in zip(fed[:-1], fed[1:]))
            assert out.scores[row].item() == pytest.approx(expected, abs=1e-5)
