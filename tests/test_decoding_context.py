"""The step() contract: state helpers, and static context expanded once and never reordered or copied."""

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
from multimodal_rnn.metrics.cider import CiderD
from multimodal_rnn.tasks import MODELS
from multimodal_rnn.tasks.caption.self_critical import SelfCriticalObjective
from multimodal_rnn.text.vocab import Vocabulary
from tests.decoding_models import BOS, EOS, TrigramModel, random_tables

SMALL_CAPTIONER = {
    "vocab_size": 9,
    "embed_size": 16,
    "hidden_size": 32,
    "dropout": 0.0,
    "encoder": {"channels": [8, 8, 16, 16], "image_size": 32},
}


def small_captioner(name: str) -> dict:
    """A tiny config of caption model ``name`` (attention options only for the models that attend)."""
    return SMALL_CAPTIONER if name == "show_tell" else {**SMALL_CAPTIONER, "attention_size": 16}


class StepSpy:
    """Wraps a step function; remembers the context object, its tensors' storage and the rows it saw."""

    def __init__(self, step) -> None:
        self.step = step
        self.contexts: list = []
        self.pointers: list[dict[str, int]] = []
        self.rows: list[int] = []

    def __call__(self, tokens, state, context):
        self.contexts.append(context)
        self.pointers.append({key: value.data_ptr() for key, value in context.items()})
        self.rows.append(len(tokens))
        return self.step(tokens, state, context)

    def assert_one_context(self, rows: int) -> None:
        assert len(self.contexts) > 1
        assert all(context is self.contexts[0] for context in self.contexts)
        assert all(pointers == self.pointers[0] for pointers in self.pointers)
        assert all(value.shape[0] == rows for value in self.contexts[0].values())

    def assert_context_follows_rows(self, first_rows: int, *, shrink_only: bool) -> None:
        """Every step's context has that step's rows; a context object is reused while the rows
        stay, its storage untouched; ``shrink_only`` (one row per sequence): it changes exactly
        when rows leave, and they only leave."""
        assert len(self.contexts) > 1
        assert self.rows[0] == first_rows
        for context, rows in zip(self.contexts, self.rows):
            assert all(value.shape[0] == rows for value in context.values())
        steps = list(zip(self.contexts, self.pointers, self.rows))
        for (context, pointers, rows), (after, after_pointers, after_rows) in zip(steps, steps[1:]):
            if after is context:
                assert after_pointers == pointers and after_rows == rows
            if shrink_only:
                assert after_rows <= rows
                assert (after is context) == (after_rows == rows)


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
    assert expand_state(state, 1) is state


def test_beam_search_reindexes_the_context_only_when_its_rows_change():
    vocab_size, max_length, width = 6, 7, 3
    model = TrigramModel(random_tables((3, vocab_size, vocab_size, vocab_size), seed=13), max_length)
    spy = StepSpy(model.step)
    state, context = model.start([2, 0, 1])
    fed, produced = [], []

    def step(tokens, state, context):
        fed.append(state["history"])
        logprobs, new_state = spy(tokens, state, context)
        produced.append(new_state["history"])
        return logprobs, new_state

    beam = beam_search(
        step, state, context, batch_size=3, bos_id=BOS, eos_id=EOS, beam_size=width, max_length=max_length
    )
    spy.assert_context_follows_rows(first_rows=3, shrink_only=False)
    assert spy.contexts[0] is context  # the first step runs one beam per item on the caller's rows
    items = [step_context["item"].tolist() for step_context in spy.contexts]
    order = {item: rank for rank, item in enumerate([2, 0, 1])}
    for step_items in items:  # the beams of an item are adjacent rows, items in batch order, at most K each
        ranks = [order[item] for item in step_items]
        assert ranks == sorted(ranks) and max(map(ranks.count, ranks)) <= width
    assert max(len(step_items) for step_items in items) > 3  # the beams did branch out
    assert any(len(step_items) < len(items[1]) for step_items in items[2:])  # and finished beams left
    for index in range(1, len(items)):  # a new context object exactly when the rows' items changed
        assert (spy.contexts[index] is spy.contexts[index - 1]) == (items[index] == items[index - 1])
    # the state did follow the beams: some step was fed rows gathered from other beams of its item,
    # while that step's context was the very object of the step before
    assert any(
        not torch.equal(before, after) and spy.contexts[index + 1] is spy.contexts[index]
        for index, (before, after) in enumerate(zip(produced, fed[1:]))
    )
    assert all(len(words) <= max_length for words in beam.sequences)


