"""The caption task over HTTP (``POST /v1/caption``): an image and a beam size in, the caption
with each word's attention map out. Concurrent requests with the same beam size share one
batched decode. The model is a checkpoint run by PyTorch or an export folder run by onnxruntime
(:func:`~multimodal_rnn.tasks.caption.predictor.load_captioner`): the same captions."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from multimodal_rnn.runtime.caption import ExportedCaptioner
from multimodal_rnn.tasks.caption.predictor import Captioner, CaptionResult
from multimodal_rnn.tasks.protocol import FormField, Serving, ServingLimits, attention_json


@dataclass(frozen=True)
class CaptionRequest:
    """One image to caption: ``pixels`` (3, H, W) from the captioner's transform (an array for an
    export folder); ``beam_size`` 1 is greedy."""

    pixels: torch.Tensor | np.ndarray
    beam_size: int


def caption_batch(captioner: Captioner | ExportedCaptioner, requests: Sequence[CaptionRequest]) -> list[Any]:
    """Caption every request's image in one batched decode (all requests share one beam size);
    the same results as :meth:`Captioner.caption` on the images."""
    beams = {request.beam_size for request in requests}
    assert len(beams) == 1, "caption requests are grouped by beam size"
    if isinstance(captioner, ExportedCaptioner):
        arrays = np.stack([np.asarray(request.pixels) for request in requests])  # (B, 3, H, W)
        return captioner.caption_arrays(arrays, beam_size=beams.pop(), with_attention=captioner.attends)
    pixels = torch.stack([torch.as_tensor(request.pixels) for request in requests])  # (B, 3, H, W)
    return captioner.caption_tensors(pixels, beam_size=beams.pop(), with_attention=captioner.model.attends)


def _fields(limits: ServingLimits) -> tuple[FormField, ...]:
    return (
        FormField("beam_size", "beam size; 1 = greedy", kind=int, default=3, minimum=1, maximum=limits.max_beam_size),
    )


def _request(fields: Mapping[str, Any], pixels: torch.Tensor | np.ndarray) -> CaptionRequest:
    return CaptionRequest(pixels, fields["beam_size"])


def _beam_size(captioner: Captioner | ExportedCaptioner, request: CaptionRequest) -> Hashable:
    return request.beam_size


def _to_json(request: CaptionRequest, result: CaptionResult) -> dict[str, Any]:
    return {
        "caption": result.caption,
        "words": list(result.words),
        "score": round(result.score, 4),
        "attention": attention_json(result.attention, result.words),
    }


SERVING: Serving[CaptionRequest, CaptionResult] = Serving(
    summary="caption an image (with the attention of each word)",
    fields=_fields,
    request=_request,
    batch=caption_batch,
    to_json=_to_json,
    key=_beam_size,
)
"""``POST /v1/caption``: multipart ``image``, ``beam_size``; answers ``caption``, ``words``,
``score`` (sum of log-probabilities) and ``attention`` (per word, or null)."""
