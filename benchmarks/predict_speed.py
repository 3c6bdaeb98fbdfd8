"""Speed of ``mmrnn predict``: images read in worker processes, and length-bucketed batches.

    mmrnn data shapes --out /tmp/sh --train 10 --val 10 --test 2000
    PYTHONPATH=. .venv/bin/python benchmarks/predict_speed.py --shapes-dir /tmp/sh [--images 2000] [--repeats 3]

Shipped shapes weights, 1 torch thread, the test split of ``--shapes-dir`` (its first
``--images`` images). Every comparison alternates its two sides (one warm-up round first) and
prints the median and spread of the per-pair time ratios with the load average.

- caption: ``mmrnn predict caption`` (in this process, checkpoint loading included), beam 3,
  batch 64, ``--workers 0`` against ``--workers 2`` (``--workers``); images/s; then the rate of reading and
  transforming the images alone (the most that workers can take off the main process);
- vqa: :meth:`Answerer.answer_records`, workers 0 against 2; then batches of images sorted by
  their longest question (less padding) against file order; questions/s;
- dialog: :meth:`DialogAgent.rank` (dialogs batched by number of rounds) against the same loop
  in file order (the previous ``rank``), batch 32; then workers 0 against 2; dialogs/s;
- server: what grouping queued requests by length could win at the server's batch sizes: 32
  VQA questions (or 32 chat dialogs) of mixed lengths in one call, against the same split in two
  calls of 16 sorted by question length (by rounds). Caption requests have no length before
  decoding (the decoding compacts finished captions instead).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import os
import random
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch

from apps.cli import main as mmrnn
from multimodal_rnn.datasets.captions import CaptionDataset, read_image_folder
from multimodal_rnn.datasets.image_reader import ImageReader, read_batches
from multimodal_rnn.datasets.visdial import shapes_source as dialog_source
from multimodal_rnn.datasets.visdial_batches import VisDialDataset, collate_visdial
from multimodal_rnn.datasets.vqa import encode_question
from multimodal_rnn.datasets.vqa import shapes_source as vqa_source
from multimodal_rnn.images import load_image
from multimodal_rnn.metrics.dialog import ranks_from_scores
from multimodal_rnn.tasks.caption.predictor import Captioner
from multimodal_rnn.tasks.dialog.predictor import DialogAgent, DialogQuery
from multimodal_rnn.tasks.vqa.predictor import Answerer

sys.path.insert(0, str(Path(__file__).parent))
from timing import interleaved_seconds, paired_ratio_text  # noqa: E402

WORKERS = 2
"""The image-reading workers compared with none (``--workers``)."""


def compare(title: str, unit: str, count: int, runs: dict[str, Callable[[], Any]], repeats: int) -> None:
    """Time the two ``runs`` interleaved; print each one's best rate and the time ratio first/second."""
    times = interleaved_seconds(runs, repeats)
    (first, a), (second, b) = times.items()
    rates = ", ".join(f"{name} {count / min(seconds):.1f} {unit}/s" for name, seconds in times.items())
    print(f"{title}: {rates}; time {first} / {second}: {paired_ratio_text(a, b)}", flush=True)


def caption(shapes: Path, images: int, repeats: int, tmp: Path) -> None:
    folder = tmp / "images"
    folder.mkdir(exist_ok=True)
    for path in sorted((shapes / "images" / "test").iterdir())[:images]:
        if not (folder / path.name).exists():
            (folder / path.name).symlink_to(path)

    def run(workers: int) -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            assert (
                mmrnn(
                    [
                        "predict",
                        "caption",
                        "--images",
                        str(folder),
                        "--out",
                        str(tmp / f"c{workers}.json"),
                        "--workers",
                        str(workers),
                        "--threads",
                        "1",
                    ]
                )
                == 0
            )

    compare(
        "predict caption",
        "images",
        images,
        {"workers 0": partial(run, 0), f"workers {WORKERS}": partial(run, WORKERS)},
        repeats,
    )
    assert (tmp / "c0.json").read_text() == (tmp / f"c{WORKERS}.json").read_text()
    captioner = Captioner.from_checkpoint("weights/caption_shapes.safetensors")
    dataset = CaptionDataset(read_image_folder(folder), captioner.transform, load_image, per_image=True)
    start = time.perf_counter()
    for index in range(len(dataset)):
        dataset[index]
    print(
        f"  reading and transforming alone (what workers can take off the main process): "
        f"{images / (time.perf_counter() - start):.1f} images/s; load {os.getloadavg()[0]:.2f}",
        flush=True,
    )


