"""Caption decoding alone (encoder excluded): the compacting batched beam search against the
per-image beam search of the sgrvinod tutorial ("a PyTorch Tutorial to Image Captioning",
``caption.py``), on the same model ``step``.

The baseline (:func:`tutorial_beam_search`) is what a user writes: one image at a time, its k
live beams as the batch, the image's context repeated k times and re-indexed with the state at
every step; the best k of all k * V continuations are kept, those ending in eos are finished
and k shrinks by their number, until k is 0 or ``max_length`` steps ran (the live beams are then
finished too); the best finished score wins. It is a different rule from the toolkit's (which
keeps K live beams not ending in eos while they can still win), so the captions may differ: the
agreement is printed.

Cases (show_attend_tell):

- ``shipped 4x4x128``: ``weights/caption_shapes.safetensors`` on rendered shapes-world test scenes
  at its own 64 px (a 4x4 grid of 128 channels, attention 128);
- ``shipped 8x8x128``: the same trained model on the same scenes rendered at 128 px (8x8 grid);
- ``resnet 7x7x2048``: the show_attend_tell class configured as on resnet101 features at 224 px
  (49 positions x 2048 channels, attention/hidden/embedding 512, 10,000 words) with random
  weights and random non-negative features; one LSTM unit is set up as a clock so that <eos>
  becomes likely after about a dozen words, so captions end as a trained model's do.

Per case and beam size: ms per image of ``start`` + beam search over ``--images`` images in calls
of 1, 16 and 64 images, and of the tutorial search; the ratios tutorial/batched of interleaved
rounds (median [min-max]); rows through ``step()`` per image (deterministic); the load average. Times are CPU seconds of
the (one) torch thread by default (``--clock cpu``: waiting for a core on a loaded machine does
not count; ``--clock wall`` for elapsed time, e.g. on CUDA).

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/decoding_speed.py
    python benchmarks/decoding_speed.py --cases resnet --beam-sizes 3 --repeats 3 --device cuda
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable
from pathlib import Path

import torch
from timing import CLOCKS, Load, interleaved, machine_line, ratio_text

from multimodal_rnn.datasets.shapes.world import ShapesConfig, image_record, render_scene
from multimodal_rnn.decoding import beam_search, expand_state, select_state
from multimodal_rnn.encoders.image import EncodedImage, ImageEncoderConfig, build_transform
from multimodal_rnn.tasks.caption.models import CaptionModel, ShowAttendTell, ShowAttendTellConfig
from multimodal_rnn.tasks.caption.predictor import Captioner

WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "caption_shapes.safetensors"
CASES = ("shipped4", "shipped8", "resnet")
TABLE_HEADER = (
    f"{'case':<17} {'beam':>4} {'batch':>5} {'ms/image':>9} {'tutorial ms':>12}  "
    f"{'tutorial/batched':<20} {'rows':>6} {'tut.':>6} {'agree':>6}  load 1m"
)


@dataclasses.dataclass(frozen=True)
class Case:
    """A model and the encoder outputs of one batch: grid (B, N, D), pooled (B, D)."""

    name: str
    model: CaptionModel
    encoded: EncodedImage


def shipped_case(batch_size: int, image_size: int, device: torch.device) -> Case:
    """The shipped caption model on ``batch_size`` shapes test scenes rendered at ``image_size`` px."""
    captioner = Captioner.from_checkpoint(WEIGHTS, device=device)
    model = captioner.model
    transform = build_transform(dataclasses.replace(model.config.encoder, image_size=image_size))
    world = ShapesConfig(test_size=batch_size)
    images = [render_scene(image_record(world, "test", i).scene, image_size) for i in range(batch_size)]
    with torch.no_grad():
        encoded = model.encode(torch.stack([transform(image) for image in images]).to(device))
    height = width = math.isqrt(encoded.grid.shape[1])
    return Case(f"shipped {height}x{width}x{encoded.grid.shape[2]}", model, encoded)


def resnet_case(batch_size: int, vocab_size: int, device: torch.device, seed: int) -> Case:
    """show_attend_tell sized for resnet101 grids (7x7x2048), random weights that end captions."""
    torch.manual_seed(seed)
    config = ShowAttendTellConfig(
        vocab_size=vocab_size,
        encoder=ImageEncoderConfig(backbone="resnet101", image_size=224),
        embed_size=512,
        hidden_size=512,
        attention_size=512,
        dropout=0.0,
    )
    model = ShowAttendTell(config).to(device).eval()
    _make_captions_end(model, after_words=12)
    grid = torch.rand(batch_size, 49, model.feature_size, device=device)  # (B, 49, 2048), like post-ReLU maps
    return Case("resnet 7x7x2048", model, EncodedImage(grid, grid.mean(dim=1)))


def _make_captions_end(model: ShowAttendTell, *, after_words: int) -> None:
    """Unit 0 of the LSTM counts steps (c_t = c_0 + 0.1 t); the <eos> logit rises with it.

    The word logits are sharpened (x8) so that a few words dominate each step, as in a trained
    model; <eos> reads only the clock and overtakes the words after about ``after_words`` steps.
    """
    hidden, eos = model.config.hidden_size, model.config.eos_id
    lstm = model.core.layer.rnn
    clock = [gate * hidden for gate in range(4)]  # unit 0 of the i, f, g, o blocks
    with torch.no_grad():
        lstm.weight_ih_l0[clock] = 0.0
        lstm.weight_hh_l0[clock] = 0.0
        lstm.bias_hh_l0[clock] = 0.0
        lstm.bias_ih_l0[clock] = torch.tensor([20.0, 20.0, math.atanh(0.1), 20.0])  # i = f = o = 1, g = 0.1
        start_cell = model.core.context_to_state[1]  # c_0 = tanh(W pooled + b)
        assert isinstance(start_cell, torch.nn.Linear)
        start_cell.weight[0] = 0.0
        start_cell.bias[0] = -3.0  # c_0 = -0.995: tanh(c_t) crosses 0 near step 10
        model.output.weight.mul_(8.0)
        model.output.weight[eos] = 0.0
        model.output.weight[eos, 0] = 40.0
        model.output.bias[eos] = 6.0 - 40.0 * math.tanh(-0.995 + 0.1 * after_words)


def tutorial_beam_search(
    model: CaptionModel, encoded: EncodedImage, beam_size: int, max_length: int, rows: list[int] | None = None
) -> tuple[list[int], float]:
    """The tutorial's beam search of ONE image (encoded: grid (1, N, D)): (word ids, score).

    With ``rows``, the number of rows of every ``step`` call is appended to it.
    """
    config, device = model.config, encoded.grid.device
    k = beam_size
    state, context = model.start(encoded)
    state, context = expand_state(state, k), expand_state(context, k)  # k copies of the image
    k_prev_words = torch.full((k,), config.bos_id, dtype=torch.long, device=device)
    seqs = k_prev_words[:, None]  # (k, 1): bos, then the words
    top_k_scores = torch.zeros(k, 1, device=device)
    complete_seqs: list[list[int]] = []
    complete_seqs_scores: list[float] = []
    step = 1
    while True:
        if rows is not None:
            rows.append(k)
        scores, state = model.step(k_prev_words, state, context)  # (k, V) log-probabilities
        vocab_size = scores.shape[1]
        scores = top_k_scores.expand_as(scores) + scores
        if step == 1:  # all k beams are the same image: start from the first
            top_k_scores, top_k_words = scores[0].topk(k, 0, True, True)
        else:
            top_k_scores, top_k_words = scores.view(-1).topk(k, 0, True, True)
        prev_word_inds = top_k_words // vocab_size
        next_word_inds = top_k_words % vocab_size
        seqs = torch.cat([seqs[prev_word_inds], next_word_inds.unsqueeze(1)], dim=1)
        incomplete_inds = [ind for ind, next_word in enumerate(next_word_inds) if next_word != config.eos_id]
        complete_inds = list(set(range(len(next_word_inds))) - set(incomplete_inds))
        if step == max_length:  # out of steps: the live beams finish as they are
            complete_inds, incomplete_inds = list(range(len(next_word_inds))), []
        if len(complete_inds) > 0:
            complete_seqs.extend(seqs[complete_inds].tolist())
            complete_seqs_scores.extend(top_k_scores[complete_inds].tolist())
        k -= len(complete_inds)
        if k == 0:
            break
        seqs = seqs[incomplete_inds]
        parents = prev_word_inds[incomplete_inds]
        state, context = select_state(state, parents), select_state(context, parents)
        top_k_scores = top_k_scores[incomplete_inds].unsqueeze(1)
        k_prev_words = next_word_inds[incomplete_inds]
        step += 1
    best = complete_seqs_scores.index(max(complete_seqs_scores))
    words = [word for word in complete_seqs[best][1:] if word != config.eos_id]
    return words, complete_seqs_scores[best]


def tutorial_captions(model: CaptionModel, encoded: EncodedImage, beam_size: int, rows: list[int] | None = None):
    """The tutorial search on every image of ``encoded``, one after the other: word ids per image."""
    return [
        tutorial_beam_search(model, _rows(encoded, index, index + 1), beam_size, model.config.max_length, rows)[0]
        for index in range(encoded.grid.shape[0])
    ]


def batched_captions(
    model: CaptionModel, encoded: EncodedImage, beam_size: int, batch_size: int, rows: list[int] | None = None
) -> list[list[int]]:
    """``start`` + the toolkit's beam search on calls of ``batch_size`` images: word ids per image."""
    config = model.config
    step = model.step if rows is None else _counted(model.step, rows)
    sequences: list[list[int]] = []
    for start in range(0, encoded.grid.shape[0], batch_size):
        chunk = _rows(encoded, start, start + batch_size)
        output = beam_search(
            step,
            *model.start(chunk),
            batch_size=chunk.grid.shape[0],
            bos_id=config.bos_id,
            eos_id=config.eos_id,
            pad_id=config.pad_id,
            max_length=config.max_length,
            beam_size=beam_size,
        )
        sequences.extend(output.sequences)
    return sequences


