"""Video speed: decoding, the clip DataLoader, clips/s of the video models, the fused core, memory per clip.

    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python benchmarks/video_speed.py [--threads 1] [--repeats 5]
    PYTHONPATH=. .venv/bin/python benchmarks/video_speed.py --dry-run      # tiny sizes, a smoke test

Every comparison runs its contenders interleaved (rotating order, one warm-up call each) for
``--repeats`` rounds, in this process, and prints the medians, the median of the per-round time
ratios baseline/contender (above 1: the contender is faster) with their spread (min-max), and the
load average before and after. Sections:

- decode: ``--clips`` generated clips of ``--seconds`` s at ``--fps`` and ``--size`` (moving
  shapes on a textured background, the size of UCF-101's 320x240), as UCF-101 ships them (AVI,
  MPEG-4 part 2) and as H.264 MP4: :func:`multimodal_rnn.video.read_clip` of all frames and of 16
  sampled frames against the loop a user writes with PyAV (``av.open``, ``decode(video=0)``,
  ``to_ndarray("rgb24")``); source frames/s;
- loader: the clip pipeline (:class:`~multimodal_rnn.datasets.video_clips.ClipDataset` +
  ``collate_clips``, 16 frames at 64x64, batch 8) through a ``DataLoader`` with 0 and 2 workers;
  clips/s;
- models: clips/s of the shipped action classifier, frame labeler and video captioner (greedy) at
  batch 1 and 32 on ``--model-clips`` moving-shapes clips put through each one's clip transform
  (rendered in memory, 16 frames); the baseline is one clip per call;
- core: the fused :class:`~multimodal_rnn.recurrent.RecurrentCore` (LSTM) over (B, T, F) frame
  features against a ``torch.nn.LSTMCell`` stepped T times in Python (what a user writes), same
  weights, outputs checked equal; B=32, T=16, F=256 (lrcn's frame features and their changes),
  H=128; forward (no_grad) and forward+backward;
- memory: bytes per clip of the decoded frames, the peak of the decoding (tracemalloc), the
  transformed clip, a frozen encoder's grids (what a feature cache holds) and the frame features,
  and the activations lrcn saves for backward in training.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from timing import CLOCKS, Load, interleaved, machine_line, ratio_text
from torch import nn

from multimodal_rnn.recurrent import CoreConfig, RecurrentCore
from multimodal_rnn.video import VideoClip, read_clip, sample_indices, write_clip

SAMPLED = 16
"""Frames a model samples per clip (the moving-shapes default)."""


def synthetic_clip(frames: int, width: int, height: int, seed: int) -> np.ndarray:
    """(T, H, W, 3) uint8: three shapes moving over a fixed textured gradient, like a real clip for
    a codec (smooth areas, edges, motion), not random noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    background = np.stack([x * 200 // width, y * 200 // height, (x + y) * 100 // (width + height) + 50], -1)
    background = np.clip(background + rng.integers(-12, 13, (height, width, 1)), 0, 255).astype(np.uint8)
    shapes = [
        (
            rng.uniform(0, width),
            rng.uniform(0, height),
            rng.uniform(-4, 4),
            rng.uniform(-3, 3),
            int(rng.integers(12, 40)),
            rng.integers(0, 256, 3),
        )
        for _ in range(3)
    ]
    clip = np.empty((frames, height, width, 3), dtype=np.uint8)
    for t in range(frames):
        frame = background.copy()
        for x0, y0, dx, dy, side, color in shapes:
            left, top = int(x0 + dx * t) % width, int(y0 + dy * t) % height
            frame[top : top + side, left : left + side] = color
        clip[t] = frame
    return clip


def pyav_frames(path: Path) -> list[np.ndarray]:
    """Every frame as RGB, the loop a PyAV user writes."""
    import av

    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def row(name: str, median: float, per_call: str, ratio: str, load: object) -> None:
    print(f"  {name:<34} {median * 1e3:>10.2f} ms  {per_call:>22}  {ratio:<24} {load}", flush=True)


def decode_section(paths: dict[str, list[Path]], frames_per_clip: int, repeats: int) -> None:
    print(
        f"decode ({len(next(iter(paths.values())))} clips of {frames_per_clip} frames per format; "
        "time per clip; ratio PyAV loop / contender)"
    )
    for fmt, files in paths.items():
        runs: dict[str, Callable[[], object]] = {
            f"{fmt} PyAV loop, all frames": lambda f=files: [pyav_frames(p) for p in f],
            f"{fmt} read_clip, all frames": lambda f=files: [read_clip(p) for p in f],
            f"{fmt} read_clip, {SAMPLED} sampled": lambda f=files: [read_clip(p, num_frames=SAMPLED) for p in f],
        }
        with Load() as load:
            rounds = interleaved(runs, repeats)
        baseline = next(iter(runs))
        for name in runs:
            per_clip = rounds.median(name) / len(files)
            rate = f"{frames_per_clip / per_clip:,.0f} source frames/s"
            ratio = "" if name == baseline else ratio_text(rounds.ratio(baseline, name))
            row(name, per_clip, rate, ratio, load)


def loader_section(files: list[Path], items: int, repeats: int) -> None:
    """Clips/s of the clip pipeline through a DataLoader with 0 and 2 workers (persistent workers,
    started in the warm-up round: the rate of an epoch under way)."""
    from torch.utils.data import DataLoader

    from multimodal_rnn.datasets.video_clips import ClipDataset, collate_clips
    from multimodal_rnn.datasets.video_records import VideoRecord
    from multimodal_rnn.encoders.clip import CLIP_ENCODER, ClipTransform

    records = [VideoRecord(f"clip{i}", files[i % len(files)]) for i in range(items)]
    dataset = ClipDataset(records, num_frames=SAMPLED, transform=ClipTransform(CLIP_ENCODER))
    size = CLIP_ENCODER.image_size
    print(
        f"loader ({items} clips, {SAMPLED} frames to {size}x{size} as the video models read them, batch 8; "
        "ratio 0 workers / 2 workers)"
    )
    loaders = {
        workers: DataLoader(
            dataset, batch_size=8, num_workers=workers, collate_fn=collate_clips, persistent_workers=workers > 0
        )
        for workers in (0, 2)
    }
    runs = {
        f"DataLoader, {workers} workers": (lambda lo=loader: [batch for batch in lo])
        for workers, loader in loaders.items()
    }
    with Load() as load:
        rounds = interleaved(runs, repeats)
    baseline = next(iter(runs))
    for name in runs:
        ratio = "" if name == baseline else ratio_text(rounds.ratio(baseline, name))
        row(name, rounds.median(name) / items, f"{items / rounds.median(name):,.1f} clips/s", ratio, load)


def lstm_pair(batch: int, steps: int, features: int, hidden: int) -> tuple[Callable, Callable, torch.Tensor]:
    """The fused core and an LSTMCell loop on equal weights: functions x (B, T, F) -> (B, T, H)."""
    core = RecurrentCore(CoreConfig(cell="lstm", input_size=features, hidden_size=hidden))
    cell = nn.LSTMCell(features, hidden)
    rnn = core.layer.rnn
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(rnn, f"{name}_l0"))

    def per_step(x: torch.Tensor) -> torch.Tensor:
        h = x.new_zeros(x.shape[0], hidden)
        c = x.new_zeros(x.shape[0], hidden)
        outputs = []
        for t in range(x.shape[1]):
            h, c = cell(x[:, t], (h, c))
            outputs.append(h)
        return torch.stack(outputs, 1)

    def fused(x: torch.Tensor) -> torch.Tensor:
        return core(x)[0]

    x = torch.randn(batch, steps, features, requires_grad=True)
    with torch.no_grad():
        difference = (per_step(x) - fused(x)).abs().max().item()
    if difference > 1e-4:
        raise SystemExit(f"core: the fused core and the LSTMCell loop differ by {difference:.2e}")
    return per_step, fused, x


def runner(mode: str, function: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> Callable[[], None]:
    """One call of ``function`` on x: under no_grad (``forward``) or with a backward pass of the summed outputs."""

    def forward() -> None:
        with torch.no_grad():
            function(x)

    def forward_backward() -> None:
        function(x).sum().backward()

    return forward if mode == "forward" else forward_backward


def core_section(batch: int, steps: int, features: int, hidden: int, repeats: int, clock: str) -> None:
    print(f"core (LSTM, B={batch} T={steps} F={features} H={hidden}; ratio LSTMCell loop / fused core)")
    per_step, fused, x = lstm_pair(batch, steps, features, hidden)
    for mode in ("forward", "forward+backward"):
        runs = {f"LSTMCell loop, {mode}": runner(mode, per_step, x), f"fused core, {mode}": runner(mode, fused, x)}
        with Load() as load:
            rounds = interleaved(runs, repeats, clock=CLOCKS[clock])
        baseline = next(iter(runs))
        for name in runs:
            ratio = "" if name == baseline else ratio_text(rounds.ratio(baseline, name))
            row(name, rounds.median(name), f"{batch / rounds.median(name):,.0f} clips/s", ratio, load)


def shapes_clips(count: int) -> list[VideoClip]:
    """``count`` moving-shapes test-like clips (16 frames of 64 px), the action classes in turn."""
    from multimodal_rnn.datasets.moving_shapes.clips import ACTION_CLASSES, MovingShapesConfig, make_clip
    from multimodal_rnn.datasets.moving_shapes.render import render_clip

    rng, config = random.Random(0), MovingShapesConfig(num_frames=SAMPLED)
    clips = []
    for index in range(count):
        frames = render_clip(make_clip(rng, ACTION_CLASSES[index % len(ACTION_CLASSES)], config), config.frame_size)
        clips.append(VideoClip(frames, tuple(range(SAMPLED)), float(config.fps), SAMPLED))
    return clips


def video_predictors() -> dict[str, tuple[Any, str]]:
    """The action classifier, frame labeler and video captioner with their shipped weights, or (no
    shipped file) their default models with random weights; each with a note saying which."""
    from multimodal_rnn.datasets.moving_shapes.clips import ACTION_CLASSES, FRAME_LABELS
    from multimodal_rnn.shipped import weights_dir
    from multimodal_rnn.tasks import MODELS, TASKS
    from multimodal_rnn.tasks.action.predictor import ActionClassifier
    from multimodal_rnn.tasks.frames.predictor import FrameLabeler
    from multimodal_rnn.tasks.video_caption.predictor import VideoCaptioner
    from multimodal_rnn.text.vocab import Vocabulary

    random_models = {
        "action": lambda: ActionClassifier(MODELS.build("lrcn", {"num_classes": len(ACTION_CLASSES)}), ACTION_CLASSES),
        "frames": lambda: FrameLabeler(MODELS.build("frame_rnn", {"num_classes": len(FRAME_LABELS)}), FRAME_LABELS),
        "video_caption": lambda: VideoCaptioner(
            MODELS.build("temporal_attention", {"vocab_size": 8}), Vocabulary.build([["a", "circle", "moves"]])
        ),
    }
    predictors = {}
    for task, build in random_models.items():
        path = weights_dir() / TASKS[task].shipped["default"]
        predictors[task] = (
            (TASKS[task].load_predictor(path), path.name) if path.is_file() else (build(), "random weights")
        )
    return predictors


def models_section(batches: tuple[int, ...], clips: int, repeats: int, clock: str) -> None:
    print(
        f"models ({clips} moving-shapes clips of {SAMPLED} frames per round, transformed; "
        "ratio one clip per call / batch)"
    )
    calls: dict[str, Callable[[Any, torch.Tensor], object]] = {
        "action": lambda predictor, frames: predictor.classify_tensors(frames, top=5),
        "frames": lambda predictor, frames: predictor.label_tensors(frames),
        "video_caption": lambda predictor, frames: predictor.caption_tensors(frames, beam_size=1),
    }
    source = shapes_clips(clips)
    for task, (predictor, note) in video_predictors().items():
        indices = sample_indices(SAMPLED, predictor.num_frames)  # the frames the model samples
        sampled = [clip._replace(frames=clip.frames[indices], indices=tuple(indices)) for clip in source]
        frames = torch.stack([predictor.clip_transform(clip) for clip in sampled])  # (N, T, 3, S, S)

        def in_batches(size: int, p: Any = predictor, call: Callable = calls[task], f: torch.Tensor = frames):
            return lambda: [call(p, f[start : start + size]) for start in range(0, clips, size)]

        runs = {f"{task}, batch {size}": in_batches(size) for size in batches}
        with Load() as load:
            rounds = interleaved(runs, repeats, clock=CLOCKS[clock])
        baseline = next(iter(runs))
        print(f"  {task} ({type(predictor.model).__name__}, {note}, {tuple(frames.shape[1:])} per clip):")
        for name in runs:
            ratio = "" if name == baseline else ratio_text(rounds.ratio(baseline, name))
            row(name, rounds.median(name) / clips, f"{clips / rounds.median(name):,.1f} clips/s", ratio, load)


def saved_bytes(model: nn.Module, frames: torch.Tensor) -> int:
    """Bytes of the distinct non-parameter storages autograd saves in one forward pass of the
    classifier ``model`` (a batch ``{"frames": frames}`` in, ``logits`` out)."""
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model({"frames": frames})["logits"].sum().backward()
    return sum(saved.values())


def decode_peak(path: Path, num_frames: int | None) -> int:
    """Peak bytes allocated (numpy and Python, tracemalloc) while reading ``path``."""
    tracemalloc.start()
    read_clip(path, num_frames=num_frames)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def memory_section(path: Path, width: int, height: int, frames_per_clip: int, batch: int) -> None:
    from multimodal_rnn.tasks import MODELS

    mib = 2**20
    classifier = MODELS.build("lrcn", {"num_classes": 12}).train()
    size = int(classifier.config.encoder.image_size)
    with torch.no_grad():
        grid = classifier.encoder.image(torch.zeros(1, 3, size, size)).grid[0].numel()  # N positions x D per frame
    activations = saved_bytes(classifier, torch.randn(batch, SAMPLED, 3, size, size)) / batch
    print(f"memory per clip ({frames_per_clip} source frames of {width}x{height}, {SAMPLED} sampled)")
    print(f"  decoded frames, all          {frames_per_clip * height * width * 3 / mib:>9.2f} MiB")
    print(f"  decoded frames, {SAMPLED} sampled   {SAMPLED * height * width * 3 / mib:>9.2f} MiB")
    print(f"  decode peak, all frames      {decode_peak(path, None) / mib:>9.2f} MiB (tracemalloc)")
    print(f"  decode peak, {SAMPLED} sampled      {decode_peak(path, SAMPLED) / mib:>9.2f} MiB (tracemalloc)")
    print(f"  transformed clip (float32)   {SAMPLED * 3 * size * size * 4 / mib:>9.2f} MiB ({size}x{size} frames)")
    print(f"  encoder grids (float32)      {SAMPLED * grid * 4 / 2**10:>9.2f} KiB (a frozen-encoder cache)")
    print(f"  frame features (float32)     {SAMPLED * classifier.encoder.feature_size * 4 / 2**10:>9.2f} KiB")
    print(f"  saved for backward, training {activations / mib:>9.2f} MiB (classifier, batch {batch})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=4, help="generated clips per format")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each clip")
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--size", default="320x240", help="WIDTHxHEIGHT of the generated clips")
    parser.add_argument("--loader-clips", type=int, default=32, help="clips per round of the loader section")
    parser.add_argument("--model-clips", type=int, default=32, help="clips per round of the models section")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (one gives steadier timings)")
    parser.add_argument(
        "--clock",
        choices=CLOCKS,
        default=None,
        help="of the models and core sections: cpu (this thread's CPU seconds; the default with one "
        "thread) or wall (the default with more); decoding and loading are always wall time",
    )
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes and two rounds")
    args = parser.parse_args()
    if args.dry_run:
        args.clips, args.seconds, args.size, args.model_clips, args.loader_clips, args.repeats = (
            1,
            1.0,
            "64x48",
            4,
            8,
            2,
        )
    width, height = (int(side) for side in args.size.split("x"))
    frames_per_clip = round(args.seconds * args.fps)
    torch.set_num_threads(args.threads)
    clock = args.clock or ("cpu" if args.threads == 1 else "wall")
    torch.manual_seed(0)
    print(
        f"video speed: threads={torch.get_num_threads()} rounds={args.repeats} clock={clock} torch={torch.__version__}"
    )
    print(machine_line())
    with tempfile.TemporaryDirectory() as folder:
        paths: dict[str, list[Path]] = {".avi": [], ".mp4": []}
        for index in range(args.clips):
            clip = synthetic_clip(frames_per_clip, width, height, seed=index)
            for fmt, files in paths.items():
                files.append(Path(folder) / f"clip{index}{fmt}")
                write_clip(files[-1], clip, fps=args.fps)
        decode_section(paths, frames_per_clip, args.repeats)
        loader_section(paths[".avi"], args.loader_clips, args.repeats)
        models_section((1, min(32, args.model_clips)), args.model_clips, args.repeats, clock)
        core_section(32, SAMPLED, 256, 128, args.repeats, clock)  # lrcn's core: 128 features + their changes
        memory_section(paths[".avi"][0], width, height, frames_per_clip, batch=8)


if __name__ == "__main__":
    main()
