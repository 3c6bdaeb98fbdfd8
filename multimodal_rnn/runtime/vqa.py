"""An exported VQA model run by onnxruntime: the same answers as the PyTorch ``Answerer``, without torch.

Manifest keys of a VQA export (besides those of :mod:`.manifest`):

- ``graphs.encoder``: ``images`` (I, 3, S, S) -> ``grid`` (I, N, D);
- ``graphs.answer``: ``grid``, ``image_index`` (B,) int64 (each question's image), ``question``
  (B, T) int64 word ids padded with ``special_ids.pad`` to T = ``classifier.question_steps``,
  ``lengths`` (B,) int64 in 1..T -> ``logits`` (B, K) and, for attending models, ``attention``
  (B, G, N);
- ``answers``: the K answers, in output order; ``classifier.loss``: ``bce`` (probabilities are
  per-answer sigmoids) or ``softmax``; ``classifier.grid_shape`` [h, w].

Questions are read as the library reads them: tokenized, cut to T words, unknown words ``<unk>``,
a question without a word an :class:`~multimodal_rnn.errors.InputError`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from multimodal_rnn.errors import ConfigError, InputError
from multimodal_rnn.runtime.manifest import graph_session, read_manifest
from multimodal_rnn.runtime.transform import ImageTransform
from multimodal_rnn.text.vocab import Vocabulary, tokenize, words


@dataclass(frozen=True)
class AnswerResult:
    """The answers to one question: ``answers`` ((answer, probability), best first) and
    ``attention`` (glimpses, grid_h, grid_w) float32, or None for a model without attention."""

    answers: tuple[tuple[str, float], ...]
    attention: np.ndarray | None = None


class ExportedAnswerer:
    """``answer(images, questions) -> list[AnswerResult]`` over an export folder (``mmrnn export vqa``).

    Attributes:
        folder, manifest, vocab, transform: as for :class:`~multimodal_rnn.runtime.caption.ExportedCaptioner`;
        ``answers``: the answer list; ``attends``: whether the model has attention glimpses.
    """

    checkpoint = None

    def __init__(self, folder: str | os.PathLike[str], *, threads: int | None = None) -> None:
        self.folder = Path(folder)
        self.manifest: dict[str, Any] = read_manifest(folder, task="vqa")
        classifier = self.manifest["classifier"]
        self.vocab = Vocabulary(self.manifest["vocabulary"]["tokens"])
        self.transform = ImageTransform(self.manifest["transform"])
        self.answers: list[str] = list(self.manifest["answers"])
        self.loss = str(classifier["loss"])
        self.steps = int(classifier["question_steps"])
        self.grid_shape = tuple(classifier["grid_shape"])
        self.attends = "attention" in self.manifest["graphs"]["answer"]["outputs"]
        self._encoder = graph_session(folder, self.manifest, "encoder", threads=threads)
        self._answer = graph_session(folder, self.manifest, "answer", threads=threads)

    def encode(self, question: str) -> list[int]:
        """Word ids of a question as the model reads it (``datasets.vqa.encode_question``'s rule).

        Raises:
            InputError: the question has no word.
        """
        if not words(question):
            raise InputError("the question is empty (no words)")
        ids = self.vocab.encode(tokenize(question), max_length=self.steps, add_bos=False, add_eos=False)
        return ids or [self.vocab.unk_id]

    def ask(self, image: Image.Image, question: str, *, top: int = 5) -> list[tuple[str, float]]:
        """The ``top`` most probable answers to ``question`` about an RGB PIL image."""
        return list(self.answer([image], [question], top=top)[0].answers)

    def answer(
        self, images: Sequence[Image.Image], questions: Sequence[str], *, top: int = 5, with_attention: bool = False
    ) -> list[AnswerResult]:
        """Answer ``questions[i]`` about ``images[i]`` for every i."""
        if len(images) != len(questions):
            raise ConfigError(f"{len(images)} images but {len(questions)} questions")
        if not questions:
            return []
        pixels = self.transform.batch(images)
        return self.answer_arrays(pixels, np.arange(len(questions)), questions, top=top, with_attention=with_attention)

    def encode_images(self, pixels: np.ndarray) -> np.ndarray:
        """pixels (I, 3, S, S) float32 -> grid features (I, N, D)."""
        return self._encoder.run(None, {"images": np.ascontiguousarray(pixels, dtype=np.float32)})[0]

    def answer_arrays(
        self,
        pixels: np.ndarray,
        image_index: np.ndarray,
        questions: Sequence[str],
        *,
        top: int = 1,
        with_attention: bool = False,
    ) -> list[AnswerResult]:
        """Answer ``questions[b]`` about image ``image_index[b]`` of ``pixels`` (I, 3, S, S), already transformed."""
        return self.answer_grid(
            self.encode_images(pixels), image_index, questions, top=top, with_attention=with_attention
        )

    def answer_grid(
        self,
        grid: np.ndarray,
        image_index: np.ndarray,
        questions: Sequence[str],
        *,
        top: int = 1,
        with_attention: bool = False,
    ) -> list[AnswerResult]:
        """As :meth:`answer_arrays`, for images already through the encoder graph (grid (I, N, D))."""
        if top < 1:
            raise ConfigError(f"top must be at least 1, got {top}")
        encoded = [self.encode(question) for question in questions]
        ids = np.full((len(encoded), self.steps), self.vocab.pad_id, dtype=np.int64)
        for row, question_ids in enumerate(encoded):
            ids[row, : len(question_ids)] = question_ids
        lengths = np.array([len(question_ids) for question_ids in encoded], dtype=np.int64)
        feed = {
            "grid": grid,
            "image_index": np.asarray(image_index, dtype=np.int64),
            "question": ids,
            "lengths": lengths,
        }
        outputs = self._answer.run(None, feed)
        logits = outputs[0].astype(np.float32)
        if self.loss == "bce":
            with np.errstate(over="ignore"):  # exp(-x) of a very negative logit is inf: probability 0
                scores = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
        else:
            shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
            scores = (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)
        best = np.argsort(-scores, axis=1, kind="stable")[:, : min(top, scores.shape[1])]  # (B, top)
        attention = outputs[1] if with_attention and len(outputs) > 1 else None
        results = []
        for row in range(len(encoded)):
            answers = tuple((self.answers[i], round(float(scores[row, i]), 6)) for i in best[row].tolist())
            weights = attention[row].reshape(-1, *self.grid_shape) if attention is not None else None  # (G, h, w)
            results.append(AnswerResult(answers, weights))
        return results
