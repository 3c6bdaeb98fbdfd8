"""Video captioning as a service object: load weights once, caption clips in batches.

:class:`VideoCaptioner` ties a video caption model (:mod:`multimodal_rnn.tasks.video_caption.models`),
its vocabulary and its clip transform to :mod:`multimodal_rnn.decoding`. Apps (CLI, server) and
evaluation use it; it never prints.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from multimodal_rnn.checkpoint import Checkpoint
from multimodal_rnn.decoding import BeamOutput, DecodeOutput, beam_search, greedy_decode
from multimodal_rnn.encoders.image import build_transform
from multimodal_rnn.errors import ConfigError, InputError
from multimodal_rnn.tasks.loading import load_with_vocabulary
from multimodal_rnn.tasks.protocol import Predictor
from multimodal_rnn.tasks.video_caption.models import MODELS, EncodedClip, VideoCaptionModel
from multimodal_rnn.text.vocab import Vocabulary
from multimodal_rnn.video import VideoClip, read_clip


@dataclass(frozen=True)
class VideoCaptionResult:
    """One generated caption of a clip.

    Attributes:
        caption: the words joined by spaces.
        words: the generated words (no special tokens).
        score: sum of the words' natural-log probabilities (length-normalised when a length
            penalty was used).
        attention: (len(words), T) weights over the clip's frames per word (temporal attention
            models, when asked; attending over cells, each frame's cells summed), else None.
    """

    caption: str
    words: tuple[str, ...]
    score: float
    attention: torch.Tensor | None = None


def pad_clips(clips: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Transformed clips (T_i, 3, H, W) -> frames (B, T, 3, H, W) zero-padded to the longest, mask (B, T)."""
    if not clips:
        raise InputError("no clips to caption")
    longest = max(clip.shape[0] for clip in clips)
    frames = clips[0].new_zeros((len(clips), longest, *clips[0].shape[1:]))
    mask = torch.zeros((len(clips), longest), dtype=torch.bool)
    for index, clip in enumerate(clips):
        frames[index, : clip.shape[0]] = clip
        mask[index, : clip.shape[0]] = True
    return frames, mask


class VideoCaptioner(Predictor):
    """A video caption model ready for inference: ``caption(clips) -> list[VideoCaptionResult]``.

    The model is put in eval mode and stays where it is unless ``device`` is given; clips go to
    the model's device (:attr:`device`), wherever it is moved later.
    """

    model: VideoCaptionModel

    def __init__(
        self,
        model: VideoCaptionModel,
        vocab: Vocabulary,
        *,
        checkpoint: Checkpoint | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__(model, checkpoint=checkpoint, device=device)
        self.vocab = vocab
        self.frame_transform = build_transform(model.config.encoder)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> VideoCaptioner:
        """Load a video caption checkpoint (.safetensors written by ``mmrnn train video_caption``) onto ``device``."""
        model, checkpoint, vocab = load_with_vocabulary(
            path, registry=MODELS, task="video_caption", model_class=VideoCaptionModel, size_field="vocab_size"
        )
        return cls(model, vocab, checkpoint=checkpoint, device=device)

    @property
    def num_frames(self) -> int:
        """Frames sampled uniformly from each clip (the model's ``num_frames``)."""
        return self.model.config.num_frames

    def read(self, path: str | os.PathLike[str]) -> VideoClip:
        """The :attr:`num_frames` frames of the video file or frame folder at ``path``."""
        return read_clip(path, num_frames=self.num_frames)

    def clip_transform(self, clip: VideoClip) -> torch.Tensor:
        """A clip's frames (T, H, W, 3) uint8 -> normalized float (T, 3, S, S), S the encoder's image size
        (the frames resized and normalized as the encoder's config says)."""
        frames = np.asarray(clip.frames)
        if frames.ndim != 4 or frames.shape[3] != 3 or frames.shape[0] == 0:
            raise InputError(f"a clip must be (T, H, W, 3) frames with T >= 1, got {frames.shape}")
        return torch.stack([self.frame_transform(Image.fromarray(frame)) for frame in frames])

    @torch.no_grad()
    def caption(
        self, clips: Sequence[VideoClip], *, batch_size: int = 32, **options: object
    ) -> list[VideoCaptionResult]:
        """Caption clips (read with :meth:`read` or :func:`multimodal_rnn.video.read_clip`), ``batch_size``
        at a time; ``options`` are those of :meth:`caption_tensors`."""
        results: list[VideoCaptionResult] = []
        for start in range(0, len(clips), batch_size):
            frames, mask = pad_clips([self.clip_transform(clip) for clip in clips[start : start + batch_size]])
            results.extend(self.caption_tensors(frames, mask, **options))  # type: ignore[arg-type]
        return results

    @torch.no_grad()
    def caption_tensors(
        self,
        frames: torch.Tensor,
        mask: torch.Tensor | None = None,
        *,
        beam_size: int = 3,
        max_length: int | None = None,
        length_penalty: float = 0.0,
        block_repeated_trigrams: bool = False,
        with_attention: bool = False,
    ) -> list[VideoCaptionResult]:
        """Caption a batch of transformed clips: frames (B, T, 3, H, W), mask (B, T) bool right-padded
        (None: every frame real); beam_size 1 is greedy decoding."""
        mask = None if mask is None else mask.to(self.device)
        return self.caption_encoded(
            self.model.encode(frames.to(self.device), mask),
            beam_size=beam_size,
            max_length=max_length,
            length_penalty=length_penalty,
            block_repeated_trigrams=block_repeated_trigrams,
            with_attention=with_attention,
        )

    @torch.no_grad()
    def caption_encoded(
        self,
        encoded: EncodedClip,
        *,
        beam_size: int = 3,
        max_length: int | None = None,
        length_penalty: float = 0.0,
        block_repeated_trigrams: bool = False,
        with_attention: bool = False,
    ) -> list[VideoCaptionResult]:
        """Caption encoded clips (:meth:`VideoCaptionModel.encode` or ``encode_batch`` of cached
        features); the options are those of :meth:`caption_tensors`."""
        if beam_size < 1:
            raise ConfigError(f"beam size must be at least 1, got {beam_size}")
        model = self.model
        state, context = model.start(encoded)
        record = "attention" if with_attention and model.attends else None
        batch, frames, length = *encoded.frames.shape[:2], max_length or model.config.max_length
        vocab = self.vocab
        ids: dict[str, Any] = dict(
            batch_size=batch,
            bos_id=vocab.bos_id,
            eos_id=vocab.eos_id,
            pad_id=vocab.pad_id,
            max_length=length,
            record=record,
        )
        output: DecodeOutput | BeamOutput
        if beam_size == 1 and length_penalty == 0.0 and not block_repeated_trigrams:
            output = greedy_decode(model.step, state, context, **ids)
        else:
            output = beam_search(
                model.step,
                state,
                context,
                beam_size=beam_size,
                length_penalty=length_penalty,
                block_repeated_trigrams=block_repeated_trigrams,
                **ids,
            )
        results = []
        for index, sequence in enumerate(output.sequences):
            words = tuple(vocab.decode(sequence))
            attention = None
            if record is not None and output.traces is not None:
                trace = output.traces[index].cpu()  # (len, T) or, attending over cells, (len, T * N)
                kept = [row for row, token in enumerate(sequence) if vocab.decode([token])]  # rows of the words
                per_frame = trace.reshape(trace.shape[0], frames, trace.shape[1] // frames).sum(dim=2)
                attention = per_frame[kept]  # (len(words), T)
            results.append(VideoCaptionResult(" ".join(words), words, float(output.scores[index]), attention))
        return results
