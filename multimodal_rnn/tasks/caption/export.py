"""``mmrnn export caption``: a caption checkpoint as two ONNX graphs and a manifest.

The encoder graph is the model's ``encode`` and ``start`` (images -> the decoder's initial state
and static context), the step graph its ``step`` (tokens, state, context -> log-probabilities and
the next state), both with a dynamic batch, so that :mod:`multimodal_rnn.runtime` runs the
library's greedy and beam search outside the graph (:mod:`multimodal_rnn.runtime.caption`
describes the manifest). The state and context tensors are flattened by path
(:func:`multimodal_rnn.onnx_export.flatten`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from multimodal_rnn.encoders.image import EncodedImage
from multimodal_rnn.onnx_export import export_graph, flatten, quantize_int8, rebuild, write_manifest
from multimodal_rnn.tasks.caption.models import CaptionModel
from multimodal_rnn.tasks.caption.predictor import Captioner
from multimodal_rnn.tasks.exporting import export_source

EXAMPLE_BATCH = 3
"""Images of the example batch the graphs are traced and checked on (any batch runs them)."""


class EncoderGraph(nn.Module):
    """images (B, 3, S, S) -> the flat initial state, then the flat context, of ``model.start``."""

    def __init__(self, model: CaptionModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        (images,) = inputs
        encoded: EncodedImage = self.model.encoder.encode_whole(images)
        state, context = self.model.start(encoded)
        return tuple(tensor for _, tensor in flatten("state", state) + flatten("context", context))


class StepGraph(nn.Module):
    """(tokens (B,), *state, *context) flat -> (logprobs (B, V), *next state) of ``model.step``."""

    def __init__(self, model: CaptionModel, state: Any, context: Any) -> None:
        super().__init__()
        self.model, self.state, self.context = model, state, context
        self.state_count = len(flatten("state", state))

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        tokens, arrays = inputs[0], inputs[1:]
        state = rebuild(self.state, iter(arrays[: self.state_count]))
        context = rebuild(self.context, iter(arrays[self.state_count :]))
        logprobs, next_state = self.model.step(tokens, state, context)
        return (logprobs, *(tensor for _, tensor in flatten("state", next_state)))


def export_captioner(
    weights: str | os.PathLike[str], out: str | os.PathLike[str], *, quantize: str | None = None
) -> dict[str, Any]:
    """Export the caption checkpoint ``weights`` into the folder ``out``; returns the manifest written."""
    captioner = Captioner.from_checkpoint(weights)
    model = captioner.model.eval()
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    size = int(model.config.encoder.image_size)  # type: ignore[arg-type]
    images = torch.randn(EXAMPLE_BATCH, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        state, context = model.start(model.encoder.encode_whole(images))
    state_names = [name for name, _ in flatten("state", state)]
    context_names = [name for name, _ in flatten("context", context)]
    arrays = [tensor for _, tensor in flatten("state", state) + flatten("context", context)]
    batch = {"images": {0: "batch"}, **{name: {0: "batch"} for name in state_names + context_names}}
    export_graph(
        EncoderGraph(model),
        [images],
        folder / "encoder.onnx",
        input_names=["images"],
        output_names=state_names + context_names,
        dynamic=batch,
    )
    tokens = torch.tensor([captioner.vocab.bos_id, 4, 5][:EXAMPLE_BATCH], dtype=torch.long) % model.config.vocab_size
    step_inputs = ["tokens", *state_names, *context_names]
    step_outputs = ["logprobs", *(f"next.{name.removeprefix('state.')}" for name in state_names)]
    export_graph(
        StepGraph(model, state, context),
        [tokens, *arrays],
        folder / "step.onnx",
        input_names=step_inputs,
        output_names=step_outputs,
        dynamic={**batch, "tokens": {0: "batch"}},
    )
    if quantize == "int8":
        quantize_int8(folder / "encoder.onnx")
        quantize_int8(folder / "step.onnx")
    vocab, encoder = captioner.vocab, model.config.encoder
    record = "state.attention" if model.attends and "state.attention" in state_names else None
    return write_manifest(
        folder,
        {
            "task": "caption",
            **export_source(weights, captioner.checkpoint),
            "quantized": quantize,
            "transform": {
                "backbone": encoder.backbone,
                "image_size": size,
                "mean": list(encoder.mean or ()),
                "std": list(encoder.std or ()),
            },
            "vocabulary": vocab.to_dict(),
            "special_ids": {"pad": vocab.pad_id, "bos": vocab.bos_id, "eos": vocab.eos_id, "unk": vocab.unk_id},
            "decoder": {
                "state": state_names,
                "context": context_names,
                "record": record,
                "grid_shape": list(model.encoder.grid_shape),
                "max_length": model.config.max_length,
            },
            "graphs": {
                "encoder": {"file": "encoder.onnx", "inputs": ["images"], "outputs": state_names + context_names},
                "step": {"file": "step.onnx", "inputs": step_inputs, "outputs": step_outputs},
            },
        },
    )
