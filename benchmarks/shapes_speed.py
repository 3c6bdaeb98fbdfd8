"""Shapes world generation speed: full pipeline vs rendering only, in one process.

    .venv/bin/python benchmarks/shapes_speed.py [--train 1000 --val 100 --test 100] [--image-size 64]

- full: :func:`generate_shapes_world` into a temporary directory (scenes, PNG files, captions,
  VQA, VisDial with 100 options per round, dense annotations, scene graphs, JSON writing);
- render only: :func:`make_scene` + :func:`render_scene` + PNG encoding in memory, same images.

Prints images/s for both and their ratio (full / render only; 1.0 would mean the language and
the JSON files cost nothing).
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time

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
    args = parser.parse_args()
    config = ShapesConfig(
        seed=args.seed, image_size=args.image_size, train_size=args.train, val_size=args.val, test_size=args.test
    )
    images = args.train + args.val + args.test
    render_seconds = render_only(config)
    full_seconds = full_pipeline(config)
    full_rate, render_rate = images / full_seconds, images / render_seconds
    print(f"shapes world, {images} images of {args.image_size}x{args.image_size} px")
    print(f"full pipeline (all formats, files): {full_rate:8.1f} images/s  ({full_seconds:.2f} s)")
    print(f"render only (scene + PNG encode):   {render_rate:8.1f} images/s  ({render_seconds:.2f} s)")
    print(f"ratio full / render only:           {full_rate / render_rate:8.3f}")


if __name__ == "__main__":
    main()
