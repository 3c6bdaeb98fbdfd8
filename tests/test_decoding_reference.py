"""The compacting batched beam search against a per-image reference written the tutorial way.

The reference decodes one image at a time with its live beams as the batch: it starts from one
beam, keeps at most ``beam_size`` and drops beams as hypotheses finish, so ``k`` shrinks. It is
plain Python over lists (no shared code with :mod:`multimodal_rnn.decoding` but the row helpers).
With ``prune=False`` it is the uncompacted search (K beams until the K-th finished score beats
every live beam's bound), which shows that dropping beams changes no answer.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from multimodal_rnn.datasets.shapes.world import ShapesConfig, image_record, render_scene
from multimodal_rnn.decoding import beam_search, expand_state, greedy_decode, select_state
from multimodal_rnn.encoders.image import EncodedImage
from multimodal_rnn.tasks.caption.predictor import Captioner
from tests.decoding_models import BOS, EOS, TrigramModel, random_tables

REPO = Path(__file__).resolve().parent.parent
WEIGHTS = REPO / "weights" / "caption_shapes.safetensors"
Hypothesis = tuple[float, list[int], bool]  # (score, words, ended)


def reference_beam_search(
    step,
    state,
    context,
    *,
    bos_id: int,
    eos_id: int,
    beam_size: int,
    max_length: int,
    length_penalty: float = 0.0,
    n_best: int = 1,
    prune: bool = True,
    rows: list[int] | None = None,
) -> list[Hypothesis]:
    """Beam search of ONE image (``state`` and ``context`` of one row), its k live beams as the batch.

    Each step ranks the best 2K continuations of the live beams; an eos among the first K ranks
    finishes a hypothesis, the best K others live on. A beam is dropped (``prune``) when it cannot
    beat the ``n_best``-th finished score, else the search stops when the K-th finished score beats
    every live beam. With ``rows``, the number of rows of every step call is appended to it.
    """

    def penalty(length: int) -> float:
        return ((5 + length) / 6) ** length_penalty

    image_context, final = context, penalty(max_length)
    scores, beams = torch.zeros(1), [[]]  # (k,) and k word lists
    tokens = torch.tensor([bos_id])
    finished: list[Hypothesis] = []
    for t in range(max_length):
        if rows is not None:
            rows.append(len(tokens))
        logprobs, state = step(tokens, state, context)  # (k, V)
        vocab_size = logprobs.shape[1]
        flat = (scores[:, None] + logprobs.float()).reshape(-1)
        top_scores, top_index = flat.topk(min(2 * beam_size, len(flat)))
        survivors = []  # (score, parent, token) of the best K continuations without eos
        for rank, (score, index) in enumerate(zip(top_scores.tolist(), top_index.tolist())):
            parent, token = divmod(index, vocab_size)
            if score == float("-inf"):
                break
            if token == eos_id:
                if rank < beam_size:
                    finished.append((score / penalty(t + 1), beams[parent], True))
            elif len(survivors) < beam_size:
                survivors.append((score, parent, token))
        if t == max_length - 1:
            finished += [(score / final, beams[parent] + [token], False) for score, parent, token in survivors]
            break
        ranked = sorted((hypothesis[0] for hypothesis in finished), reverse=True)
        if prune:
            bar = ranked[n_best - 1] if len(ranked) >= n_best else float("-inf")
            survivors = [survivor for survivor in survivors if survivor[0] / final > bar]
        elif survivors and len(ranked) >= beam_size and ranked[beam_size - 1] >= survivors[0][0] / final:
            survivors = []
        if not survivors:
            break
        state = select_state(state, torch.tensor([parent for _, parent, _ in survivors]))
        context = expand_state(image_context, len(survivors))  # k copies of the image's context
        scores = torch.tensor([score for score, _, _ in survivors])
        beams = [beams[parent] + [token] for _, parent, token in survivors]
        tokens = torch.tensor([token for _, _, token in survivors])
    best = sorted(finished, key=lambda hypothesis: -hypothesis[0])  # stable: ties keep their order
    return (best + [(float("-inf"), [], False)] * n_best)[:n_best]


def assert_same(batched, item: int, reference: list[Hypothesis]) -> None:
    """Hypotheses, ended flags and scores (1e-5) of ``item`` of a batched BeamOutput equal the reference's."""
    assert batched.hypotheses[item] == [words for _, words, _ in reference]
    assert batched.hypothesis_ended[item].tolist() == [ended for _, _, ended in reference]
    assert batched.hypothesis_scores[item].tolist() == pytest.approx([score for score, _, _ in reference], abs=1e-5)


def counting(step, rows: list[int]):
    """``step`` that appends the number of rows of every call to ``rows``."""

    def counted(tokens, state, context):
        rows.append(len(tokens))
        return step(tokens, state, context)

    return counted