def vqa(shapes: Path, images: int, repeats: int) -> None:
    answerer = Answerer.from_checkpoint("weights/vqa_shapes.safetensors")
    records = vqa_source(shapes, "test").read()
    paths = list(dict.fromkeys(record.image_path for record in records))[:images]
    records = [record for record in records if record.image_path in set(paths)]
    limit = answerer.model.config.max_question_length
    longest: dict[str, int] = {}
    for record in records:
        length = len(encode_question(answerer.vocab, record.question, limit))
        longest[record.image_path] = max(longest.get(record.image_path, 0), length)
    by_length = sorted(records, key=lambda record: longest[record.image_path])
    out: dict[str, Any] = {}

    def run(name: str, chosen: list[Any], workers: int) -> None:
        out[name] = dict(
            zip((r.question_id for r in chosen), answerer.answer_records(chosen, load_image, workers=workers).answers)
        )

    count = len(records)
    compare(
        "predict vqa",
        "questions",
        count,
        {"workers 0": partial(run, "w0", records, 0), f"workers {WORKERS}": partial(run, "w2", records, WORKERS)},
        repeats,
    )
    compare(
        "predict vqa",
        "questions",
        count,
        {"file order": partial(run, "file", records, 0), "by length": partial(run, "sorted", by_length, 0)},
        repeats,
    )
    assert out["w0"] == out["w2"] == out["file"] == out["sorted"]
    lengths = [len(encode_question(answerer.vocab, r.question, limit)) for r in records]
    server_groups(
        "server vqa (32 questions)",
        lengths,
        repeats,
        lambda rows: answerer.answer_tensors(
            [answerer.transform(load_image(records[i].image_path)) for i in rows], [records[i].question for i in rows]
        ),
    )


def server_groups(title: str, lengths: list[int], repeats: int, call: Callable[[list[int]], Any]) -> None:
    """One call on 32 random rows against two calls of 16 rows sorted by ``lengths`` (images prepared in both)."""
    rows = random.Random(0).sample(range(len(lengths)), 32)
    ordered = sorted(rows, key=lambda row: lengths[row])
    compare(
        title,
        "requests",
        32,
        {"one mixed call": lambda: call(rows), "two grouped calls": lambda: (call(ordered[:16]), call(ordered[16:]))},
        repeats,
    )


def rank_in_file_order(agent: DialogAgent, data: Any, batch_size: int = 32) -> list[dict[str, Any]]:
    """:meth:`DialogAgent.rank` as it was before dialogs were batched by rounds (the baseline)."""
    images = ImageReader(load_image, agent.transform)
    dataset = VisDialDataset(data, images, agent.text)
    batches = [range(s, min(s + batch_size, len(dataset))) for s in range(0, len(dataset), batch_size)]
    entries = []
    for batch in read_batches(dataset, images, batches, partial(collate_visdial, pad_id=agent.vocab.pad_id)):
        scores = agent.scores(batch)
        for d, image_id in enumerate(batch["image_id"]):
            entries += [
                {"image_id": image_id, "round_id": r + 1, "ranks": ranks_from_scores(scores[d, r].tolist())}
                for r in range(int(batch["num_rounds"][d]))
            ]
    return entries


def dialog(shapes: Path, images: int, repeats: int) -> None:
    agent = DialogAgent.from_checkpoint("weights/dialog_shapes.safetensors")
    data = dialog_source(shapes, "test").read()
    data = dataclasses.replace(data, dialogs=data.dialogs[:images])
    out: dict[str, Any] = {}

    def run(name: str, workers: int) -> None:
        out[name] = agent.rank(data, load_image, workers=workers).entries

    count = len(data.dialogs)
    compare(
        "predict dialog",
        "dialogs",
        count,
        {
            "file order": lambda: out.__setitem__("file", rank_in_file_order(agent, data)),
            "by rounds": partial(run, "rounds", 0),
        },
        repeats,
    )
    compare(
        "predict dialog",
        "dialogs",
        count,
        {"workers 0": partial(run, "w0", 0), f"workers {WORKERS}": partial(run, "w2", WORKERS)},
        repeats,
    )
    assert out["file"] == out["rounds"] == out["w0"] == out["w2"]
    dialogs = data.dialogs
    pixels = {d.image_path: agent.transform(load_image(d.image_path)) for d in dialogs[:200]}
    queries = [
        DialogQuery(
            pixels[d.image_path],
            d.caption,
            tuple(data.question(d, r) for r in range(d.num_rounds)),
            tuple(data.answer(d, r) or "" for r in range(d.num_rounds - 1)),
        )
        for d in dialogs[:200]
    ]
    server_groups(
        "server chat (32 dialogs)",
        [d.num_rounds for d in dialogs[:200]],
        repeats,
        lambda rows: agent.answer_last([queries[i] for i in rows]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes-dir", type=Path, required=True, help="a shapes world (mmrnn data shapes)")
    parser.add_argument("--images", type=int, default=2000, help="test images used (default: %(default)s)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="interleaved pairs per comparison (default: %(default)s)"
    )
    parser.add_argument("--tmp", type=Path, default=Path("/tmp/predict_speed"), help="scratch folder")
    parser.add_argument("--only", choices=["caption", "vqa", "dialog"], action="append", help="run only these parts")
    parser.add_argument("--workers", type=int, default=2, help="workers compared with none (default: %(default)s)")
    args = parser.parse_args()
    global WORKERS
    WORKERS = args.workers
    torch.set_num_threads(1)
    args.tmp.mkdir(parents=True, exist_ok=True)
    cores = len(os.sched_getaffinity(0))
    print(
        f"torch {torch.__version__}, 1 thread, {cores} cores, load {os.getloadavg()}, {args.images} images, "
        f"{args.repeats} pairs",
        flush=True,
    )
    parts = args.only or ["caption", "vqa", "dialog"]
    if "caption" in parts:
        caption(args.shapes_dir, args.images, args.repeats, args.tmp)
    if "vqa" in parts:
        vqa(args.shapes_dir, args.images, args.repeats)
    if "dialog" in parts:
        dialog(args.shapes_dir, args.images, args.repeats)


if __name__ == "__main__":
    main()
