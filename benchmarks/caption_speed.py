"""Captioning speed on CPU: captions per second, the gain of batching, and the CLI's cold start.

    .venv/bin/python benchmarks/caption_speed.py [--weights FILE] [--threads 1] [--quick]

- model: ``--weights FILE`` if it exists, else ``weights/caption_shapes.safetensors`` if present,
  else a randomly initialised ``show_attend_tell`` (default config, 40-word shapes vocabulary)
  whose <pad>, <bos> and <eos> are suppressed, so every caption runs ``max_length`` steps (the
  slow case; a random model would stop at random lengths and make the decoders incomparable);
- decoding: greedy, beam 3 and beam 5 on rendered shapes-world images, one image per call
  (batch 1) and 64 images per call; their ratio is what batching the same search gains;
  times exclude image loading and transforms (``Captioner.caption_tensors``);
- cold start: wall time of a fresh ``mmrnn caption data/samples/shapes_test_1.png --weights W``
  against ``python -c "import torch"`` (without trained weights the random model is written to
  a temporary checkpoint, so the CLI still loads a real file);
- peak resident memory of this process and of each child.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from multimodal_rnn.tasks.caption.predictor import Captioner
from multimodal_rnn.checkpoint import save_checkpoint
from multimodal_rnn.datasets.shapes.world import ShapesConfig, image_record, render_scene
from multimodal_rnn.encoders.image import build_transform
from multimodal_rnn.tasks.caption.models import ShowAttendTell, ShowAttendTellConfig
from multimodal_rnn.text.vocab import SPECIAL_TOKENS, Vocabulary
from timing import best_seconds

REPO = Path(__file__).resolve().parent.parent
DEFAULT_WEIGHTS = REPO / "weights" / "caption_shapes.safetensors"
SAMPLE_IMAGE = REPO / "data" / "samples" / "shapes_test_1.png"
VOCAB_SIZE = 40
DECODERS = (("greedy", 1), ("beam 3", 3), ("beam 5", 5))


def load_captioner(weights: str | None) -> tuple[Captioner, Path | None, str]:
    """The captioner, the checkpoint it came from (None: random) and a line saying which."""
    for candidate in ([Path(weights)] if weights else []) + [DEFAULT_WEIGHTS]:
        if candidate.is_file():
            captioner = Captioner.from_checkpoint(candidate)
            return captioner, candidate, f"weights {candidate} ({captioner.checkpoint.model_name})"
    vocab = shapes_vocabulary()
    model = ShowAttendTell(ShowAttendTellConfig(vocab_size=len(vocab), pad_id=vocab.pad_id, bos_id=vocab.bos_id,
                                                eos_id=vocab.eos_id))
    with torch.no_grad():
        for token_id in (vocab.pad_id, vocab.bos_id, vocab.eos_id):  # never ends: every caption is max_length words
            model.output.bias[token_id] = -1e4
    missing = f"{weights} not found; " if weights else ""
    note = (f"{missing}random show_attend_tell (default config, {len(vocab)}-word vocab, "
            "<pad>/<bos>/<eos> suppressed; no trained weights)")
    return Captioner(model, vocab, build_transform(model.config.encoder)), None, note


def shapes_vocabulary() -> Vocabulary:
    """The most frequent shapes-world caption words, 40 tokens with the special ones."""
    captions = [c.split() for i in range(200) for c in image_record(ShapesConfig(), "train", i).captions]
    return Vocabulary.build(captions, max_size=VOCAB_SIZE - len(SPECIAL_TOKENS))


def shapes_pixels(captioner: Captioner, count: int) -> torch.Tensor:
    """``count`` rendered test-split scenes, transformed for the model: (count, 3, H, W)."""
    config = ShapesConfig(test_size=count)
    images = [render_scene(image_record(config, "test", i).scene, config.image_size) for i in range(count)]
    return torch.stack([captioner.transform(image) for image in images])


def decoding_rows(captioner: Captioner, pixels: torch.Tensor, singles: int, repeats: int) -> list[str]:
    """One table row per decoder: captions/s at batch 1 and at batch ``len(pixels)``, their ratio, mean words."""
    batch = pixels.shape[0]
    rows = []
    for name, beam_size in DECODERS:
        batched = best_seconds(lambda: captioner.caption_tensors(pixels, beam_size=beam_size), repeats)
        one_by_one = best_seconds(
            lambda: [captioner.caption_tensors(pixels[i : i + 1], beam_size=beam_size) for i in range(singles)], repeats
        )
        words = statistics.mean(len(r.words) for r in captioner.caption_tensors(pixels, beam_size=beam_size))
        single_rate, batched_rate = singles / one_by_one, batch / batched
        rows.append(f"{name:<8} {single_rate:>14.1f} {batched_rate:>15.1f} {batched_rate / single_rate:>12.1f}x"
                    f" {words:>11.1f}")
    return rows


def timed_child(command: list[str]) -> tuple[float, float, str]:
    """Run ``command`` to completion: (wall seconds, peak RSS in MiB, stderr tail if it failed, else "")."""
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        failure = errors.read().decode(errors="replace").strip().splitlines()[-1:] if process.returncode else []
    return seconds, usage.ru_maxrss / 1024, f"exit {process.returncode}: {' '.join(failure)}" if failure else ""


def cold_start_lines(captioner: Captioner, checkpoint: Path | None, runs: int) -> list[str]:
    """Best-of-``runs`` wall time and peak RSS of ``mmrnn caption`` and of ``python -c "import torch"``."""
    cli = Path(sys.executable).with_name("mmrnn")
    if not cli.is_file():
        return [f"cold start: skipped ({cli} not found; install the package into this interpreter's environment)"]
    with tempfile.TemporaryDirectory() as scratch:
        note = ""
        if checkpoint is None:
            checkpoint = Path(scratch) / "random_caption.safetensors"
            save_checkpoint(checkpoint, captioner.model, task="caption", model_name="show_attend_tell",
                            model_config=captioner.model.config, vocab=captioner.vocab.to_dict())
            note = " (random weights written to a temporary checkpoint)"
        commands = {
            "mmrnn caption": [str(cli), "caption", str(SAMPLE_IMAGE), "--weights", str(checkpoint)],
            "import torch": [sys.executable, "-c", "import torch"],
        }
        results = {}
        for name, command in commands.items():
            trials = [timed_child(command) for _ in range(runs)]
            failures = [t[2] for t in trials if t[2]]
            if failures:
                return [f"cold start: {name} failed ({failures[0]})"]
            results[name] = (min(t[0] for t in trials), max(t[1] for t in trials))
    (cli_seconds, cli_rss), (torch_seconds, torch_rss) = results["mmrnn caption"], results["import torch"]
    return [
        f"cold start, best of {runs}{note}:",
        f"  mmrnn caption (1 image, beam 3) {cli_seconds:6.2f} s   peak RSS {cli_rss:6.0f} MiB",
        f"  python -c 'import torch'        {torch_seconds:6.2f} s   peak RSS {torch_rss:6.0f} MiB",
        f"  ratio                           {cli_seconds / torch_seconds:6.2f}x",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", metavar="FILE", help=f"caption checkpoint (default: {DEFAULT_WEIGHTS} if present)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per call in the batched run")
    parser.add_argument("--singles", type=int, default=16, help="images captioned one per call")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (the best counts)")
    parser.add_argument("--cold-runs", type=int, default=3, help="runs of each cold-start command")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads here (one gives steadier timings)")
    parser.add_argument("--quick", action="store_true", help="short run: 4 singles, 1 repeat, 1 cold run")
    args = parser.parse_args()
    if args.quick:
        args.singles, args.repeats, args.cold_runs = 4, 1, 1

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    captioner, checkpoint, which = load_captioner(args.weights)
    pixels = shapes_pixels(captioner, args.batch_size)
    config = captioner.model.config
    print(f"model: {which}")
    print(f"torch {torch.__version__}, CPU, threads={torch.get_num_threads()}, images {tuple(pixels.shape[1:])}, "
          f"max_length {config.max_length}, best of {args.repeats}, batch 1 over {args.singles} images")
    print(f"{'decoder':<8} {'batch 1 cap/s':>14} {f'batch {args.batch_size} cap/s':>15} {'batched/1':>13} "
          f"{'mean words':>11}")
    for row in decoding_rows(captioner, pixels, args.singles, args.repeats):
        print(row)
    for line in cold_start_lines(captioner, checkpoint, args.cold_runs):
        print(line)
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
