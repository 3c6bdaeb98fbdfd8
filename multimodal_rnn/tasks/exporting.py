"""What the tasks' ``mmrnn export TASK`` commands share (the options, the source record, the report),
and ``--runtime torch|onnx`` of the commands that run a model (``mmrnn caption``, ``mmrnn ask``).

A task that can be exported has an ``export`` module with ``export_<...>(weights, out, *,
quantize) -> manifest`` (:mod:`multimodal_rnn.onnx_export` does the graphs' common work) and an
:class:`ExportCommand` under the ``"export"`` key of its commands. Declaring the options imports
no torch.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

from multimodal_rnn.errors import InputError
from multimodal_rnn.options import add_output_argument
from multimodal_rnn.shipped import read_card, resolve_weights
from multimodal_rnn.tasks.protocol import Report, RunContext, resolve

EXPORT_EPILOG = """\
examples:
  mmrnn export {task} --out deploy/{task}                  # the shipped weights
  mmrnn export {task} --weights runs/x/best.safetensors --out deploy/x --quantize int8
  mmrnn {command} --runtime onnx --weights deploy/{task} {example}

The folder holds encoder.onnx, {second} and export.json (vocabulary, special ids, image
transform, model card, each graph's sha256). Running it needs numpy, onnxruntime and pillow,
not PyTorch (pip install "multimodal_rnn[export]" installs the exporter's onnx packages)."""


class ExportCommand:
    """``mmrnn export TASK --weights FILE --out DIR [--quantize int8]``: a checkpoint as ONNX graphs."""

    help = "export a checkpoint to ONNX graphs run without PyTorch"

    def __init__(
        self, task: str, shipped: Mapping[str, str], exporter: str, *, command: str, example: str, second: str
    ) -> None:
        self.task, self.shipped, self.exporter = task, shipped, exporter
        self.epilog = EXPORT_EPILOG.format(task=task, command=command, example=example, second=second)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.description = (
            f"Export a {self.task} checkpoint to ONNX (opset 20, dynamic batch): the graphs are "
            "checked with onnx.checker and against PyTorch's outputs on an example batch."
        )
        parser.epilog = self.epilog
        parser.add_argument("--weights", metavar="FILE", help=f"{self.task} checkpoint (default: the shipped weights)")
        add_output_argument(
            parser,
            "--out",
            folder=True,
            required=True,
            metavar="DIR",
            help="the export folder (created; files in it are replaced)",
        )
        parser.add_argument("--format", choices=["onnx"], default="onnx", help="graph format (default: %(default)s)")
        parser.add_argument(
            "--quantize",
            choices=["int8"],
            default=None,
            help="dynamic int8 quantization of the weights (onnxruntime's quantize_dynamic)",
        )

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        weights = resolve_weights(args.weights, self.shipped, task=self.task)
        manifest = resolve(self.exporter)(weights, args.out, quantize=args.quantize)
        files = ", ".join(graph["file"] for graph in manifest["graphs"].values())
        quantized = f", {args.quantize}" if args.quantize else ""
        line = f"exported {weights} to {args.out} ({files}, export.json; opset {manifest['opset']}{quantized})"
        return Report(lines=(line,), data={"out": str(args.out), "graphs": manifest["graphs"]})


def export_source(weights: str | os.PathLike[str], checkpoint: Any) -> dict[str, Any]:
    """The manifest's ``model``, ``source`` (file name, sha256, step) and ``card`` (the checkpoint's
    model card, or None when it has none or the card describes other bytes)."""
    from multimodal_rnn.runtime.manifest import sha256_file

    digest = sha256_file(weights)
    card = read_card(weights)
    return {
        "model": checkpoint.model_name,
        "source": {"file": os.path.basename(weights), "sha256": digest, "step": checkpoint.step},
        "card": card if card is not None and card.get("sha256") == digest else None,
    }


def add_runtime_argument(parser: argparse.ArgumentParser, *, task: str) -> None:
    """``--runtime torch|onnx``: the PyTorch checkpoint, or an export folder run by onnxruntime."""
    parser.add_argument(
        "--runtime",
        choices=["torch", "onnx"],
        default="torch",
        help=f"torch: a checkpoint run by PyTorch; onnx: --weights names a folder written by "
        f"'mmrnn export {task}', run by onnxruntime without PyTorch (default: %(default)s)",
    )


def exported_folder(args: argparse.Namespace, *, task: str) -> str:
    """``--weights`` for ``--runtime onnx``: an export folder must be named (nothing is shipped exported)."""
    if not args.weights:
        raise InputError(f"--runtime onnx needs --weights DIR, a folder written by 'mmrnn export {task}'")
    if args.attention_map is not None:
        raise InputError("--attention-map: drawing the attention needs --runtime torch")
    return str(args.weights)
