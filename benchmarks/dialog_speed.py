"""Visual dialog speed on CPU: training rounds/s and ranking rounds/s (100 options) of lf_disc and lf_gen.

    .venv/bin/python benchmarks/dialog_speed.py                    # default models and sizes, < 1 min
    .venv/bin/python benchmarks/dialog_speed.py --models lf_disc --dialogs 16 --set hidden_size=128
    .venv/bin/python benchmarks/dialog_speed.py --dry-run          # tiny sizes, a smoke test

- data: a shapes world of ``--images`` training images written to a temporary folder and read
  back as ``mmrnn train dialog`` reads it; batches of ``--dialogs`` dialogs (10 rounds each)
  are made by :class:`VisDialDataset` + :func:`collate_visdial`, whose time is reported on its
  own ("data"), so the model rows time the model alone;
- models: the default :class:`DialogModelConfig` (what ``mmrnn train dialog`` trains) with
  ``--set`` overrides, fresh weights;
- training: forward, backward, gradient clipping and an AdamW step per batch;
- ranking (no grad, eval mode), every round's 100 options scored:

  * ``batched (library)``: ``model(batch)``. A discriminative model encodes each *distinct*
    answer of the batch once (the rows ``collate_visdial`` stores) and indexes them;
    a generative model scores every option of every round in one call;
  * ``no dedup`` (discriminative only): the same single call, but all D x R x 100 options
    encoded as their own sequences;
  * ``per round``: the naive loop, one call per round encoding (or scoring) its 100 options.

  All variants compute the same scores (the largest difference is printed as a check).
- memory: the process's peak resident set during each phase (``VmHWM`` of
  ``/proc/self/status``, reset before each phase through ``/proc/self/clear_refs``; where that
  reset is not allowed the column is the peak of the run so far, which only grows).

Timings are the best of ``--repeats`` runs after one warm-up, with ``--threads`` torch threads
(default 1: benchmark machines are often shared).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

from multimodal_rnn.datasets.shapes.world import ShapesConfig, generate_shapes_world
from multimodal_rnn.datasets.image_reader import ImageReader
from multimodal_rnn.datasets.visdial import shapes_source
from multimodal_rnn.datasets.visdial_batches import DialogText, VisDialDataset, collate_visdial
from multimodal_rnn.encoders.image import build_transform
from multimodal_rnn.tasks.dialog.models import DialogModel
from multimodal_rnn.images import load_image
from multimodal_rnn.tasks import MODELS
from multimodal_rnn.tasks.dialog.training import build_dialog_vocabulary
from multimodal_rnn.text.vocab import Vocabulary
from timing import Load, best_seconds, machine_line

_STATUS = Path("/proc/self/status")


def reset_peak_memory() -> bool:
    """Reset the process's peak RSS (Linux ``clear_refs`` 5); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _status_mib(field: str) -> float | None:
    """A memory line of ``/proc/self/status`` (kB there) in MiB, None where it is missing."""
    if _STATUS.exists():
        for line in _STATUS.read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return None


def peak_memory_mib() -> float:
    """Peak resident memory (MiB) since the last reset, or since the start where resets fail."""
    peak = _status_mib("VmHWM")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if peak is None else peak


