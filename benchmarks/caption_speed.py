"""Captioning speed on CPU, shipped caption model: where the time goes, against the per-image
tutorial beam search, and how it scales with the images per call.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/caption_speed.py [--weights FILE] [--quick]

- model: ``--weights FILE`` if it exists, else ``weights/caption_shapes.safetensors`` if present,
  else a randomly initialised ``show_attend_tell`` whose <pad>, <bos> and <eos> are suppressed
  (every caption then runs ``max_length`` steps);
- images: rendered shapes-world test scenes, already transformed (no image loading);
- decomposition, per beam size (3, 5) and images per call (1, 16, 64), over ``--images`` images:
  the encoder alone (``model.encode``), decoding alone (``start`` + beam search on precomputed
  encoder outputs), end to end (``Captioner.caption_tensors``), and the per-image tutorial search
  of ``decoding_speed.py`` (same model step, beams as the batch, k shrinking) on the same encoder
  outputs. All of them alternate in interleaved rounds; each figure is a median over the rounds,
  each ratio the median of per-round ratios with its spread [min-max];
- "e2e/encoder" is the throughput of end-to-end captioning as a fraction of the encoder's alone
  (encoder seconds / end-to-end seconds; 100% would mean decoding is free);
- rows: rows through ``step()`` per image (deterministic), ours and the tutorial's;
- scaling: beam 3 captions/s, decoding only and end to end, at 1 .. 256 images per call;
- resnet: the same decomposition for show_attend_tell on a 7x7x2048 grid with attention 512
  (random weights that end captions, see ``decoding_speed.py``): decoding only, plus the
  resnet101 encoder (random weights, 224 px) at one image per call;
- cold start of ``mmrnn caption`` against ``python -c "import torch"``.
Every table row ends with the load average (1 minute) before and after it. Times are CPU seconds
of the (one) torch thread by default (``--clock cpu``: waiting for a core on a loaded machine does
not count); ``--clock wall`` gives elapsed time. The cold start is always elapsed time.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from decoding_speed import TABLE_HEADER, batched_captions, case_rows, resnet_case, tutorial_captions
from timing import CLOCKS, Load, interleaved, machine_line, ratio_text

from multimodal_rnn.checkpoint import save_checkpoint
from multimodal_rnn.datasets.shapes.world import ShapesConfig, image_record, render_scene
from multimodal_rnn.encoders.image import ImageEncoder, ImageEncoderConfig, build_transform
from multimodal_rnn.tasks.caption.models import ShowAttendTell, ShowAttendTellConfig
from multimodal_rnn.tasks.caption.predictor import Captioner
from multimodal_rnn.text.vocab import SPECIAL_TOKENS, Vocabulary

REPO = Path(__file__).resolve().parent.parent
DEFAULT_WEIGHTS = REPO / "weights" / "caption_shapes.safetensors"
SAMPLE_IMAGE = REPO / "data" / "samples" / "shapes_test_1.png"
VOCAB_SIZE = 40


def load_captioner(weights: str | None) -> tuple[Captioner, Path | None, str]:
    """The captioner, the checkpoint it came from (None: random) and a line saying which."""
    for candidate in ([Path(weights)] if weights else []) + [DEFAULT_WEIGHTS]:
        if candidate.is_file():
            captioner = Captioner.from_checkpoint(candidate)
            return captioner, candidate, f"weights {candidate} ({captioner.checkpoint.model_name})"
    vocab = shapes_vocabulary()
    model = ShowAttendTell(
        ShowAttendTellConfig(vocab_size=len(vocab), pad_id=vocab.pad_id, bos_id=vocab.bos_id, eos_id=vocab.eos_id)
    )
    with torch.no_grad():
        for token_id in (vocab.pad_id, vocab.bos_id, vocab.eos_id):  # never ends: every caption is max_length words
            model.output.bias[token_id] = -1e4
    missing = f"{weights} not found; " if weights else ""
    note = (
        f"{missing}random show_attend_tell (default config, {len(vocab)}-word vocab, "
        "<pad>/<bos>/<eos> suppressed; no trained weights)"
    )
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


def in_calls(run: Callable[[torch.Tensor], object], pixels: torch.Tensor, per_call: int) -> Callable[[], None]:
    """A callable running ``run`` on ``pixels`` in calls of ``per_call`` images."""

    def calls() -> None:
        for start in range(0, len(pixels), per_call):
            run(pixels[start : start + per_call])

    return calls


def decomposition(
    captioner: Captioner, pixels: torch.Tensor, beam_size: int, sizes: list[int], repeats: int, clock: str
) -> list[str]:
    """Rows of the decomposition table for one beam size (see the module docstring)."""
    model = captioner.model
    encoded = model.encode(pixels)
    images = len(pixels)
    runs: dict[str, Callable[[], object]] = {"tutorial": lambda: tutorial_captions(model, encoded, beam_size)}
    for size in sizes:
        runs[f"encoder {size}"] = in_calls(model.encode, pixels, size)
        runs[f"decode {size}"] = lambda b=size: batched_captions(model, encoded, beam_size, b)
        runs[f"e2e {size}"] = in_calls(
            lambda chunk: captioner.caption_tensors(chunk, beam_size=beam_size), pixels, size
        )
    with Load() as load:
        rounds = interleaved(runs, repeats, clock=CLOCKS[clock])
    lines = []
    tutorial_ms = rounds.median("tutorial") / images * 1e3
    tutorial_rows: list[int] = []
    tutorial_captions(model, encoded, beam_size, tutorial_rows)
    for size in sizes:
        encoder, decode, e2e = (rounds.median(f"{kind} {size}") / images * 1e3 for kind in ("encoder", "decode", "e2e"))
        step_rows: list[int] = []
        batched_captions(model, encoded, beam_size, size, step_rows)
        lines.append(
            f"{beam_size:>4} {size:>5} {encoder:>8.3f} {decode:>8.3f} {e2e:>8.3f} {1e3 / e2e:>8.1f} "
            f"{tutorial_ms:>8.3f}  {ratio_text(rounds.ratio('tutorial', f'decode {size}')):<20} "
            f"{ratio_text(rounds.ratio(f'encoder {size}', f'e2e {size}')):<20} "
            f"{sum(step_rows) / images:>5.1f} {sum(tutorial_rows) / images:>5.1f}  {load}"
        )
    return lines


def scaling(captioner: Captioner, pixels: torch.Tensor, sizes: list[int], repeats: int, clock: str) -> list[str]:
    """Beam-3 captions/s at each images-per-call size: decoding only and end to end."""
    model = captioner.model
    encoded = model.encode(pixels)
    runs: dict[str, Callable[[], object]] = {}
    for size in sizes:
        runs[f"decode {size}"] = lambda b=size: batched_captions(model, encoded, 3, b)
        runs[f"e2e {size}"] = in_calls(lambda chunk: captioner.caption_tensors(chunk, beam_size=3), pixels, size)
    with Load() as load:
        rounds = interleaved(runs, repeats, clock=CLOCKS[clock])
    lines = []
    for size in sizes:
        decode, e2e = (len(pixels) / rounds.median(f"{kind} {size}") for kind in ("decode", "e2e"))
        lines.append(f"{size:>11} {decode:>12.1f} {e2e:>12.1f}  {load}")
    return lines


def resnet_lines(images: int, sizes: list[int], beam_sizes: list[int], repeats: int, clock: str) -> list[str]:
    """Decoding on a resnet-sized grid (7x7x2048, attention 512) against the tutorial, and its encoder."""
    encoder = ImageEncoder(ImageEncoderConfig(backbone="resnet101", image_size=224), load_weights=False).eval()
    photo = torch.randn(1, 3, 224, 224)
    with Load() as load:
        rounds = interleaved({"encoder": lambda: encoder(photo)}, repeats, clock=CLOCKS[clock])
    milliseconds = rounds.median("encoder") * 1e3
    lines = [f"resnet101 encoder (random weights, 224 px), 1 image per call: {milliseconds:.1f} ms/image  {load}"]
    case = resnet_case(images, 10000, torch.device("cpu"), seed=0)
    for beam_size in beam_sizes:
        lines += case_rows(case, beam_size, sizes, repeats, torch.device("cpu"), clock)
    return lines


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
            save_checkpoint(
                checkpoint,
                captioner.model,
                task="caption",
                model_name="show_attend_tell",
                model_config=captioner.model.config,
                vocab=captioner.vocab.to_dict(),
            )
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


def predict_scaling_lines(sizes: list[int], threads: int) -> list[str]:
    """``mmrnn predict caption`` (shipped weights, beam 3) on shapes-world folders of each size, as a
    user runs it (a fresh process; image reading, batching and writing included): captions/s."""
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        images = Path(tmp) / "images"
        images.mkdir()
        config = ShapesConfig(seed=7)
        for index in range(max(sizes)):
            record = image_record(config, "test", index)
            render_scene(record.scene, config.image_size).save(images / f"shapes_{index:06d}.png")
        for size in sizes:
            folder = Path(tmp) / f"set_{size}"
            folder.mkdir()
            for index in range(size):
                (folder / f"shapes_{index:06d}.png").symlink_to(images / f"shapes_{index:06d}.png")
            command = [
                sys.executable,
                "-m",
                "apps.cli",
                "predict",
                "caption",
                "--images",
                str(folder),
                "--out",
                str(Path(tmp) / f"results_{size}.json"),
                "--threads",
                str(threads),
            ]
            with Load() as load:
                start = time.perf_counter()
                subprocess.run(
                    command, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": str(threads)}
                )
                seconds = time.perf_counter() - start
            lines.append(f"{size:>8} {seconds:>9.1f} {size / seconds:>12.1f}  {load}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", metavar="FILE", help=f"caption checkpoint (default: {DEFAULT_WEIGHTS} if present)")
    parser.add_argument("--images", type=int, default=64, help="images of the decomposition table")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[1, 16, 64], help="images per call of the decomposition"
    )
    parser.add_argument("--beam-sizes", type=int, nargs="+", default=[3, 5])
    parser.add_argument("--scaling", type=int, nargs="+", default=[1, 4, 16, 64, 256], help="images per call, scaling")
    parser.add_argument("--scaling-images", type=int, default=256)
    parser.add_argument("--resnet-images", type=int, default=32, help="images of the resnet-sized case (0: skip)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--cold-runs", type=int, default=3, help="runs of each cold-start command (0: skip)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads here (one gives steadier timings)")
    parser.add_argument("--clock", choices=CLOCKS, default="cpu", help="cpu: this thread's CPU seconds (default)")
    parser.add_argument(
        "--predict-sizes",
        type=int,
        nargs="*",
        default=[500, 2000, 8000],
        help="dataset sizes for `mmrnn predict caption` scaling (none: skip)",
    )
    parser.add_argument("--quick", action="store_true", help="short run: 16 images, 2 rounds, no resnet or cold start")
    args = parser.parse_args()
    if args.quick:
        args.images, args.scaling_images, args.repeats, args.resnet_images, args.cold_runs = 16, 64, 2, 0, 0
        args.predict_sizes = []
        args.scaling = [size for size in args.scaling if size <= 64]

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    captioner, checkpoint, which = load_captioner(args.weights)
    pixels = shapes_pixels(captioner, max(args.images, args.scaling_images))
    print(machine_line())
    print(f"model: {which}")
    print(
        f"torch {torch.__version__}, CPU, threads={torch.get_num_threads()}, images {tuple(pixels.shape[1:])}, "
        f"max_length {captioner.model.config.max_length}, {args.repeats} interleaved rounds, clock {args.clock}"
    )
    print(f"\ndecomposition over {args.images} images, ms per image (median of rounds):")
    print(
        f"{'beam':>4} {'batch':>5} {'encoder':>8} {'decode':>8} {'e2e':>8} {'e2e c/s':>8} {'tutorial':>8}  "
        f"{'tutorial/decode':<20} {'e2e/encoder':<20} {'rows':>5} {'tut.':>5}  load 1m"
    )
    with torch.no_grad():
        for beam_size in args.beam_sizes:
            for line in decomposition(
                captioner, pixels[: args.images], beam_size, args.sizes, args.repeats, args.clock
            ):
                print(line, flush=True)
        print(f"\nscaling, beam 3, {args.scaling_images} images, captions per second:")
        print(f"{'images/call':>11} {'decode c/s':>12} {'e2e c/s':>12}  load 1m")
        for line in scaling(
            captioner, pixels[: args.scaling_images], args.scaling, max(2, args.repeats // 2), args.clock
        ):
            print(line, flush=True)
        if args.resnet_images:
            print(f"\nresnet-sized grid, {args.resnet_images} images, decoding only (start + search), ms per image:")
            print(TABLE_HEADER)
            for line in resnet_lines(
                args.resnet_images, args.sizes, args.beam_sizes, max(2, args.repeats // 2), args.clock
            ):
                print(line, flush=True)
    if args.predict_sizes:
        print("\nmmrnn predict caption on shapes-world folders (a fresh process each, beam 3):")
        print(f"{'images':>8} {'seconds':>9} {'captions/s':>12}  load 1m")
        for line in predict_scaling_lines(args.predict_sizes, args.threads):
            print(line, flush=True)
    if args.cold_runs:
        print()
        for line in cold_start_lines(captioner, checkpoint, args.cold_runs):
            print(line)
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
