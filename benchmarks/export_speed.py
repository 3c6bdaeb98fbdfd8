"""Speed of the ONNX runtime against PyTorch eager: captions/s, latency, cold start, install size.

    mmrnn data shapes --out /tmp/shapes --train 10 --val 10 --test 100
    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python benchmarks/export_speed.py --shapes-dir /tmp/shapes

The shipped caption weights, beam 3 (``mmrnn caption``'s default), one thread everywhere. The
baseline is the same model in PyTorch eager with the library's own batched, compacting beam search
(``Captioner.caption``); the candidates are the export run by onnxruntime (``ExportedCaptioner``,
the same search in numpy over the exported step) in fp32 and int8. In one process, in
interleaved rounds:

- batch 64: captions/s of one call on 64 test images, and the ratio torch/candidate per round;
- batch 1: p50 latency of captioning one image (over ``--single`` images), ratio of the p50s;
- cold start: a fresh Python process that loads the model and captions one image (the median
  of ``--cold`` starts), as a deployed command or a scaled-out server pays it;
- install size: a fresh venv with only the runtime's dependencies (numpy, onnxruntime, pillow;
  made with ``python -m venv`` and pip in a temporary folder, deleted after; ``--no-venv`` skips
  it) against this project's full environment (``sys.prefix``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from multimodal_rnn.datasets.captions import read_coco_captions
from multimodal_rnn.images import load_image
from multimodal_rnn.runtime.caption import ExportedCaptioner
from multimodal_rnn.shipped import weights_dir
from multimodal_rnn.tasks.caption.export import export_captioner
from multimodal_rnn.tasks.caption.predictor import Captioner

sys.path.insert(0, str(Path(__file__).parent))
from timing import Load, interleaved, machine_line, ratio_text  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = weights_dir() / "caption_shapes.safetensors"
COLD = {
    "torch": "from multimodal_rnn.tasks.caption.predictor import Captioner as C; c = C.from_checkpoint({weights!r})",
    "onnx": "from multimodal_rnn.runtime.caption import ExportedCaptioner as C; c = C({folder!r}, threads=1)",
}
COLD_TAIL = "; from multimodal_rnn.images import load_image; print(c.caption([load_image({image!r})])[0].caption)"


def throughput(contenders: dict[str, Any], images: list[Any], repeats: int) -> None:
    runs = {name: (lambda c=c: c.caption(images, beam_size=3)) for name, c in contenders.items()}
    with Load() as load:
        rounds = interleaved(runs, repeats)
    print(f"\nbatch {len(images)}, beam 3 | captions/s | ratio torch/this, median [min-max] of {repeats} rounds")
    for name in contenders:
        ratio = "baseline" if name == "torch" else ratio_text(rounds.ratio("torch", name))
        print(f"{name:10} | {len(images) / rounds.median(name):8.1f} | {ratio}")
    print(f"({load})")


def latency(contenders: dict[str, Any], images: list[Any]) -> None:
    times: dict[str, list[float]] = {name: [] for name in contenders}
    with Load() as load:
        for captioner in contenders.values():
            captioner.caption(images[:1], beam_size=3)  # warm-up
        for image in images:
            for name, captioner in contenders.items():
                start = time.perf_counter()
                captioner.caption([image], beam_size=3)
                times[name].append(time.perf_counter() - start)
    p50 = {name: statistics.median(values) for name, values in times.items()}
    print(f"\nbatch 1, beam 3, {len(images)} images | p50 ms | captions/s | ratio of p50 torch/this")
    for name, value in p50.items():
        ratio = "baseline" if name == "torch" else f"x{p50['torch'] / value:.2f}"
        print(f"{name:10} | {1000 * value:7.2f} | {1 / value:7.1f} | {ratio}")
    print(f"({load})")


def cold_start(folders: dict[str, Path], image: str, count: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    print(f"\ncold start: a fresh process loads the model and captions one image (median of {count})")
    with Load() as load:
        for name, folder in folders.items():
            code = COLD["torch" if name == "torch" else "onnx"].format(weights=str(WEIGHTS), folder=str(folder))
            code += COLD_TAIL.format(image=image)
            seconds = []
            for _ in range(count):
                start = time.perf_counter()
                subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, env=env, cwd=ROOT)
                seconds.append(time.perf_counter() - start)
            print(f"{name:10} | {statistics.median(seconds):.2f} s")
    print(f"({load})")


def install_size() -> None:
    full = du_mb(Path(sys.prefix))
    print(f"\ninstall size: this project's environment ({sys.prefix}): {full:,.0f} MB")
    with tempfile.TemporaryDirectory() as temporary:
        venv = Path(temporary) / "runtime"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "numpy", "onnxruntime", "pillow"]
        done = subprocess.run(pip, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"runtime-only venv: pip failed ({done.stderr.strip().splitlines()[-1:]})")
            return
        small = du_mb(venv)
    print(f"a venv with numpy, onnxruntime, pillow only: {small:,.0f} MB (x{full / small:.1f} smaller), deleted")


def du_mb(path: Path) -> float:
    return int(subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True).stdout.split()[0]) / 1024


def exports(folder: Path) -> dict[str, Path]:
    folders = {"onnx fp32": folder / "fp32", "onnx int8": folder / "int8"}
    for name, path in folders.items():
        if not (path / "export.json").is_file():
            export_captioner(WEIGHTS, path, quantize="int8" if "int8" in name else None)
    return folders


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes-dir", type=Path, required=True, help="a shapes world (mmrnn data shapes --out DIR)")
    parser.add_argument("--exports", type=Path, default=None, help="export folders go here (default: a temporary one)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds of the batch-64 comparison")
    parser.add_argument("--single", type=int, default=32, help="images captioned one by one for the latency")
    parser.add_argument("--cold", type=int, default=3, help="fresh processes per cold start")
    parser.add_argument("--no-venv", action="store_true", help="skip the install-size measurement")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(machine_line())
    records = read_coco_captions(args.shapes_dir / "captions_test.json", args.shapes_dir / "images" / "test")
    images = [load_image(record.path) for record in records[:64]]
    with tempfile.TemporaryDirectory() as temporary:
        folders = exports(args.exports or Path(temporary))
        contenders: dict[str, Callable[..., Any] | Any] = {"torch": Captioner.from_checkpoint(WEIGHTS)}
        contenders.update({name: ExportedCaptioner(folder, threads=1) for name, folder in folders.items()})
        throughput(contenders, images, args.repeats)
        latency(contenders, [load_image(record.path) for record in records[: args.single]])
        cold_start({"torch": WEIGHTS, **folders}, records[0].path, args.cold)
    if not args.no_venv:
        install_size()
    return 0


if __name__ == "__main__":
    sys.exit(main())
