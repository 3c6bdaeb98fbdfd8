"""The VQA task over HTTP (``POST /v1/vqa``): an image and a question in, the best answers with
their probabilities (and the attention glimpses) out. Concurrent requests share one forward pass."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from multimodal_rnn.tasks.protocol import FormField, Serving, ServingLimits, attention_json
from multimodal_rnn.tasks.vqa.predictor import Answerer, AnswerResult


@dataclass(frozen=True)
class VQARequest:
    """One question about one image (``pixels`` (3, H, W) from the answerer's transform); ``top`` answers."""

    pixels: torch.Tensor
    question: str
    top: int


def vqa_batch(answerer: Answerer, requests: Sequence[VQARequest]) -> list[AnswerResult]:
    """Answer every request in one forward pass, each with its own ``top`` (as :meth:`Answerer.answer`)."""
    results = answerer.answer_tensors(
        [request.pixels for request in requests],
        [request.question for request in requests],
        top=max(request.top for request in requests),
        with_attention=answerer.model.attends,
    )
    return [AnswerResult(result.answers[: request.top], result.attention) for request, result in zip(requests, results)]


def _fields(limits: ServingLimits) -> tuple[FormField, ...]:
    return (
        FormField("question", "the question", max_chars=limits.max_text_chars, words=True),
        FormField("top", "how many answers", kind=int, default=5, minimum=1, maximum=limits.max_top),
    )


def _request(fields: Mapping[str, Any], pixels: torch.Tensor) -> VQARequest:
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
