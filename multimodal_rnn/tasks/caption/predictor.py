"""Captioning as a service object: load weights once, caption PIL images in batches.

:class:`Captioner` ties a caption model (``multimodal_rnn.tasks.caption.models``), its vocabulary and
its image transform to :mod:`multimodal_rnn.decoding`. Apps (CLI, server) and evaluation use it;
it never prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from PIL import Image

from multimodal_rnn.checkpoint import Checkpoint
from multimodal_rnn.tasks.loading import load_with_vocabulary
from multimodal_rnn.decoding import BeamOutput, DecodeOutput, beam_search, greedy_decode
from multimodal_rnn.encoders.image import build_transform
from multimodal_rnn.errors import ConfigError
from multimodal_rnn.runtime.caption import ExportedCaptioner
from multimodal_rnn.runtime.manifest import is_export_folder
from multimodal_rnn.tasks.caption.models import MODELS, CaptionModel
from multimodal_rnn.tasks.protocol import Predictor
from multimodal_rnn.text.vocab import Vocabulary


@dataclass(frozen=True)
class CaptionResult:
    """One generated caption.

    Attributes:
        caption: the detokenized caption (words joined by spaces).
        words: the generated words (no special tokens).
        score: sum of the words' natural-log probabilities (length-normalised when a length
            penalty was used).
        attention: (len(words), grid_h, grid_w) attention weights per word, or None.
    """

    caption: str
    words: tuple[str, ...]
    score: float
    attention: torch.Tensor | None = None


class Captioner(Predictor):
    """A caption model ready for inference: ``caption(images) -> list[CaptionResult]``.

    The model is put in eval mode and stays where it is unless ``device`` is given; images go to
    the model's device (:attr:`device`), wherever it is moved later.
    """

    model: CaptionModel

    def __init__(
        self,
        model: CaptionModel,
        vocab: Vocabulary,
        transform: Callable[[Image.Image], torch.Tensor],
        *,
        checkpoint: Checkpoint | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__(model, checkpoint=checkpoint, device=device)
        self.vocab = vocab
        self.transform = transform

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> "Captioner":
        """Load a captioning checkpoint (.safetensors written by the caption trainer) onto ``device``."""
        model, checkpoint, vocab = load_with_vocabulary(path, registry=MODELS, task="caption", model_class=CaptionModel,
                                                        size_field="vocab_size")
        return cls(model, vocab, build_transform(model.config.encoder), checkpoint=checkpoint, device=device)

    @torch.no_grad()
    def caption(
        self,
        images: Sequence[Image.Image],
        *,
        beam_size: int = 3,
        max_length: int | None = None,
        length_penalty: float = 0.0,
        block_repeated_trigrams: bool = False,
        with_attention: bool = False,
        batch_size: int = 64,
    ) -> list[CaptionResult]:
        """Caption RGB PIL images; beam_size 1 is greedy decoding."""
        if beam_size < 1:
            raise ConfigError(f"beam size must be at least 1, got {beam_size}")
        results: list[CaptionResult] = []
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            pixels = torch.stack([self.transform(image) for image in chunk]).to(self.device)  # (B, 3, H, W)
            results.extend(self.caption_tensors(
                pixels, beam_size=beam_size, max_length=max_length, length_penalty=length_penalty,
                block_repeated_trigrams=block_repeated_trigrams, with_attention=with_attention,
            ))
        return results

    @torch.no_grad()
    def caption_tensors(
        self,
        pixels: torch.Tensor,
        *,
        beam_size: int = 3,
        max_length: int | None = None,
        length_penalty: float = 0.0,
        block_repeated_trigrams: bool = False,
        with_attention: bool = False,
    ) -> list[CaptionResult]:
        """Caption a batch of already transformed images (B, 3, H, W)."""
        model = self.model
        encoded = model.encode(pixels.to(self.device))
        state, context = model.start(encoded)
        record = "attention" if with_attention and model.attends else None
        batch, length = pixels.shape[0], max_length or model.config.max_length
        vocab = self.vocab
        output: DecodeOutput | BeamOutput
        if beam_size == 1 and length_penalty == 0.0 and not block_repeated_trigrams:
            output = greedy_decode(model.step, state, context, batch_size=batch, bos_id=vocab.bos_id,
                                   eos_id=vocab.eos_id, pad_id=vocab.pad_id, max_length=length, record=record)
        else:
            output = beam_search(model.step, state, context, beam_size=beam_size, length_penalty=length_penalty,
                                 block_repeated_trigrams=block_repeated_trigrams, batch_size=batch,
                                 bos_id=vocab.bos_id, eos_id=vocab.eos_id, pad_id=vocab.pad_id, max_length=length,
                                 record=record)
        grid_shape = model.encoder.grid_shape
        results = []
        for index, sequence in enumerate(output.sequences):
            words = tuple(self.vocab.decode(sequence))
            attention = None
            if record is not None and output.traces is not None:
                trace = output.traces[index]  # (len, N)
                attention = trace.reshape(trace.shape[0], *grid_shape).cpu()
            results.append(CaptionResult(" ".join(words), words, float(output.scores[index]), attention))
        return results


def load_captioner(
    path: str | os.PathLike[str], *, device: str | torch.device = "cpu"
) -> Captioner | ExportedCaptioner:
    """The caption task's predictor: a :class:`Captioner` for a checkpoint on ``device``, or for an
    export folder (``mmrnn export caption``) an :class:`~multimodal_rnn.runtime.caption.ExportedCaptioner`
    (onnxruntime, CPU)."""
    if is_export_folder(path):
        return ExportedCaptioner(path)
    return Captioner.from_checkpoint(path, device=device)
