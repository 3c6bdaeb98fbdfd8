"""Image encoder throughput on CPU: small_cnn at 64x64 and resnet18 at 224x224, two memory layouts.

    .venv/bin/python benchmarks/encoder_speed.py [--batch-size 32] [--repeats 3] [--threads N]

For each backbone, one batch of random images goes through ``ImageEncoder`` under
``torch.inference_mode()`` in two layouts, measured in the same process and interleaved
(contiguous, channels_last, contiguous, ...) so that machine load hits both alike:

- contiguous: the default NCHW tensors, the baseline;
- channels_last: images and weights in NHWC, which oneDNN convolutions prefer.

Prints images/s (median over ``--repeats`` timed batches after one warm-up batch each), the
median of the per-round speed ratios channels_last / contiguous (> 1: channels_last is faster)
with their spread (min-max), the load average before and after, and the process's peak
resident memory after each backbone (``ru_maxrss``; it only grows, so it bounds each run).
The default run takes well under a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time

import torch
from timing import Load, machine_line, ratio_text

from multimodal_rnn.encoders.image import ImageEncoder, ImageEncoderConfig

CASES = (("small_cnn", 64), ("resnet18", 224))


def time_batch(encoder: ImageEncoder, images: torch.Tensor) -> float:
    """Seconds for one forward pass of ``images`` (B, 3, H, W)."""
    start = time.perf_counter()
    with torch.inference_mode():
        encoder(images)
    return time.perf_counter() - start


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def measure(backbone: str, size: int, batch_size: int, repeats: int) -> tuple[dict[str, float], list[float]]:
    """Median images/s of each layout for ``backbone`` on (batch_size, 3, size, size) inputs, and the
    per-round speed ratios channels_last / contiguous."""
    torch.manual_seed(0)
    config = ImageEncoderConfig(backbone=backbone, image_size=size)
    layouts = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
    encoders = {name: ImageEncoder(config).eval().to(memory_format=fmt) for name, fmt in layouts.items()}
    images = {name: torch.randn(batch_size, 3, size, size).to(memory_format=fmt) for name, fmt in layouts.items()}
    for name in layouts:
        time_batch(encoders[name], images[name])  # warm-up: oneDNN sets up its kernels
    seconds: dict[str, list[float]] = {name: [] for name in layouts}
    for _ in range(repeats):
        for name in layouts:
            seconds[name].append(time_batch(encoders[name], images[name]))
    ratios = [old / new for old, new in zip(seconds["contiguous"], seconds["channels_last"])]
    return {name: batch_size / statistics.median(times) for name, times in seconds.items()}, ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="timed batches per layout")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"image encoders on CPU, batch {args.batch_size}, {torch.get_num_threads()} threads, "
          f"median of {args.repeats} batches")
    print(machine_line())
    print(f"{'backbone':<10} {'input':>7} {'contiguous':>14} {'channels_last':>16} {'ratio [min-max]':>19} "
          f"{'peak RSS':>10}  load")
    for backbone, size in CASES:
        with Load() as load:
            rates, ratios = measure(backbone, size, args.batch_size, args.repeats)
        print(f"{backbone:<10} {size:>4} px {rates['contiguous']:>9.1f} im/s {rates['channels_last']:>11.1f} im/s "
              f"{ratio_text(ratios):>19} {peak_rss_mb():>7.0f} MiB  {load}")


if __name__ == "__main__":
    main()
