"""Sampling on tiny hand-built models: option checks, greedy limits, seeds, grouping, frequencies, gradients."""

import pytest
import torch

from multimodal_rnn.decoding import greedy_decode, sample_decode
from multimodal_rnn.errors import ConfigError
from tests.decoding_models import BOS, EOS, BigramModel, TrigramModel, random_tables


@pytest.mark.parametrize("options", [dict(temperature=0.0), dict(top_k=0), dict(num_samples=0)])
def test_invalid_sampling_options_raise_config_error(options):
    model = BigramModel(random_tables((1, 5, 5), seed=10))
    with pytest.raises(ConfigError):
        sample_decode(model.step, *model.start([0]), batch_size=1, bos_id=BOS, eos_id=EOS, max_length=3, **options)


def sampling_model() -> tuple[TrigramModel, dict, dict, dict]:
    vocab_size, max_length = 7, 8
    model = TrigramModel(random_tables((3, vocab_size, vocab_size, vocab_size), seed=11), max_length)
    return model, *model.start([0, 1, 2]), dict(batch_size=3, bos_id=BOS, eos_id=EOS, max_length=max_length)


@pytest.mark.parametrize("options", [dict(top_k=1), dict(temperature=1e-3)])
def test_sampling_that_keeps_only_the_best_token_equals_greedy(options):
    model, state, context, common = sampling_model()
    greedy = greedy_decode(model.step, state, context, **common)
    sampled = sample_decode(model.step, state, context, generator=torch.Generator().manual_seed(0), **options, **common)
    assert sampled.sequences == greedy.sequences
    assert torch.equal(sampled.scores, greedy.scores)


def test_sampling_is_reproducible_with_a_seeded_generator():
    model, state, context, common = sampling_model()

    def run(seed: int):
        generator = torch.Generator().manual_seed(seed)
        return sample_decode(model.step, state, context, num_samples=4, generator=generator, **common)

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
    state, context = model.start([0, 1, 2])
    generator = torch.Generator().manual_seed(0)
    out = sample_decode(
        model.step,
        state,
        context,
        batch_size=3,
        bos_id=BOS,
        eos_id=EOS,
        max_length=4,
        num_samples=2,
        generator=generator,
    )
    assert out.sequences == [[3], [3], [4], [4], [5], [5]]


def test_sampling_frequencies_follow_temperature_and_top_k():
    probs = torch.tensor([0.0, 0.0, 0.1, 0.2, 0.3, 0.4])
    table = probs.log().expand(6, 6)

    def step(tokens, state, context):
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

    def step(tokens, state, context):
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
