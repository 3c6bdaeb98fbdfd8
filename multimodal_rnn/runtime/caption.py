"""An exported captioner run by onnxruntime: the same captions as the PyTorch ``Captioner``, without torch.

Manifest keys of a caption export (besides those of :mod:`.manifest`):

- ``graphs.encoder``: images (B, 3, S, S) -> the decoder's initial state and its static
  context (the model's ``encode`` and ``start`` in one graph), named in ``decoder.state`` then
  ``decoder.context`` order;
- ``graphs.step``: ``tokens`` (B,) int64, the state arrays, the context arrays -> ``logprobs``
  (B, V) and the next state arrays, in ``decoder.state`` order (the model's ``step``);
- ``decoder``: ``state`` and ``context`` (array names, batch-first, batch dynamic), ``record``
  (the state array of the attention weights (B, N), or null), ``grid_shape`` [h, w],
  ``max_length`` (the model's default, eos included).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from multimodal_rnn.errors import ConfigError
from multimodal_rnn.runtime.hypotheses import BeamResult
from multimodal_rnn.runtime.manifest import graph_session, read_manifest
from multimodal_rnn.runtime.search import Arrays, GreedyResult, beam_search, greedy_search
from multimodal_rnn.runtime.transform import ImageTransform
from multimodal_rnn.text.vocab import Vocabulary


@dataclass(frozen=True)
class CaptionResult:
    """One caption: ``caption`` (words joined by spaces), ``words``, ``score`` (sum of the words'
    natural-log probabilities, length-normalised with a length penalty) and ``attention``
    (len(words), grid_h, grid_w) float32 weights per word, or None."""

    caption: str
    words: tuple[str, ...]
    score: float
    attention: np.ndarray | None = None


class ExportedCaptioner:
    """``caption(images) -> list[CaptionResult]`` over an export folder (``mmrnn export caption``).

    Attributes:
        folder: the export folder; ``manifest``: its checked manifest; ``vocab``: the vocabulary;
        ``transform``: PIL image -> (3, S, S) float32; ``attends``: whether the model has
        attention maps; ``checkpoint``: None (there is no PyTorch checkpoint behind it).
    """

    checkpoint = None

    def __init__(self, folder: str | os.PathLike[str], *, threads: int | None = None) -> None:
        self.folder = Path(folder)
        self.manifest: dict[str, Any] = read_manifest(folder, task="caption")
        decoder = self.manifest["decoder"]
        self.vocab = Vocabulary(self.manifest["vocabulary"]["tokens"])
        self.transform = ImageTransform(self.manifest["transform"])
        self.state_names: list[str] = list(decoder["state"])
        self.context_names: list[str] = list(decoder["context"])
        self.record: str | None = decoder.get("record")
        self.attends = self.record is not None
        self.grid_shape = tuple(decoder["grid_shape"])
        self.max_length = int(decoder["max_length"])
        self._encoder = graph_session(folder, self.manifest, "encoder", threads=threads)
        self._step = graph_session(folder, self.manifest, "step", threads=threads)
        self._step_inputs = [node.name for node in self._step.get_inputs()]

    def start(self, pixels: np.ndarray) -> tuple[Arrays, Arrays]:
        """pixels (B, 3, S, S) float32 -> the decoder's initial state and static context (B rows each)."""
        outputs = self._encoder.run(None, {"images": np.ascontiguousarray(pixels, dtype=np.float32)})
        count = len(self.state_names)
        return dict(zip(self.state_names, outputs[:count])), dict(zip(self.context_names, outputs[count:]))

    def step(self, tokens: np.ndarray, state: Arrays, context: Arrays) -> tuple[np.ndarray, Arrays]:
        """tokens (R,) int64 -> log-probabilities of the next word (R, V) and the next state."""
        feed = {"tokens": tokens, **state, **context}
        outputs = self._step.run(None, {name: feed[name] for name in self._step_inputs})
        return outputs[0], dict(zip(self.state_names, outputs[1:]))

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
        """Caption RGB PIL images, ``batch_size`` at a time; beam_size 1 is greedy decoding."""
        results: list[CaptionResult] = []
        for start in range(0, len(images), batch_size):
            pixels = self.transform.batch(images[start : start + batch_size])
            results.extend(
                self.caption_arrays(
                    pixels,
                    beam_size=beam_size,
                    max_length=max_length,
                    length_penalty=length_penalty,
                    block_repeated_trigrams=block_repeated_trigrams,
                    with_attention=with_attention,
                )
            )
        return results

    def caption_arrays(
        self,
        pixels: np.ndarray,
        *,
        beam_size: int = 3,
        max_length: int | None = None,
        length_penalty: float = 0.0,
        block_repeated_trigrams: bool = False,
        with_attention: bool = False,
    ) -> list[CaptionResult]:
        """Caption a batch of transformed images (B, 3, S, S), as ``Captioner.caption_tensors`` does."""
        if beam_size < 1:
            raise ConfigError(f"beam size must be at least 1, got {beam_size}")
        state, context = self.start(pixels)
        record = self.record if with_attention else None
        vocab, length, batch = self.vocab, max_length or self.max_length, len(pixels)
        ids = {"bos_id": vocab.bos_id, "eos_id": vocab.eos_id, "pad_id": vocab.pad_id}
        output: GreedyResult | BeamResult
        if beam_size == 1 and length_penalty == 0.0 and not block_repeated_trigrams:
            output = greedy_search(self.step, state, context, batch_size=batch, max_length=length, record=record, **ids)
        else:
            output = beam_search(
                self.step,
                state,
                context,
                batch_size=batch,
                beam_size=beam_size,
                max_length=length,
                length_penalty=length_penalty,
                block_repeated_trigrams=block_repeated_trigrams,
                record=record,
                **ids,
            )
        results = []
        for index, sequence in enumerate(output.sequences):
            words = tuple(vocab.decode(sequence))
            attention = None
            if record is not None and output.traces is not None:
                trace = output.traces[index]  # (len, N)
                attention = trace.reshape(trace.shape[0], *self.grid_shape)
            results.append(CaptionResult(" ".join(words), words, float(output.scores[index]), attention))
        return results
