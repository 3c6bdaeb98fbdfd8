"""``mmrnn export vqa``: a VQA checkpoint as two ONNX graphs and a manifest.

The encoder graph maps images to their grid features, the answer graph grid features and
questions to answer logits (and the attention glimpses of attending models), both with dynamic
batches (images I, questions B). The question always has ``max_question_length`` steps in the
graph (shorter ones are padded, which changes no answer: the recurrent core runs its explicit
loop over time, masked past each question's length, :mod:`multimodal_rnn.recurrent.layer`), so the
recurrent core is unrolled, not an ONNX ``LSTM`` node. :mod:`multimodal_rnn.runtime.vqa` describes
the manifest.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from multimodal_rnn.encoders.image import EncodedImage
from multimodal_rnn.onnx_export import export_graph, quantize_int8, write_manifest
from multimodal_rnn.tasks.exporting import export_source
from multimodal_rnn.tasks.vqa.models import VQAModel
from multimodal_rnn.tasks.vqa.predictor import Answerer

EXAMPLE_IMAGES = 2
"""Images of the example batch the graphs are traced and checked on; the example has one more question."""


class EncoderGraph(nn.Module):
    """images (I, 3, S, S) -> grid features (I, N, D)."""

    def __init__(self, model: VQAModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        (images,) = inputs
        return self.model.encoder.encode_whole(images).grid


class AnswerGraph(nn.Module):
    """grid (I, N, D), image_index (B,), question (B, T) ids, lengths (B,) -> logits (B, K)[, attention (B, G, N)]."""

    def __init__(self, model: VQAModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        grid, image_index, question, lengths = inputs
        features = self.model.encode_question(question, lengths)
        logits, attention = self.model.classify(EncodedImage(grid, grid.mean(dim=1)), image_index, features)
        return (logits,) if attention is None else (logits, attention)


def export_answerer(
    weights: str | os.PathLike[str], out: str | os.PathLike[str], *, quantize: str | None = None
) -> dict[str, Any]:
    """Export the VQA checkpoint ``weights`` into the folder ``out``; returns the manifest written."""
    answerer = Answerer.from_checkpoint(weights)
    model = answerer.model.eval()
    layer = model.core.layer
    layer.config = dataclasses.replace(
        layer.config, path="loop"
    )  # the explicit loop over time traces; nn.LSTM does not
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    config = model.config
    size, steps = int(config.encoder.image_size), config.max_question_length  # type: ignore[arg-type]
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(EXAMPLE_IMAGES, 3, size, size, generator=generator)
    export_graph(
        EncoderGraph(model),
        [images],
        folder / "encoder.onnx",
        input_names=["images"],
        output_names=["grid"],
        dynamic={"images": {0: "images"}},
    )
    with torch.no_grad():
        grid = model.encoder.encode_whole(images).grid
    questions = EXAMPLE_IMAGES + 1
    image_index = torch.arange(questions) % EXAMPLE_IMAGES
    question = torch.randint(1, config.num_words, (questions, steps), generator=generator)
    lengths = torch.tensor([steps, 1, steps // 2 or 1][:questions])
    question = question.masked_fill(torch.arange(steps)[None, :] >= lengths[:, None], config.pad_id)
    outputs = ["logits", "attention"] if model.attends else ["logits"]
    inputs = ["grid", "image_index", "question", "lengths"]
    export_graph(
        AnswerGraph(model),
        [grid, image_index, question, lengths],
        folder / "answer.onnx",
        input_names=inputs,
        output_names=outputs,
        dynamic={
            "grid": {0: "images"},
            "image_index": {0: "questions"},
            "question": {0: "questions"},
            "lengths": {0: "questions"},
        },
    )
    if quantize == "int8":
        quantize_int8(folder / "encoder.onnx")
        quantize_int8(folder / "answer.onnx")
    vocab, encoder = answerer.vocab, config.encoder
    return write_manifest(
        folder,
        {
            "task": "vqa",
            **export_source(weights, answerer.checkpoint),
            "quantized": quantize,
            "transform": {
                "backbone": encoder.backbone,
                "image_size": size,
                "mean": list(encoder.mean or ()),
                "std": list(encoder.std or ()),
            },
            "vocabulary": vocab.to_dict(),
            "special_ids": {"pad": vocab.pad_id, "bos": vocab.bos_id, "eos": vocab.eos_id, "unk": vocab.unk_id},
            "answers": list(answerer.answers.answers),
            "classifier": {"loss": config.loss, "question_steps": steps, "grid_shape": list(model.encoder.grid_shape)},
            "graphs": {
                "encoder": {"file": "encoder.onnx", "inputs": ["images"], "outputs": ["grid"]},
                "answer": {"file": "answer.onnx", "inputs": inputs, "outputs": outputs},
            },
        },
    )
