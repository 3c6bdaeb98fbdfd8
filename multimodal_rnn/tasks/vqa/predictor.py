"""Visual question answering as a service object: load weights once, answer questions about images.

:class:`Answerer` ties a VQA model (:mod:`multimodal_rnn.tasks.vqa.models`), its question vocabulary,
its answer list and its image transform together. Apps (CLI, server), validation and prediction
use it; it never prints.

Questions are tokenized like the training questions; unknown words become ``<unk>`` and a
question longer than the model's ``max_question_length`` words is cut to its first that-many
words (the model never saw longer ones). A question without a single word is an
:class:`~multimodal_rnn.errors.InputError`.

Probabilities: a model trained with the ``bce`` loss scores every answer independently
(sigmoid of its logit, an estimate of the answer's soft score, so they need not sum to 1); a
``softmax`` model gives a distribution over the answers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Iterable, Sequence

import torch
from PIL import Image

from multimodal_rnn.checkpoint import Checkpoint
from multimodal_rnn.tasks.loading import load_with_vocabulary
from multimodal_rnn.datasets.image_reader import read_batches
from multimodal_rnn.datasets.vqa import AnswerVocabulary, VQADataset, VQARecord, collate_vqa, encode_question
from multimodal_rnn.encoders.image import build_transform
from multimodal_rnn.errors import CheckpointError, ConfigError, MMRNNError, InputError
from multimodal_rnn.runtime.manifest import is_export_folder
from multimodal_rnn.runtime.vqa import ExportedAnswerer
from multimodal_rnn.tasks.protocol import Predictor
from multimodal_rnn.tasks.vqa.models import MODELS, VQAModel
from multimodal_rnn.text.vocab import Vocabulary, words


@dataclass(frozen=True)
class RecordAnswers:
    """Top answers to a list of :class:`~multimodal_rnn.datasets.vqa.VQARecord`.

    Attributes:
        answers: one per record, in order; None where the record's image could not be read.
        bad_images: unreadable image path -> the one-line reason.
    """

    answers: list[str | None]
    bad_images: dict[str, str]


@dataclass(frozen=True)
class AnswerResult:
    """The answers to one question.

    Attributes:
        answers: the ``top`` answers with their probabilities, best first.
        attention: (glimpses, grid_h, grid_w) attention weights (each glimpse sums to 1), or None
            for a model without attention.
    """

    answers: tuple[tuple[str, float], ...]
    attention: torch.Tensor | None = None


class Answerer(Predictor):
    """A VQA model ready for inference: ``ask(image, question) -> [(answer, probability), ...]``.

    The device is the model's (:attr:`~multimodal_rnn.tasks.protocol.Predictor.device`): move the
    model, or call :meth:`to`, and questions follow it. ``device`` moves the model there first.
    """

    model: VQAModel

    def __init__(
        self,
        model: VQAModel,
        vocab: Vocabulary,
        answers: AnswerVocabulary,
        transform: Callable[[Image.Image], torch.Tensor],
        *,
        checkpoint: Checkpoint | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__(model, checkpoint=checkpoint, device=device)
        self.vocab = vocab
        self.answers = answers
        self.transform = transform

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> "Answerer":
        """Load a VQA checkpoint (.safetensors written by the VQA trainer) onto ``device``."""
        model, checkpoint, vocab = load_with_vocabulary(path, registry=MODELS, task="vqa", model_class=VQAModel,
                                                        size_field="num_words", needs_answers=True)
        try:
            answers = AnswerVocabulary(checkpoint.answers or [])
        except MMRNNError as exc:
            raise CheckpointError(f"{path}: {exc}") from None
        if len(answers) != model.config.num_answers:
            raise CheckpointError(f"{path}: {len(answers)} answers, model expects {model.config.num_answers}")
        return cls(model, vocab, answers, build_transform(model.config.encoder), checkpoint=checkpoint, device=device)

    def encode(self, question: str) -> list[int]:
        """Word ids of a question as the model reads it (see the module docstring).

        Raises:
            InputError: the question has no word.
        """
        if not words(question):
            raise InputError("the question is empty (no words)")
        return encode_question(self.vocab, question, self.model.config.max_question_length)

    def ask(self, image: Image.Image, question: str, *, top: int = 5) -> list[tuple[str, float]]:
        """The ``top`` most probable answers to ``question`` about an RGB PIL image."""
        return list(self.answer([image], [question], top=top)[0].answers)

    @torch.no_grad()
    def answer(
        self,
        images: Sequence[Image.Image],
        questions: Sequence[str],
        *,
        top: int = 5,
        with_attention: bool = False,
    ) -> list[AnswerResult]:
        """Answer ``questions[i]`` about ``images[i]`` (RGB PIL images) for every i."""
        if len(images) != len(questions):
            raise ConfigError(f"{len(images)} images but {len(questions)} questions")
        pixels = [self.transform(image) for image in images]
        return self.answer_tensors(pixels, questions, top=top, with_attention=with_attention)

    @torch.no_grad()
    def answer_tensors(
        self,
        pixels: Sequence[torch.Tensor],
        questions: Sequence[str],
        *,
        top: int = 5,
        with_attention: bool = False,
    ) -> list[AnswerResult]:
        """As :meth:`answer`, for images already through ``transform`` (each (3, H, W))."""
        if len(pixels) != len(questions):
            raise ConfigError(f"{len(pixels)} images but {len(questions)} questions")
        items = [
            {"image": image, "image_id": i, "index": [i], "question_id": [i],
             "question": [torch.tensor(self.encode(question), dtype=torch.long)]}
            for i, (image, question) in enumerate(zip(pixels, questions))
        ]
        return self.answer_batch(collate_vqa(items, pad_id=self.vocab.pad_id), top=top, with_attention=with_attention)

    @torch.no_grad()
    def answer_records(
        self,
        records: Sequence[VQARecord],
        load_image: Callable[[str], Image.Image],
        *,
        batch_size: int = 256,
        max_bad_images: int = 100,
        progress: Callable[..., Iterable[Any]] | None = None,
        workers: int | None = 0,
    ) -> RecordAnswers:
        """The top answer to every record (about ``batch_size`` questions per batch, grouped by image).

        ``progress`` wraps the batch iterable (called as ``progress(iterable, total=, desc=)``).
        ``workers`` processes read the images (see :func:`~multimodal_rnn.datasets.image_reader.read_batches`;
        None: its default); the answers are the same for any number.

        Raises:
            InputError: more than ``max_bad_images`` images could not be read.
        """
        max_length = self.model.config.max_question_length
        dataset = VQADataset(records, self.transform, load_image,
                             lambda text: encode_question(self.vocab, text, max_length), max_bad_images=max_bad_images)
        images_per_batch = max(1, round(batch_size * len(dataset) / max(1, len(records))))
        batches = [range(start, min(start + images_per_batch, len(dataset)))
                   for start in range(0, len(dataset), images_per_batch)]
        read: Iterable[dict[str, Any]] = read_batches(
            dataset, dataset.reader, batches, partial(collate_vqa, pad_id=self.vocab.pad_id), workers=workers,
            pin_memory=self.device.type == "cuda")
        if progress is not None:
            read = progress(read, total=len(batches), desc="answering")
        answers: list[str | None] = [None] * len(records)
        for batch in read:
            if "image" in batch:
                for index, result in zip(batch["index"], self.answer_batch(batch, top=1)):
                    answers[index] = result.answers[0][0]
        return RecordAnswers(answers, dict(dataset.bad_images))

    @torch.no_grad()
    def answer_batch(self, batch: dict[str, Any], *, top: int = 1, with_attention: bool = False) -> list[AnswerResult]:
        """Answer a batch made by :func:`~multimodal_rnn.datasets.vqa.collate_vqa` (one result per question)."""
        if top < 1:
            raise ConfigError(f"top must be at least 1, got {top}")
        inputs = {key: batch[key].to(self.device) for key in ("image", "image_index", "question", "lengths")}
        outputs = self.model(inputs)
        logits = outputs["logits"].float()
        scores = torch.sigmoid(logits) if self.model.config.loss == "bce" else torch.softmax(logits, dim=1)
        best, index = scores.topk(min(top, scores.shape[1]), dim=1)  # (B, top)
        attention = outputs.get("attention") if with_attention else None
        grid_shape = self.model.encoder.grid_shape
        results = []
        for row in range(scores.shape[0]):
            answers = tuple((self.answers.answers[i], round(float(p), 6)) for i, p in zip(index[row].tolist(), best[row]))
            weights = attention[row].reshape(-1, *grid_shape).cpu() if attention is not None else None  # (G, h, w)
            results.append(AnswerResult(answers, weights))
        return results


def load_answerer(path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> Answerer | ExportedAnswerer:
    """The VQA task's predictor: an :class:`Answerer` for a checkpoint on ``device``, or for an export
    folder (``mmrnn export vqa``) an :class:`~multimodal_rnn.runtime.vqa.ExportedAnswerer` (onnxruntime, CPU)."""
    if is_export_folder(path):
        return ExportedAnswerer(path)
    return Answerer.from_checkpoint(path, device=device)
