"""Export to ONNX: graphs with a dynamic batch, checked, optionally int8, and the folder's manifest.

The tasks build the graphs (``tasks/<task>/export.py``: which modules, which inputs); this module
does what every export shares. :func:`export_graph` runs ``torch.onnx.export`` (the torch.export
based exporter, ``dynamo=True``: the TorchScript one is deprecated) with the named dimensions of
every input dynamic, checks the file with ``onnx.checker`` (``full_check``: shapes inferred too)
and compares onnxruntime's outputs with the module's on the example inputs. :func:`quantize_int8`
is onnxruntime's dynamic quantization (int8 weights of MatMul/Gemm, activations quantized on the
fly). :func:`write_manifest` records each graph's sha256 in the manifest the runtime reads
(:mod:`multimodal_rnn.runtime.manifest`).

Nested decoder states and contexts travel as flat, named arrays: :func:`flatten` names each
tensor of a nested dict/tuple by its path (``state.core.0``), :func:`rebuild` puts a flat
sequence back into the nested form.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from multimodal_rnn.errors import CheckpointError, InputError
from multimodal_rnn.files import write_json
from multimodal_rnn.runtime.manifest import FORMAT_NAME, FORMAT_VERSION, MANIFEST_NAME, sha256_file

OPSET = 20
"""The ONNX opset of the exported graphs (onnxruntime 1.17 and later run it)."""

CHECK_TOLERANCE = 1e-3
"""Largest difference between onnxruntime's outputs and PyTorch's on the example inputs that an
export accepts (the fp32 graphs of the shipped models differ by about 3e-6)."""

QUANTIZED_OPS = ("MatMul", "Gemm")
"""What int8 quantizes: the Linear and recurrent (LSTM/GRU/RNN cell) weights. Convolutions stay fp32:
onnxruntime's ConvInteger made the shipped captioner's int8 export 2.7x slower than fp32 at batch 64."""


def flatten(prefix: str, nested: Any) -> list[tuple[str, torch.Tensor]]:
    """``(name, tensor)`` for every tensor of a nested dict/tuple/list, named by its path (``prefix.key.0``)."""
    if isinstance(nested, torch.Tensor):
        return [(prefix, nested)]
    if isinstance(nested, Mapping):
        return [pair for key, value in nested.items() for pair in flatten(f"{prefix}.{key}", value)]
    if isinstance(nested, (tuple, list)):
        return [pair for index, value in enumerate(nested) for pair in flatten(f"{prefix}.{index}", value)]
    return []


def rebuild(template: Any, tensors: Iterator[torch.Tensor]) -> Any:
    """``template``'s nesting with its tensors replaced, in :func:`flatten` order, by ``tensors``."""
    if isinstance(template, torch.Tensor):
        return next(tensors)
    if isinstance(template, Mapping):
        return {key: rebuild(value, tensors) for key, value in template.items()}
    if isinstance(template, tuple) and hasattr(template, "_fields"):
        return type(template)(*(rebuild(value, tensors) for value in template))
    if isinstance(template, (tuple, list)):
        return type(template)(rebuild(value, tensors) for value in template)
    return template


def export_graph(
    module: nn.Module,
    args: Sequence[torch.Tensor],
    path: str | os.PathLike[str],
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic: Mapping[str, Mapping[int, str]],
) -> None:
    """Export ``module(*args)`` to ``path`` and check it; ``module.forward`` takes ``*inputs`` (one tensor per name).

    Args:
        dynamic: per input name, ``{axis: dimension name}`` of its dynamic axes; inputs that share
            a dimension name share the size (the batch of every state array, say).

    Raises:
        CheckpointError: the exporter fails, the checker refuses the graph, or onnxruntime's
            outputs differ from the module's by more than :data:`CHECK_TOLERANCE`.
    """
    try:
        import onnx
        import onnxscript  # noqa: F401  (torch.onnx's exporter needs it)
    except ImportError:
        raise InputError('mmrnn export needs onnx and onnxscript: pip install "multimodal_rnn[export]"') from None
    dims: dict[str, Any] = {}
    shapes = (
        tuple(
            {
                axis: dims.setdefault(name, torch.export.Dim(name, min=1))
                for axis, name in dynamic.get(input, {}).items()
            }
            or None
            for input in input_names
        ),
    )  # the structure of forward(*inputs)
    module.eval()
    with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            program = torch.onnx.export(
                module,
                tuple(args),
                dynamo=True,
                opset_version=OPSET,
                dynamic_shapes=shapes,
                optimize=False,  # onnxscript's rewriter takes minutes on an unrolled core; onnxruntime optimizes
                input_names=list(input_names),
                output_names=list(output_names),
                verbose=False,
            )
        except Exception as exc:  # the exporter's own error types
            raise CheckpointError(f"{path}: ONNX export failed ({' '.join(str(exc).split())[:300]})") from None
        assert program is not None
        program.save(str(path))
        expected = module(*args)
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except onnx.checker.ValidationError as exc:
        raise CheckpointError(f"{path}: onnx.checker refuses the graph ({' '.join(str(exc).split())[:300]})") from None
    outputs = run_graph(path, dict(zip(input_names, (arg.numpy() for arg in args))))
    expected = expected if isinstance(expected, (tuple, list)) else (expected,)
    for name, got, want in zip(output_names, outputs, expected):
        difference = float(np.abs(got - want.numpy()).max()) if got.size else 0.0
        if not difference <= CHECK_TOLERANCE:
            raise CheckpointError(f"{path}: output {name} differs from PyTorch's by {difference:.2e}")


def run_graph(path: str | os.PathLike[str], feed: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """Run an ONNX file once on onnxruntime's CPU provider (the inputs it declares, from ``feed``)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {node.name: feed[node.name] for node in session.get_inputs()})


def quantize_int8(path: str | os.PathLike[str]) -> None:
    """Replace an fp32 graph by its dynamic int8 quantization (onnxruntime's ``quantize_dynamic``):
    int8 weights of the :data:`QUANTIZED_OPS`, their inputs quantized on the fly."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source = Path(path)
    target = source.with_name(f".{source.stem}.int8.onnx")
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)  # its advice to pre-process logs to the root logger
        try:
            quantize_dynamic(source, target, weight_type=QuantType.QInt8, op_types_to_quantize=list(QUANTIZED_OPS))
        finally:
            logging.disable(logging.NOTSET)
    onnx.checker.check_model(str(target))
    os.replace(target, source)


def write_manifest(folder: str | os.PathLike[str], manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Write ``export.json``: ``manifest`` with the format, version, opset and each graph's sha256 added."""
    root = Path(folder)
    graphs = {
        name: {**graph, "sha256": sha256_file(root / graph["file"])} for name, graph in manifest["graphs"].items()
    }
    full = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "opset": OPSET, **manifest, "graphs": graphs}
    write_json(root / MANIFEST_NAME, full)
    return full
