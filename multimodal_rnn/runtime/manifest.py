"""The export folder's manifest, ``export.json``: what the graphs are and how to feed them.

An export folder (``mmrnn export TASK --out DIR``) holds the ONNX graphs and one JSON manifest::

    {"format": "multimodal_rnn.onnx_export", "version": 1, "task": "caption", "model": "show_attend_tell",
     "opset": 20, "quantized": null | "int8",
     "graphs": {"encoder": {"file": "encoder.onnx", "sha256": "...", "inputs": [...], "outputs": [...]}, ...},
     "transform": {"backbone": "small_cnn", "image_size": 64, "mean": [...], "std": [...]},
     "vocabulary": {...}, "special_ids": {"pad": 0, "bos": 1, "eos": 2, "unk": 3}, "card": {...} | null, ...}

The task's own keys (the caption decoder's state and context names, the VQA answers, ...) are
described where they are read (:mod:`.caption`, :mod:`.vqa`). Reading a folder checks the format,
the version and every graph's sha256 before a session is made, so a graph that was replaced or
truncated is a one-line error naming the file rather than wrong answers.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from multimodal_rnn.errors import CheckpointError, InputError
from multimodal_rnn.files import read_json

MANIFEST_NAME = "export.json"
FORMAT_NAME = "multimodal_rnn.onnx_export"
FORMAT_VERSION = 1
MAX_MANIFEST_BYTES = 64 * 1024**2
"""Largest manifest read (64 MiB; the vocabulary of a COCO captioner takes well under 1 MiB)."""


def is_export_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder holding an export manifest."""
    return (Path(path) / MANIFEST_NAME).is_file()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: str | os.PathLike[str], *, task: str | None = None) -> dict[str, Any]:
    """The checked manifest of an export folder.

    Raises:
        InputError: ``folder`` is not a folder or holds no manifest.
        CheckpointError: the manifest is of another format, version or task than ``task``, or a
            graph is missing or does not match its recorded sha256.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{root}: not an export folder (expected a folder written by mmrnn export)")
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise InputError(f"{root}: no {MANIFEST_NAME} (expected a folder written by mmrnn export)")
    manifest = read_json(path, max_bytes=MAX_MANIFEST_BYTES, what="export manifest")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path}: not a {FORMAT_NAME} manifest")
    if manifest.get("version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: manifest version {manifest.get('version')!r}, this package reads {FORMAT_VERSION}"
        )
    if task is not None and manifest.get("task") != task:
        raise CheckpointError(f"{path}: an export of task {manifest.get('task')!r}, not {task!r}")
    graphs = manifest.get("graphs")
    if not isinstance(graphs, dict) or not graphs:
        raise CheckpointError(f"{path}: 'graphs' must name the exported graphs")
    for name, graph in graphs.items():
        file = root / str(graph.get("file", "")) if isinstance(graph, dict) else None
        if file is None or not file.is_file():
            raise CheckpointError(f"{path}: graph {name!r} is missing ({file})")
        if sha256_file(file) != graph.get("sha256"):
            raise CheckpointError(f"{file}: sha256 differs from the manifest's (a changed or truncated graph)")
    return manifest


def graph_session(
    folder: str | os.PathLike[str], manifest: dict[str, Any], name: str, *, threads: int | None = None
) -> Any:
    """An onnxruntime CPU session of the manifest's graph ``name``; ``threads``: intra-op threads or None."""
    try:
        import onnxruntime
    except ImportError:
        raise InputError("running an export needs onnxruntime: pip install onnxruntime") from None
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: no warnings about nodes its optimizer leaves as they are
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    path = Path(folder) / manifest["graphs"][name]["file"]
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # an invalid graph: onnxruntime's own exception types
        raise CheckpointError(f"{path}: onnxruntime cannot load it ({' '.join(str(exc).split())[:160]})") from None
