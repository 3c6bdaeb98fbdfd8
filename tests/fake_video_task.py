"""A toy served video task for the server's tests: each sampled frame labelled ``dark`` or
``bright`` by its mean pixel, through the same ``Serving(upload="video")`` contract the video tasks use."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from apps.server.inference import LoadedModel
from multimodal_rnn.registry import Registry
from multimodal_rnn.tasks.protocol import FormField, Serving, ServingLimits, TaskSpec, gif_field
from multimodal_rnn.video import VideoClip, write_clip
from multimodal_rnn.video_figure import gif_base64

NUM_FRAMES = 4


@dataclass(frozen=True)
class LabelRequest:
    pixels: torch.Tensor  # (T, 3, H, W)
    frames: np.ndarray  # (T, H, W, 3) uint8, for the GIF
    gif: int


class BrightnessLabeller:
    """A video predictor: ``num_frames``, ``clip_transform`` and a batched call on (B, T, 3, H, W);
    records the batches it was called with and the threads its transform ran in."""

    checkpoint = None
    num_frames = NUM_FRAMES

    def __init__(self) -> None:
        self.model = torch.nn.Linear(1, 1)
        self.calls: list[int] = []
        self.transform_threads: list[str] = []
        self.lock = threading.Lock()

    def clip_transform(self, clip: VideoClip) -> torch.Tensor:
        self.transform_threads.append(threading.current_thread().name)
        return torch.from_numpy(np.ascontiguousarray(clip.frames)).permute(0, 3, 1, 2).float() / 255.0

    def label(self, pixels: torch.Tensor) -> list[list[str]]:
        with self.lock:
            self.calls.append(len(pixels))
        return [["bright" if float(frame.mean()) > 0.5 else "dark" for frame in clip] for clip in pixels]

    @classmethod
    def from_checkpoint(cls, path: Any, *, device: Any = "cpu") -> BrightnessLabeller:
        return cls()


def label_batch(predictor: BrightnessLabeller, requests: Sequence[LabelRequest]) -> list[list[str]]:
    return predictor.label(torch.stack([request.pixels for request in requests]))


def _fields(limits: ServingLimits) -> tuple[FormField, ...]:
    return (gif_field(),)


def _request(fields: Mapping[str, Any], pixels: torch.Tensor) -> LabelRequest:
    return LabelRequest(pixels, fields["video"].frames, fields["gif"])


ANSWER_THREADS: list[str] = []
"""The threads the answers (and their GIFs) were made in."""


def _to_json(request: LabelRequest, labels: list[str]) -> dict[str, Any]:
    ANSWER_THREADS.append(threading.current_thread().name)
    return {"frames": labels, "gif": gif_base64(request.frames, labels) if request.gif else None}


LIGHT = TaskSpec(
    name="light",
    summary="a toy video task: each frame dark or bright",
    models=Registry(),
    predictor_loader=BrightnessLabeller.from_checkpoint,
    serving=Serving(
        summary="label each frame of a clip dark or bright",
        fields=_fields,
        request=_request,
        batch=label_batch,
        to_json=_to_json,
        upload="video",
    ),
)


def light_model(predictor: BrightnessLabeller | None = None) -> dict[str, LoadedModel]:
    """``create_app``'s models: the toy video task's predictor."""
    predictor = predictor or BrightnessLabeller()
    info = {"task": "light", "file": "light.safetensors", "model": "BrightnessLabeller"}
    return {"light": LoadedModel("light", Path("light.safetensors"), predictor, info)}


def dark_then_bright(path: Path, frames: int = 8, size: int = 16) -> Path:
    """A clip of ``frames`` frames, the first half dark and the second bright (every frame a
    different gray), written with :func:`~multimodal_rnn.video.write_clip`; its uniform sample of
    :data:`NUM_FRAMES` frames is labelled dark, dark, bright, bright."""
    levels = [10 + 10 * i if i < frames // 2 else 170 + 10 * i for i in range(frames)]
    write_clip(path, np.stack([np.full((size, size, 3), level, dtype=np.uint8) for level in levels]), fps=8)
    return path
