"""The frames task over HTTP (``POST /v1/frames``): a video in, a label for each sampled frame out,
with the clip as a GIF that shows each frame's label. Concurrent requests share one forward pass."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from multimodal_rnn.encoders.clip import stack_clips
from multimodal_rnn.tasks.frames.predictor import FrameLabeler, FrameLabels
from multimodal_rnn.tasks.protocol import FormField, Serving, ServingLimits, gif_field
from multimodal_rnn.video_figure import gif_base64


@dataclass(frozen=True)
class FramesRequest:
    """One clip to label: ``pixels`` (T, 3, S, S) from the labeler's ``clip_transform``, ``frames``
    (T, H, W, 3) uint8 for the answer's GIF (None: no GIF) and the source ``indices`` of the frames."""

    pixels: torch.Tensor
    frames: np.ndarray | None = None
    indices: tuple[int, ...] = ()


def frames_batch(labeler: FrameLabeler, requests: Sequence[FramesRequest]) -> list[FrameLabels]:
    """Label every request's frames in one forward pass (clips of different lengths padded): the
    same labels as :meth:`FrameLabeler.label` on the clips."""
    frames, lengths = stack_clips([request.pixels for request in requests])
    return labeler.label_tensors(frames, lengths)


def _fields(limits: ServingLimits) -> tuple[FormField, ...]:
    return (gif_field(),)


def _request(fields: Mapping[str, Any], pixels: torch.Tensor) -> FramesRequest:
    clip = fields.get("video")
    frames = clip.frames if clip is not None and fields["gif"] else None
    indices = tuple(clip.indices) if clip is not None else tuple(range(pixels.shape[0]))
    return FramesRequest(pixels, frames, indices)


def _to_json(request: FramesRequest, result: FrameLabels) -> dict[str, Any]:
    gif = gif_base64(request.frames, labels=list(result.labels)) if request.frames is not None else None
    return {
        "frames": [
            {"index": index, "label": label, "probability": round(p, 4)}
            for index, label, p in zip(request.indices, result.labels, result.probabilities)
        ],
        "gif": gif,
    }


SERVING: Serving[FramesRequest, FrameLabels] = Serving(
    summary="label every frame of a video clip",
    fields=_fields,
    request=_request,
    batch=frames_batch,
    to_json=_to_json,
    upload="video",
)
"""``POST /v1/frames``: multipart ``video``, ``gif``; answers ``frames`` (the source index, label and
probability of each sampled frame) and ``gif`` (base64, or null)."""
