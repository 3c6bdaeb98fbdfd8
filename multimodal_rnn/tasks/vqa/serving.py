"""The VQA task over HTTP (``POST /v1/vqa``): an image and a question in, the best answers with
their probabilities (and the attention glimpses) out. Concurrent requests share one forward pass.
The model is a checkpoint run by PyTorch or an export folder run by onnxruntime
(:func:`~multimodal_rnn.tasks.vqa.predictor.load_answerer`): the same answers."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from multimodal_rnn.runtime.vqa import ExportedAnswerer
from multimodal_rnn.tasks.protocol import FormField, Serving, ServingLimits, attention_json
from multimodal_rnn.tasks.vqa.predictor import Answerer, AnswerResult


@dataclass(frozen=True)
class VQARequest:
    """One question about one image (``pixels`` (3, H, W) from the answerer's transform, an array for
    an export folder); ``top`` answers."""

    pixels: torch.Tensor | np.ndarray
    question: str
    top: int


def vqa_batch(answerer: Answerer | ExportedAnswerer, requests: Sequence[VQARequest]) -> list[Any]:
    """Answer every request in one forward pass, each with its own ``top`` (as :meth:`Answerer.answer`)."""
    questions, top = [request.question for request in requests], max(request.top for request in requests)
    results: Sequence[Any]
    if isinstance(answerer, ExportedAnswerer):
        pixels = np.stack([np.asarray(request.pixels) for request in requests])  # (B, 3, H, W)
        results = answerer.answer_arrays(
            pixels, np.arange(len(requests)), questions, top=top, with_attention=answerer.attends
        )
    else:
        tensors = [torch.as_tensor(request.pixels) for request in requests]
        results = answerer.answer_tensors(tensors, questions, top=top, with_attention=answerer.model.attends)
    return [_first(result, request.top) for request, result in zip(requests, results)]


def _first(result: Any, top: int) -> Any:
    """``result`` (an :class:`AnswerResult` of either runtime) with its first ``top`` answers."""
    return dataclasses.replace(result, answers=result.answers[:top])


def _fields(limits: ServingLimits) -> tuple[FormField, ...]:
    return (
        FormField("question", "the question", max_chars=limits.max_text_chars, words=True),
        FormField("top", "how many answers", kind=int, default=5, minimum=1, maximum=limits.max_top),
    )


def _request(fields: Mapping[str, Any], pixels: torch.Tensor | np.ndarray) -> VQARequest:
    return VQARequest(pixels, fields["question"], fields["top"])


def _to_json(request: VQARequest, result: AnswerResult) -> dict[str, Any]:
    attention = result.attention
    labels = [f"glimpse {g + 1}" for g in range(attention.shape[0])] if attention is not None else []
    return {
        "question": request.question,
        "answers": [{"answer": answer, "probability": round(p, 4)} for answer, p in result.answers],
        "attention": attention_json(attention, labels),
    }


SERVING: Serving[VQARequest, AnswerResult] = Serving(
    summary="answer a question about an image",
    fields=_fields,
    request=_request,
    batch=vqa_batch,
    to_json=_to_json,
)
"""``POST /v1/vqa``: multipart ``image``, ``question``, ``top``; answers ``question``, ``answers``
(answer and probability, best first) and ``attention`` (one map per glimpse, or null)."""