@pytest.mark.parametrize("beam_size", [1, 3, 5])
@pytest.mark.parametrize("batch_size", [1, 16])
@pytest.mark.parametrize(("alpha", "n_best"), [(0.0, 1), (0.7, 1), (0.0, 3)])
def test_batched_search_equals_the_per_image_reference_on_random_models(beam_size, batch_size, alpha, n_best):
    n_best = min(n_best, beam_size)
    for seed, vocab_size in [(21, 6) if batch_size == 1 else (22, 11)]:  # 6 words: fewer candidates than 2K at beam 5
        max_length = 9
        model = TrigramModel(random_tables((16, vocab_size, vocab_size, vocab_size), seed=seed), max_length)
        options = dict(
            bos_id=BOS, eos_id=EOS, beam_size=beam_size, max_length=max_length, length_penalty=alpha, n_best=n_best
        )
        batched_rows: list[int] = []
        outputs = [
            beam_search(counting(model.step, batched_rows), *model.start(items), batch_size=len(items), **options)
            for items in [list(range(start, start + batch_size)) for start in range(0, 16, batch_size)]
        ]
        reference_rows: list[int] = []
        for item in range(16):
            reference = reference_beam_search(model.step, *model.start([item]), rows=reference_rows, **options)
            assert_same(outputs[item // batch_size], item % batch_size, reference)
            if batch_size == 1:  # the uncompacted search finds the same (it does not depend on the batch)
                assert reference_beam_search(model.step, *model.start([item]), prune=False, **options) == reference
        assert sum(batched_rows) == sum(reference_rows)  # the batch ran exactly the reference's live beams


def shipped_pixels(captioner: Captioner, generated: int) -> torch.Tensor:
    """The sample images and ``generated`` rendered shapes test scenes, transformed: (N, 3, H, W)."""
    images = [Image.open(path).convert("RGB") for path in sorted((REPO / "data" / "samples").glob("*.png"))]
    world = ShapesConfig(seed=7, test_size=generated)
    images += [render_scene(image_record(world, "test", i).scene, world.image_size) for i in range(generated)]
    return torch.stack([captioner.transform(image) for image in images])


@pytest.mark.skipif(not WEIGHTS.is_file(), reason="the shipped caption model is not in weights/")
def test_batched_search_equals_the_per_image_reference_on_the_shipped_caption_model():
    captioner = Captioner.from_checkpoint(WEIGHTS)
    model, vocab = captioner.model, captioner.vocab
    with torch.no_grad():
        encoded = model.encode(shipped_pixels(captioner, 13))  # 16 images
        for beam_size in (1, 3, 5):
            options = dict(
                bos_id=vocab.bos_id, eos_id=vocab.eos_id, beam_size=beam_size, max_length=model.config.max_length
            )
            whole = beam_search(model.step, *model.start(encoded), batch_size=16, pad_id=vocab.pad_id, **options)
            for item in range(16):
                one = EncodedImage(encoded.grid[item : item + 1], encoded.pooled[item : item + 1])
                reference = reference_beam_search(model.step, *model.start(one), **options)
                alone = beam_search(model.step, *model.start(one), batch_size=1, pad_id=vocab.pad_id, **options)
                assert_same(whole, item, reference)
                assert_same(alone, 0, reference)
                if beam_size == 3:
                    assert (
                        reference_beam_search(model.step, *model.start(one), prune=False, **options)[0][1]
                        == (reference[0][1])
                    )
    expected = ["a large blue square on a gray background", "a large blue circle", "a picture with three shapes"]
    assert [
        result.caption for result in captioner.caption_tensors(shipped_pixels(captioner, 0), beam_size=3)
    ] == expected


def test_greedy_steps_only_the_rows_that_have_not_ended():
    vocab_size, max_length = 7, 9
    model = TrigramModel(random_tables((6, vocab_size, vocab_size, vocab_size), seed=23), max_length)
    rows: list[int] = []
    out = greedy_decode(
        counting(model.step, rows),
        *model.start(list(range(6))),
        batch_size=6,
        bos_id=BOS,
        eos_id=EOS,
        max_length=max_length,
    )
    steps = out.mask.sum(dim=1)  # (R,) steps each row ran, its eos included
    assert len(set(steps.tolist())) > 1
    assert rows == [int((steps > t).sum()) for t in range(len(rows))]


def test_the_first_beam_step_runs_one_row_per_item_and_beams_shrink_as_hypotheses_finish():
    vocab_size, max_length, width = 8, 10, 4
    model = TrigramModel(random_tables((5, vocab_size, vocab_size, vocab_size), seed=24), max_length)
    rows: list[int] = []
    beam_search(
        counting(model.step, rows),
        *model.start(list(range(5))),
        batch_size=5,
        bos_id=BOS,
        eos_id=EOS,
        beam_size=width,
        max_length=max_length,
    )
    assert rows[0] == 5 and 5 < max(rows) <= 5 * width  # one beam per item, then they branch out
    assert rows[-1] < max(rows)  # and leave as hypotheses finish