@pytest.mark.parametrize("name", ["show_attend_tell", "updown", "show_tell"])
def test_caption_models_context_follows_the_rows_of_every_decoder(name: str) -> None:
    torch.manual_seed(0)
    model = MODELS.build(name, small_captioner(name)).eval()
    config = model.config
    images = torch.randn(2, 3, 32, 32)
    options = dict(batch_size=2, bos_id=config.bos_id, eos_id=config.eos_id, pad_id=config.pad_id, max_length=6)
    with torch.no_grad():
        state, context = model.start(model.encode(images))
        assert not set(state) & set(context)
        assert name == "show_tell" or set(context) >= {"grid", "grid_projected"}
        sampling = StepSpy(model.step)
        sample_decode(sampling, state, context, num_samples=4, **options)
        sampling.assert_one_context(8)  # sampling expands the context once and keeps every row
        for run, shrink_only in [
            (lambda step: beam_search(step, state, context, beam_size=3, **options), False),
            (lambda step: greedy_decode(step, state, context, **options), True),
        ]:
            spy = StepSpy(model.step)
            run(spy)
            spy.assert_context_follows_rows(first_rows=2, shrink_only=shrink_only)
            assert spy.contexts[0] is context  # the first step gets the caller's own context


@pytest.mark.parametrize("name", ["show_attend_tell", "updown"])
def test_caption_beams_equal_those_of_a_context_carried_in_the_state(name: str) -> None:
    """The old layout (context inside the state, gathered every step) gives the very same hypotheses."""
    torch.manual_seed(1)
    model = MODELS.build(name, small_captioner(name)).eval()
    config = model.config
    options = dict(
        batch_size=3,
        bos_id=config.bos_id,
        eos_id=config.eos_id,
        pad_id=config.pad_id,
        max_length=8,
        beam_size=3,
        n_best=3,
        record="attention",
    )

    def carried_step(tokens, state, _):
        """The former layout: one flat dict whose context keys beam search gathers with the rest."""
        carried = {key: state[key] for key in context}
        recurrent = {key: value for key, value in state.items() if key not in context}
        logprobs, recurrent = model.step(tokens, recurrent, carried)
        return logprobs, {**recurrent, **carried}

    with torch.no_grad():
        state, context = model.start(model.encode(torch.randn(3, 3, 32, 32)))
        new = beam_search(model.step, state, context, **options)
        old = beam_search(carried_step, {**state, **context}, **options)
    assert new.hypotheses == old.hypotheses
    assert torch.equal(new.hypothesis_scores, old.hypothesis_scores)
    assert all(
        torch.equal(a, b)
        for item_a, item_b in zip(new.hypothesis_traces, old.hypothesis_traces)
        for a, b in zip(item_a, item_b)
    )


@pytest.mark.parametrize("baseline", ["greedy", "mean"])
def test_self_critical_sampling_sees_one_context_per_decoder_and_backpropagates(baseline: str) -> None:
    torch.manual_seed(2)
    captions = ["a red circle", "two blue squares", "a green triangle"]
    vocab = Vocabulary.build([caption.split() for caption in captions])
    model = MODELS.build("show_attend_tell", {**small_captioner("show_attend_tell"), "vocab_size": len(vocab)})
    spy = StepSpy(model.step)
    model.step = spy  # the objective decodes through model.step
    objective = SelfCriticalObjective(
        model,
        CiderD([[c] for c in captions]),
        [[c] for c in captions],
        vocab.decode,
        num_samples=3,
        baseline=baseline,
        max_length=5,
    )
    out = objective({"image": torch.randn(3, 3, 32, 32), "index": [0, 1, 2]})
    assert torch.isfinite(out["loss"])
    out["loss"].backward()
    assert model.embedding.weight.grad is not None
    sampled = [context for context in spy.contexts if context["grid"].shape[0] == 9]
    assert len(sampled) > 1 and all(context is sampled[0] for context in sampled)
    greedy = StepSpy(None)  # the greedy baseline's steps: those after the sampling ones
    greedy.contexts, greedy.pointers, greedy.rows = (
        spy.contexts[len(sampled) :],
        spy.pointers[len(sampled) :],
        spy.rows[len(sampled) :],
    )
    assert (len(greedy.contexts) > 0) == (baseline == "greedy")
    assert all(context["grid"].shape[0] < 9 for context in greedy.contexts)
    assert len(sampled) + len(greedy.contexts) == len(spy.contexts)
    if greedy.contexts:
        greedy.assert_context_follows_rows(first_rows=3, shrink_only=True)
