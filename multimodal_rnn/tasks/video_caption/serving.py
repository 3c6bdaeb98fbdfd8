"""The video caption task over HTTP (``POST /v1/video_caption``): a clip and a beam size in, the
caption with each word's attention over the frames (and the clip as a captioned GIF) out. The
upload is a video: the server decodes it and hands the predictor's ``clip_transform(clip)``,
(T, 3, H, W), as the pixels and the clip as ``fields["video"]``. Concurrent requests with the same
beam size share one batched decode (clips padded to the longest)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from multimodal_rnn.tasks.protocol import FormField, Serving, ServingLimits, gif_field
from multimodal_rnn.tasks.video_caption.predictor import VideoCaptioner, VideoCaptionResult, pad_clips
from multimodal_rnn.video import VideoClip
from multimodal_rnn.video_figure import gif_base64


@dataclass(frozen=True)
class VideoCaptionRequest:
    """One clip to caption.

    Attributes:
        frames: (T, 3, H, W) from the captioner's clip transform.
        beam_size: 1 is greedy.
        clip: the decoded clip whose frames make the answer's GIF, or None for no GIF.
    """

    frames: torch.Tensor
    beam_size: int
    clip: VideoClip | None = None


def video_caption_batch(captioner: VideoCaptioner, requests: Sequence[VideoCaptionRequest]) -> list[VideoCaptionResult]:
    """Caption every request's clip in one batched decode (all requests share one beam size); the
    same results as :meth:`VideoCaptioner.caption` on the clips."""
    beams = {request.beam_size for request in requests}
    assert len(beams) == 1, "video caption requests are grouped by beam size"
    frames, mask = pad_clips([request.frames for request in requests])
    return captioner.caption_tensors(frames, mask, beam_size=beams.pop(), with_attention=captioner.model.attends)


def _fields(limits: ServingLimits) -> tuple[FormField, ...]:
    return (
        FormField("beam_size", "beam size; 1 = greedy", kind=int, default=3, minimum=1, maximum=limits.max_beam_size),
        gif_field(),
    )


def _request(fields: Mapping[str, Any], pixels: torch.Tensor) -> VideoCaptionRequest:
    return VideoCaptionRequest(pixels, fields["beam_size"], fields.get("video") if fields.get("gif", 1) else None)


def _beam_size(captioner: VideoCaptioner, request: VideoCaptionRequest) -> Hashable:
    return request.beam_size


def frame_attention_json(attention: torch.Tensor | None, words: Sequence[str]) -> dict[str, Any] | None:
    """Weights over the frames per word (L, T) as ``{"frames": T, "labels": words, "weights": [[T floats], ...]}``
    (5 decimals), or None without attention."""
    if attention is None:
        return None
    weights = [[round(float(v), 5) for v in row.tolist()] for row in attention]
    return {"frames": int(attention.shape[1]), "labels": list(words), "weights": weights}


def _to_json(request: VideoCaptionRequest, result: VideoCaptionResult) -> dict[str, Any]:
    return {
        "caption": result.caption,
        "words": list(result.words),
        "score": round(result.score, 4),
        "frames": int(request.frames.shape[0]),
        "attention": frame_attention_json(result.attention, result.words),
        "gif": None if request.clip is None else gif_base64(request.clip.frames, caption=result.caption),
    }


SERVING: Serving[VideoCaptionRequest, VideoCaptionResult] = Serving(
    summary="caption a video clip (with the attention of each word over the frames)",
    fields=_fields,
    request=_request,
    batch=video_caption_batch,
    to_json=_to_json,
    key=_beam_size,
    upload="video",
)
"""``POST /v1/video_caption``: multipart video upload, ``beam_size``; answers ``caption``, ``words``,
``score`` (sum of log-probabilities), ``frames`` (how many were sampled), ``attention`` (per word
over the frames, or null) and ``gif`` (the clip with its caption, base64, or null with ``gif=0``)."""
