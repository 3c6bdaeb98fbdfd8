"""What the ONNX export changes on the shapes test split: nothing in fp32, a little in int8.

    mmrnn data shapes --out /tmp/shapes
    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python benchmarks/export_quality.py --shapes-dir /tmp/shapes

The shipped caption and VQA weights are exported twice (fp32, and ``--quantize int8``) into
``--work`` (default: a temporary folder); then every test image is captioned by PyTorch (the
library's ``Captioner``) and by onnxruntime (``--runtime onnx``), greedy and beam 3, and every test
question answered by both. Printed: how many captions are equal token for token, the largest score
difference, CIDEr-D and faithfulness (beam 3, the shipped cards' setting; greedy too), and for VQA
the answers equal and the accuracy of each. The equality of fp32 is also a slow test
(``tests/test_onnx_shipped.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from multimodal_rnn.datasets.captions import read_coco_captions
from multimodal_rnn.datasets.shapes.truth import faithfulness, read_scene_graphs
from multimodal_rnn.datasets.vqa import read_vqa, shapes_source
from multimodal_rnn.images import load_image
from multimodal_rnn.metrics.vqa import evaluate_vqa
from multimodal_rnn.runtime.caption import ExportedCaptioner
from multimodal_rnn.runtime.vqa import ExportedAnswerer
from multimodal_rnn.shipped import weights_dir
from multimodal_rnn.tasks.caption.evaluation import evaluate_captions
from multimodal_rnn.tasks.caption.export import export_captioner
from multimodal_rnn.tasks.caption.predictor import Captioner
from multimodal_rnn.tasks.vqa.export import export_answerer
from multimodal_rnn.tasks.vqa.predictor import Answerer


def caption_rows(shapes: Path, work: Path) -> None:
    records = read_coco_captions(shapes / "captions_test.json", shapes / "images" / "test")
    images = [load_image(record.path) for record in records]
    scenes = read_scene_graphs(shapes / "scenes_test.json")
    captioners: dict[str, Any] = {"torch": Captioner.from_checkpoint(weights_dir() / "caption_shapes.safetensors")}
    for kind in ("fp32", "int8"):
        folder = work / f"caption_{kind}"
        if not (folder / "export.json").is_file():
            start = time.perf_counter()
            quantize = None if kind == "fp32" else kind
            export_captioner(weights_dir() / "caption_shapes.safetensors", folder, quantize=quantize)
            print(f"caption export {kind}: {time.perf_counter() - start:.1f} s")
        print(f"caption {kind}: {size_mb(folder):.2f} MB")
        captioners[kind] = ExportedCaptioner(folder, threads=1)
    print(f"\ncaptions, {len(images)} test images | equal to torch | max |score diff| | CIDEr-D | faithfulness")
    for beam in (1, 3):
        results = {kind: captioner.caption(images, beam_size=beam) for kind, captioner in captioners.items()}
        for kind, got in results.items():
            equal = sum(mine.words == theirs.words for mine, theirs in zip(got, results["torch"]))
            difference = max(abs(mine.score - theirs.score) for mine, theirs in zip(got, results["torch"]))
            entries = [{"image_id": record.image_id, "caption": result.caption} for record, result in zip(records, got)]
            cider = evaluate_captions(entries, shapes / "captions_test.json", meteor=False)["metrics"]["CIDEr"]
            faithful = faithfulness({e["image_id"]: e["caption"] for e in entries}, scenes).score
            print(f"beam {beam} {kind:5} | {equal}/{len(images)} | {difference:.2e} | {cider:.4f} | {faithful:.4f}")


def vqa_rows(shapes: Path, work: Path) -> None:
    source = shapes_source(shapes, "test")
    records = read_vqa(source.questions, source.annotations, source.images_dir, image_pattern=source.image_pattern)
    answers: dict[str, list[str]] = {}
    torch_answerer = Answerer.from_checkpoint(weights_dir() / "vqa_shapes.safetensors")
    answers["torch"] = [answer or "" for answer in torch_answerer.answer_records(records, load_image).answers]
    for kind in ("fp32", "int8"):
        folder = work / f"vqa_{kind}"
        if not (folder / "export.json").is_file():
            start = time.perf_counter()
            export_answerer(weights_dir() / "vqa_shapes.safetensors", folder, quantize=None if kind == "fp32" else kind)
            print(f"vqa export {kind}: {time.perf_counter() - start:.1f} s")
        print(f"vqa {kind}: {size_mb(folder):.2f} MB")
        answers[kind] = exported_answers(ExportedAnswerer(folder, threads=1), records)
    print(f"\nVQA, {len(records)} test questions | equal to torch | accuracy")
    for kind, got in answers.items():
        equal = sum(mine == theirs for mine, theirs in zip(got, answers["torch"]))
        results = [{"question_id": record.question_id, "answer": answer} for record, answer in zip(records, got)]
        accuracy = evaluate_vqa(source.questions, source.annotations, results).overall
        print(f"{kind:5} | {equal}/{len(records)} | {accuracy:.2f}")


def exported_answers(answerer: ExportedAnswerer, records: Sequence[Any]) -> list[str]:
    """The top answer to every record, the questions of each image in one call."""
    by_image: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        by_image.setdefault(record.image_path, []).append(index)
    answers = [""] * len(records)
    for path, indices in by_image.items():
        grid = answerer.encode_images(answerer.transform.batch([load_image(path)]))
        results = answerer.answer_grid(
            grid, np.zeros(len(indices), dtype=np.int64), [records[i].question for i in indices]
        )
        for index, result in zip(indices, results):
            answers[index] = result.answers[0][0]
    return answers


def size_mb(folder: Path) -> float:
    return sum(file.stat().st_size for file in folder.iterdir()) / 1e6


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes-dir", type=Path, required=True, help="a shapes world (mmrnn data shapes --out DIR)")
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="where the exports go; those already there are reused (default: a temporary folder)",
    )
    parser.add_argument("--skip", choices=["caption", "vqa"], default=None, help="leave one task out")
    args = parser.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as temporary:
        work = args.work or Path(temporary)
        if args.skip != "caption":
            caption_rows(args.shapes_dir, work)
        if args.skip != "vqa":
            vqa_rows(args.shapes_dir, work)
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
