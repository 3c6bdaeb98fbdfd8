"""The action task over HTTP (``POST /v1/action``): a video in, its most probable actions out, with
the clip as an annotated GIF. Concurrent requests share one batched forward pass."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from multimodal_rnn.encoders.clip import stack_clips
from multimodal_rnn.tasks.action.predictor import ActionClassifier, ActionResult
from multimodal_rnn.tasks.protocol import FormField, Serving, ServingLimits, gif_field
from multimodal_rnn.video_figure import gif_base64


@dataclass(frozen=True)
class ActionRequest:
    """One clip to classify: ``pixels`` (T, 3, S, S) from the classifier's ``clip_transform``; the
    ``top`` classes; ``frames`` (T, H, W, 3) uint8 for the answer's GIF, or None for no GIF."""

    pixels: torch.Tensor
    top: int
    frames: np.ndarray | None = None


def action_batch(classifier: ActionClassifier, requests: Sequence[ActionRequest]) -> list[ActionResult]:
    """Classify every request's clip in one forward pass (clips of different lengths padded), each
    with its own ``top``: the same results as :meth:`ActionClassifier.classify` on the clips."""
    frames, lengths = stack_clips([request.pixels for request in requests])
    results = classifier.classify_tensors(frames, lengths, top=max(request.top for request in requests))
    return [ActionResult(result.classes[: request.top]) for request, result in zip(requests, results)]


def _fields(limits: ServingLimits) -> tuple[FormField, ...]:
    return (
        FormField("top", "how many classes", kind=int, default=5, minimum=1, maximum=limits.max_top),
        gif_field(),
    )


def _request(fields: Mapping[str, Any], pixels: torch.Tensor) -> ActionRequest:
    clip = fields.get("video")
    frames = clip.frames if clip is not None and fields["gif"] else None
    return ActionRequest(pixels, fields["top"], frames)


def _to_json(request: ActionRequest, result: ActionResult) -> dict[str, Any]:
    gif = gif_base64(request.frames, caption=result.label) if request.frames is not None else None
    return {
        "label": result.label,
        "classes": [{"class": name, "probability": round(p, 4)} for name, p in result.classes],
        "frames": int(request.pixels.shape[0]),
        "gif": gif,
    }


SERVING: Serving[ActionRequest, ActionResult] = Serving(
    summary="recognize the action in a video clip",
    fields=_fields,
    request=_request,
    batch=action_batch,
    to_json=_to_json,
    upload="video",
)
"""``POST /v1/action``: multipart ``video``, ``top``, ``gif``; answers ``label``, ``classes`` (class
and probability, best first), ``frames`` (how many were sampled) and ``gif`` (base64, or null)."""
