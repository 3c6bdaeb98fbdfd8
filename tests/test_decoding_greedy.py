"""Greedy decoding on tiny hand-built models, and what every decoder shares (eos never emitted, record)."""

import math

import pytest
import torch

from multimodal_rnn.decoding import beam_search, greedy_decode, sample_decode
from multimodal_rnn.errors import ConfigError
from tests.decoding_models import (
    BOS,
    EOS,
    PAD,
    BigramModel,
    TrigramModel,
    random_tables,
    table_step,
)


@pytest.mark.parametrize("kind", ["bigram", "trigram"])
def test_beam_size_one_equals_greedy(kind):
    vocab_size, max_length = 7, 9
    if kind == "bigram":
        model = BigramModel(random_tables((4, vocab_size, vocab_size), seed=1))
    else:
        model = TrigramModel(random_tables((4, vocab_size, vocab_size, vocab_size), seed=2), max_length)
    state, context = model.start([0, 1, 2, 3])
    common = dict(batch_size=4, bos_id=BOS, eos_id=EOS, max_length=max_length)
    greedy = greedy_decode(model.step, state, context, **common)
    beam = beam_search(model.step, state, context, beam_size=1, **common)
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
    state, context = model.start(list(range(6)))
    out = greedy_decode(model.step, state, context, batch_size=6, bos_id=BOS, eos_id=EOS, max_length=8, pad_id=PAD)
    lengths = [len(sequence) for sequence in out.sequences]
    assert len(set(lengths)) > 1
    for row, sequence in enumerate(out.sequences):
        steps = int(out.mask[row].sum())
        assert steps == len(sequence) + int(out.ended[row])
        assert out.tokens[row, : len(sequence)].tolist() == sequence
        assert (out.tokens[row, steps:] == PAD).all()
        assert (out.logprobs[row, steps:] == 0).all()


def test_no_decoder_fails_when_eos_is_never_emitted():
    vocab_size, max_length = 6, 5
    tables = random_tables((2, vocab_size, vocab_size), seed=6)
    tables[..., EOS] = float("-inf")
    model = BigramModel(tables)
    state, context = model.start([0, 1])
    common = dict(batch_size=2, bos_id=BOS, eos_id=EOS, max_length=max_length)
    outputs = [
        greedy_decode(model.step, state, context, **common),
        sample_decode(model.step, state, context, generator=torch.Generator().manual_seed(0), **common),
    ]
    for output in outputs:
        assert [len(sequence) for sequence in output.sequences] == [max_length, max_length]
        assert not output.ended.any()
        assert output.scores.isfinite().all()
    beam = beam_search(model.step, state, context, beam_size=3, n_best=3, **common)
    assert all(len(words) == max_length for item in beam.hypotheses for words in item)
    assert not beam.hypothesis_ended.any()
    assert beam.hypothesis_scores.isfinite().all()


def test_record_of_a_missing_key_is_a_config_error():
    model = BigramModel(random_tables((1, 5, 5), seed=9))
    with pytest.raises(ConfigError, match="attention"):
        greedy_decode(
            model.step, *model.start([0]), batch_size=1, bos_id=BOS, eos_id=EOS, max_length=3, record="attention"
        )
