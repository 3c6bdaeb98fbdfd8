"""Shapes world generation speed: full pipeline vs rendering only, in one process.

    .venv/bin/python benchmarks/shapes_speed.py [--train 1000 --val 100 --test 100] [--image-size 64]

- full: :func:`generate_shapes_world` into a temporary directory (scenes, PNG files, captions,
  VQA, VisDial with 100 options per round, dense annotations, scene graphs, JSON writing);
- render only: :func:`make_scene` + :func:`render_scene` + PNG encoding in memory, same images.

The two run alternately for ``--repeats`` rounds; prints their median images/s, the median of the
per-round ratios full / render only (1.0 would mean the language and the JSON files cost nothing)
with their spread (min-max), and the load average before and after.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time

from timing import Load, Rounds, machine_line, ratio_text

from multimodal_rnn.datasets.shapes.world import SPLITS, ShapesConfig, generate_shapes_world, image_rng, make_scene, render_scene


def render_only(config: ShapesConfig) -> float:
    """Seconds to draw the scenes of ``config`` and encode them as PNG in memory."""
    sizes = {"train": config.train_size, "val": config.val_size, "test": config.test_size}
    start = time.perf_counter()
    for split in SPLITS:
        for index in range(sizes[split]):
            scene = make_scene(image_rng(config.seed, split, index, "scene"), config)
            render_scene(scene, config.image_size).save(io.BytesIO(), format="PNG")
    return time.perf_counter() - start


def full_pipeline(config: ShapesConfig) -> float:
    """Seconds for :func:`generate_shapes_world` to write everything into a temporary directory."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        generate_shapes_world(out, config)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=1000)
    parser.add_argument("--val", type=int, default=100)
    parser.add_argument("--test", type=int, default=100)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds")
    args = parser.parse_args()
    config = ShapesConfig(
        seed=args.seed, image_size=args.image_size, train_size=args.train, val_size=args.val, test_size=args.test
    )
    images = args.train + args.val + args.test
    print(machine_line())
    times: dict[str, list[float]] = {"render": [], "full": []}
    with Load() as load:
        for round_index in range(args.repeats):  # alternate, so that machine load hits both alike
            order = ("render", "full") if round_index % 2 == 0 else ("full", "render")
            for name in order:
                times[name].append(render_only(config) if name == "render" else full_pipeline(config))
    rounds = Rounds(times)
    full_seconds, render_seconds = rounds.median("full"), rounds.median("render")
    full_rate, render_rate = images / full_seconds, images / render_seconds
    print(f"shapes world, {images} images of {args.image_size}x{args.image_size} px, median of {args.repeats} rounds")
    print(f"full pipeline (all formats, files): {full_rate:8.1f} images/s  ({full_seconds:.2f} s)")
    print(f"render only (scene + PNG encode):   {render_rate:8.1f} images/s  ({render_seconds:.2f} s)")
    print(f"ratio full / render only (speed):   {ratio_text(rounds.ratio('render', 'full'))}  {load}")


if __name__ == "__main__":
    main()
