"""Beam search with the static image context beside the decoder state vs carried inside it.

``step(tokens, state, context)`` takes the per-image context (grid features and their attention
projection) once, expanded to B * beam_size rows when the beams start; beam search gathers only
the recurrent state at every step. Before, the caption models kept the context inside the state
dict, so every beam step also gathered (``index_select``) the whole grid and its projection. The
old layout is reproduced faithfully by :func:`carried_step`: one flat state dict holding the
recurrent state and the context, which the same ``beam_search`` then gathers at every step.
Both layouts decode the same model on the same features; the script checks that their
hypotheses and scores are identical.

Cases (show_attend_tell, batch 64 by default):

- ``shipped 4x4x128``: ``weights/caption_shapes.safetensors`` on rendered shapes-world test scenes
  at its own 64 px (a 4x4 grid of 128 channels, attention 128);
- ``shipped 8x8x128``: the same trained model on the same scenes rendered at 128 px (8x8 grid);
- ``resnet 7x7x2048``: the show_attend_tell class configured as on resnet101 features at 224 px
  (49 positions x 2048 channels, attention/hidden/embedding 512, 10,000 words) with random
  weights and random non-negative features; one LSTM unit is set up as a clock so that <eos>
  becomes likely after about a dozen words, so captions end as a trained model's do.

Timing covers ``start`` (attention projection) plus beam search; the encoder runs once, outside.
For each case and beam size, old and new alternate for ``--repeats`` rounds after a warm-up
(order swapped every round); the row gives the median seconds of each, the median of the
per-round ratios old/new with their spread (min-max), the decoding steps run, the mean caption
length, the context bytes the old layout gathered per step, and ``os.getloadavg()`` (1 minute)
before and after the row.

    OMP_NUM_THREADS=1 python benchmarks/decoding_speed.py
    python benchmarks/decoding_speed.py --cases resnet --beam-sizes 3 --repeats 3 --device cuda
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from multimodal_rnn.datasets.shapes.world import (
    ShapesConfig,
    image_record,
    render_scene,
)
from multimodal_rnn.decoding import BeamOutput, beam_search
from multimodal_rnn.encoders.image import (
    EncodedImage,
    ImageEncoderConfig,
    build_transform,
)
from multimodal_rnn.tasks.caption.models import (
    CaptionModel,
    ShowAttendTell,
    ShowAttendTellConfig,
)
from multimodal_rnn.tasks.caption.predictor import Captioner

WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "caption_shapes.safetensors"
CASES = ("shipped4", "shipped8", "resnet")


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
        vocab_size=vocab_size, encoder=ImageEncoderConfig(backbone="resnet101", image_size=224),
        embed_size=512, hidden_size=512, attention_size=512, dropout=0.0,
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


def carried_step(model: CaptionModel, context_keys: tuple[str, ...]) -> Callable:
    """The former layout: the context rides in the (flat) state dict, so beam search gathers it every step."""

    def step(tokens: torch.Tensor, state: dict, _: None) -> tuple[torch.Tensor, dict]:
        carried = {key: state[key] for key in context_keys}
        recurrent = {key: value for key, value in state.items() if key not in carried}
        logprobs, recurrent = model.step(tokens, recurrent, carried)
        return logprobs, {**recurrent, **carried}

    return step


def decode(case: Case, beam_size: int, layout: str, steps: list[int] | None = None) -> BeamOutput:
    """start() + beam search of the case's batch in the ``"old"`` or ``"new"`` layout.

    With ``steps``, the row count of every step call is appended to it.
    """
    model, config = case.model, case.model.config
    options: dict[str, Any] = dict(batch_size=case.encoded.grid.shape[0], bos_id=config.bos_id, eos_id=config.eos_id,
                                   pad_id=config.pad_id, max_length=config.max_length, beam_size=beam_size)
    state, context = model.start(case.encoded)
    step = model.step if layout == "new" else carried_step(model, tuple(context))
    if steps is not None:
        step = _counted(step, steps)
    if layout == "new":
        return beam_search(step, state, context, **options)
    return beam_search(step, {**state, **context}, **options)


def _counted(step: Callable, steps: list[int]) -> Callable:
    """``step`` that also appends its row count to ``steps`` at every call."""
    def counting(tokens: torch.Tensor, state: dict, context: dict | None) -> tuple[torch.Tensor, dict]:
        steps.append(len(tokens))
        return step(tokens, state, context)

    return counting


def timed(run: Callable[[], object], device: torch.device) -> float:
    """Wall-clock seconds of one call (CUDA work included)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def row(case: Case, beam_size: int, repeats: int, device: torch.device) -> str:
    """One table row: both layouts checked equal, then timed in alternating order."""
    load_before = os.getloadavg()[0]
    steps: list[int] = []
    new, old = decode(case, beam_size, "new", steps), decode(case, beam_size, "old")  # warm-up and check
    if new.hypotheses != old.hypotheses or not torch.equal(new.hypothesis_scores, old.hypothesis_scores):
        raise AssertionError(f"{case.name} beam {beam_size}: the two layouts decoded different captions")
    times: dict[str, list[float]] = {"old": [], "new": []}
    for round_index in range(repeats):
        for layout in ("old", "new") if round_index % 2 == 0 else ("new", "old"):
            times[layout].append(timed(functools.partial(decode, case, beam_size, layout), device))
    ratios = [o / n for o, n in zip(times["old"], times["new"])]
    _, context = case.model.start(case.encoded)
    rows = case.encoded.grid.shape[0] * beam_size
    gathered = sum(t.element_size() * t[0].numel() * rows for t in context.values()) / 2**20
    words = statistics.mean(len(sequence) for sequence in new.sequences)
    return (f"{case.name:<17} {beam_size:>4} {statistics.median(times['old']):>8.3f} "
            f"{statistics.median(times['new']):>8.3f}  x{statistics.median(ratios):.2f} "
            f"({min(ratios):.2f}-{max(ratios):.2f}) {len(steps):>5} {words:>5.1f} "
            f"{gathered:>8.1f}  {load_before:.2f}/{os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--beam-sizes", type=int, nargs="+", default=[3, 5])
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--vocab-size", type=int, default=10000, help="words of the resnet-sized model")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per row, old and new alternating")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of torch (one gives steadier timings)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"device={device} threads={torch.get_num_threads()} B={args.batch_size} repeats={args.repeats} "
          f"torch={torch.__version__}")
    print(f"{'case':<17} {'beam':>4} {'old s':>8} {'new s':>8}  old/new (spread) {'steps':>5} {'words':>5} "
          f"{'MiB/step':>8}  load 1m before/after")
    builders = {
        "shipped4": lambda: shipped_case(args.batch_size, 64, device),
        "shipped8": lambda: shipped_case(args.batch_size, 128, device),
        "resnet": lambda: resnet_case(args.batch_size, args.vocab_size, device, args.seed),
    }
    with torch.no_grad():
        for name in args.cases:
            case = builders[name]()
            for beam_size in args.beam_sizes:
                print(row(case, beam_size, args.repeats, device), flush=True)


if __name__ == "__main__":
    main()