def _rows(encoded: EncodedImage, start: int, stop: int) -> EncodedImage:
    return EncodedImage(encoded.grid[start:stop], encoded.pooled[start:stop])


def _counted(step: Callable, rows: list[int]) -> Callable:
    """``step`` that also appends its row count to ``rows`` at every call."""

    def counting(tokens: torch.Tensor, state: dict, context: dict | None) -> tuple[torch.Tensor, dict]:
        rows.append(len(tokens))
        return step(tokens, state, context)

    return counting


def case_rows(
    case: Case, beam_size: int, batch_sizes: list[int], repeats: int, device: torch.device, clock: str = "cpu"
) -> list[str]:
    """Table rows of one case and beam size: ms/image per batch size and the tutorial, interleaved."""
    model, encoded = case.model, case.encoded
    images = encoded.grid.shape[0]
    runs: dict[str, Callable[[], object]] = {"tutorial": lambda: tutorial_captions(model, encoded, beam_size)}
    for batch_size in batch_sizes:
        runs[f"batch {batch_size}"] = lambda b=batch_size: batched_captions(model, encoded, beam_size, b)
    synchronize = torch.cuda.synchronize if device.type == "cuda" else None
    with Load() as load:
        rounds = interleaved(runs, repeats, synchronize=synchronize, clock=CLOCKS[clock])
    tutorial_rows: list[int] = []
    tutorial = tutorial_captions(model, encoded, beam_size, tutorial_rows)
    lines = []
    for batch_size in batch_sizes:
        name = f"batch {batch_size}"
        step_rows: list[int] = []
        ours = batched_captions(model, encoded, beam_size, batch_size, step_rows)
        agree = sum(a == b for a, b in zip(ours, tutorial)) / images
        ours_rows, theirs_rows = sum(step_rows) / images, sum(tutorial_rows) / images
        lines.append(
            f"{case.name:<17} {beam_size:>4} {batch_size:>5} {rounds.median(name) / images * 1e3:>9.3f} "
            f"{rounds.median('tutorial') / images * 1e3:>12.3f}  {ratio_text(rounds.ratio('tutorial', name)):<20} "
            f"{ours_rows:>6.1f} {theirs_rows:>6.1f} {agree:>6.0%}  {load}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64, help="images decoded per timed run")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--beam-sizes", type=int, nargs="+", default=[3, 5])
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--vocab-size", type=int, default=10000, help="words of the resnet-sized model")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved timed rounds")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of torch (one gives steadier timings)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clock", choices=CLOCKS, default="cpu", help="cpu: this thread's CPU seconds (default)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(machine_line())
    print(
        f"device={device} threads={torch.get_num_threads()} images={args.images} repeats={args.repeats} "
        f"torch={torch.__version__}; decoding only (start + search), encoder outputs precomputed"
    )
    print(TABLE_HEADER)
    builders = {
        "shipped4": lambda: shipped_case(args.images, 64, device),
        "shipped8": lambda: shipped_case(args.images, 128, device),
        "resnet": lambda: resnet_case(args.images, args.vocab_size, device, args.seed),
    }
    with torch.no_grad():
        for name in args.cases:
            case = builders[name]()
            for beam_size in args.beam_sizes:
                for line in case_rows(case, beam_size, args.batch_sizes, args.repeats, device, args.clock):
                    print(line, flush=True)


if __name__ == "__main__":
    main()