def measure(run: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """(best seconds, peak RSS MiB during the runs)."""
    reset_peak_memory()
    seconds = best_seconds(run, repeats)
    return seconds, peak_memory_mib()


def build_model(name: str, vocab: Vocabulary, overrides: dict[str, Any]) -> DialogModel:
    config = MODELS.config(name, {**overrides, "num_words": len(vocab), "pad_id": vocab.pad_id,
                                  "bos_id": vocab.bos_id, "eos_id": vocab.eos_id}, where="--set")
    model = MODELS.build(name, config)
    assert isinstance(model, DialogModel)
    return model


def train_step(model: DialogModel, optimizer: torch.optim.Optimizer, batch: dict[str, Any]) -> None:
    """One update as the trainer makes it: forward, backward, clipping, AdamW."""
    optimizer.zero_grad(set_to_none=True)
    model(batch)["loss"].backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    optimizer.step()


def no_dedup_scores(model: DialogModel, batch: dict[str, Any]) -> torch.Tensor:
    """Discriminative scores (D, R, 100) with every option encoded as its own sequence."""
    encoded = model.encode(batch)  # (D, R, H)
    dialogs, rounds, count = batch["options"].shape
    words = batch["answers"][batch["options"]].reshape(dialogs * rounds * count, -1)  # (D * R * 100, T)
    lengths = batch["answer_lengths"][batch["options"]].reshape(-1)
    options = model.encode_answers(words, lengths).view(dialogs, rounds, count, -1)  # (D, R, 100, H)
    return torch.einsum("drh,drkh->drk", encoded, options)


def per_round_scores(model: DialogModel, batch: dict[str, Any]) -> torch.Tensor:
    """Scores (D, R, 100), one call per round for its 100 options (the naive evaluation loop)."""
    encoded = model.encode(batch)  # (D, R, H)
    dialogs, rounds, count = batch["options"].shape
    scores = torch.empty(dialogs, rounds, count)
    for d in range(dialogs):
        for r in range(rounds):
            rows = batch["options"][d, r]  # (100,)
            words, lengths = batch["answers"][rows], batch["answer_lengths"][rows]
            words = words[:, : int(lengths.max())]
            if model.decoder == "discriminative":
                scores[d, r] = model.encode_answers(words, lengths) @ encoded[d, r]
            else:
                scores[d, r] = model.sequence_logprob(encoded[d, r].expand(count, -1), words, lengths)
    return scores


def benchmark_model(name: str, vocab: Vocabulary, batches: list[dict[str, Any]], overrides: dict[str, Any],
                    repeats: int) -> list[tuple[str, float, float, str]]:
    """Rows (what, rounds/s, peak RSS MiB, note) for one model."""
    torch.manual_seed(0)
    model = build_model(name, vocab, overrides)
    rounds = sum(int(b["round_mask"].sum()) for b in batches)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    seconds, peak = measure(lambda: [train_step(model, optimizer, b) for b in batches], repeats)
    note = f"{len(batches)} batch(es) of {len(batches[0]['image_id'])} dialogs"
    rows = [(f"{name} training", rounds / seconds, peak, note)]
    model.eval()
    variants: dict[str, Callable[[dict[str, Any]], torch.Tensor]] = {
        "ranking, batched (library)": lambda b: model(b)["scores"]}
    if model.decoder == "discriminative":
        variants["ranking, no dedup"] = lambda b: no_dedup_scores(model, b)
    variants["ranking, per round"] = lambda b: per_round_scores(model, b)
    with torch.no_grad():
        reference = [variants["ranking, batched (library)"](b) for b in batches]
        for label, score in variants.items():
            seconds, peak = measure(lambda: [score(b) for b in batches], repeats)
            difference = max(float((score(b) - s).abs().max()) for b, s in zip(batches, reference))
            rows.append((f"{name} {label}", rounds / seconds, peak, f"max |score diff| {difference:.1e}"))
    return rows


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["lf_disc", "lf_gen"], help="registered dialog models")
    parser.add_argument("--images", type=int, default=16,
                        help="shapes-world dialogs to generate (default: %(default)s)")
    parser.add_argument("--dialogs", type=int, default=8, help="dialogs per batch (default: %(default)s)")
    parser.add_argument("--batches", type=int, default=1, help="batches per timed run (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs, best reported (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="DialogModelConfig override")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes and model, a smoke test")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = parse_overrides(args.set)
    if args.dry_run:
        args.images, args.dialogs, args.batches, args.repeats = 4, 2, 1, 1
        overrides = {"hidden_size": 16, "embed_size": 8, "attention_size": 8,
                     "encoder": {"channels": [4, 8]}, **overrides}
    start = time.perf_counter()
    load = Load()
    print(machine_line())
    with tempfile.TemporaryDirectory() as folder:
        generate_shapes_world(folder, ShapesConfig(train_size=args.images, val_size=0, test_size=0))
        data = shapes_source(folder, "train").read()
        vocab = build_dialog_vocabulary(data)
        probe = build_model(args.models[0], vocab, overrides)
        dataset = VisDialDataset(data, ImageReader(load_image, build_transform(probe.config.encoder)), DialogText(vocab))
        groups = [range(first, first + args.dialogs) for first in range(0, args.dialogs * args.batches, args.dialogs)]
        if groups[-1][-1] >= len(dataset):
            parser.error(f"--dialogs x --batches = {args.dialogs * args.batches} needs --images >= that")

        def collate_all() -> list[dict[str, Any]]:
            return [collate_visdial([dataset[i] for i in group], pad_id=vocab.pad_id) for group in groups]

        seconds, peak = measure(collate_all, args.repeats)
        batches = collate_all()
    rounds = sum(int(b["round_mask"].sum()) for b in batches)
    answers = sum(int(b["answers"].shape[0]) for b in batches)
    print(f"dialog speed: {len(batches)} batches of {args.dialogs} dialogs ({rounds} rounds, {100 * rounds} options, "
          f"{answers} distinct answer rows), torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"model {json.dumps(overrides) if overrides else 'defaults'}, peak-RSS reset "
          f"{'per phase' if reset_peak_memory() else 'unavailable (peak of the run so far)'}, "
          f"RSS now {_status_mib('VmRSS') or 0:.0f} MiB")
    rows = [("data: items + collate_visdial", rounds / seconds, peak, "images read from PNG")]
    for name in args.models:
        rows += benchmark_model(name, vocab, batches, overrides, args.repeats)
    width = max(len(row[0]) for row in rows)
    print(f"{'what':<{width}} {'rounds/s':>10} {'peak RSS':>10}  note")
    for what, speed, peak, note in rows:
        print(f"{what:<{width}} {speed:>10.1f} {peak:>6.0f} MiB  {note}")
    by_name = {row[0]: row[1] for row in rows}
    for name in args.models:
        library = by_name[f"{name} ranking, batched (library)"]
        ratios = [f"{library / by_name[key]:.1f}x vs {key.split(', ')[1]}" for key in by_name
                  if key.startswith(f"{name} ranking, ") and "library" not in key]
        print(f"{name}: batched ranking is {', '.join(ratios)}  (best of {args.repeats}; {load})")
    print(f"total {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
