"""Visual dialog as a service object: load weights once, rank answer options, chat about an image.

:class:`DialogAgent` ties a dialog model (:mod:`multimodal_rnn.tasks.dialog.models`), its vocabulary,
its text limits (:class:`~multimodal_rnn.datasets.visdial_batches.DialogTextConfig`), its candidate
answers and its image transform together; it never prints.

* :meth:`DialogAgent.rank` scores the 100 options of every round of a VisDial file and returns
  the submission entries (``{"image_id", "round_id", "ranks"}``, every round of every dialog).
* :meth:`DialogAgent.session` starts a :class:`DialogSession` about one image: each
  :meth:`DialogSession.ask` answers a question with the history of the earlier rounds (the
  caption, if given, then the questions and the answers given). A discriminative model picks
  the best of its candidate answers (the training answers stored in the checkpoint); a
  generative model writes its answer with beam search.
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
from multimodal_rnn.config import config_from_dict
from multimodal_rnn.datasets.image_reader import ImageReader, read_batches
from multimodal_rnn.datasets.visdial import VisDialData
from multimodal_rnn.datasets.visdial_batches import (
    DialogText,
    DialogTextConfig,
    VisDialDataset,
    collate_visdial,
    dialog_items,
)
from multimodal_rnn.decoding import beam_search
from multimodal_rnn.encoders.image import build_transform
from multimodal_rnn.errors import CheckpointError, ConfigError, InputError, MMRNNError
from multimodal_rnn.metrics.dialog import ranks_from_scores
from multimodal_rnn.tasks.dialog.models import MODELS, DialogModel, GenerativeDialogConfig
from multimodal_rnn.tasks.protocol import Predictor, ServingLimits
from multimodal_rnn.text.vocab import Vocabulary, pad_sequences, words


@dataclass(frozen=True)
class RankedDialogs:
    """Ranks of every round's options.

    Attributes:
        entries: submission entries ``{"image_id", "round_id", "ranks"}`` in dialog and round order.
        bad_images: unreadable image path -> the one-line reason (their dialogs have no entries).
    """

    entries: list[dict[str, Any]]
    bad_images: dict[str, str]


@dataclass(frozen=True)
class DialogTurn:
    """One answered round: the answer and, for a discriminative model, the best candidates with probabilities."""

    question: str
    answer: str
    alternatives: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class DialogQuery:
    """A dialog whose last question awaits an answer.

    Attributes:
        image: (3, H, W) pixels from the agent's ``transform``.
        caption: the caption that starts the history ("" for none).
        questions: every question so far, the one to answer last.
        answers: the answers to all but the last question.
    """

    image: torch.Tensor
    caption: str
    questions: tuple[str, ...]
    answers: tuple[str, ...]


class DialogAgent(Predictor):
    """A dialog model ready for inference (see the module docstring); its device is its model's."""

    model: DialogModel

    def __init__(
        self,
        model: DialogModel,
        vocab: Vocabulary,
        text_config: DialogTextConfig,
        candidates: Sequence[str],
        transform: Callable[[Image.Image], torch.Tensor],
        *,
        checkpoint: Checkpoint | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__(model, checkpoint=checkpoint, device=device)
        self.vocab = vocab
        self.text = DialogText(vocab, text_config)
        self.candidates = tuple(candidates)
        self.transform = transform
        self._candidate_vectors: torch.Tensor | None = None

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> "DialogAgent":
        """Load a dialog checkpoint (.safetensors written by the dialog trainer)."""
        model, checkpoint, vocab = load_with_vocabulary(path, registry=MODELS, task="dialog", model_class=DialogModel,
                                                        size_field="num_words")
        try:
            text_config = config_from_dict(DialogTextConfig, checkpoint.extra.get("text", {}), where=f"{path}: text")
        except MMRNNError as exc:
            raise CheckpointError(f"{path}: {exc}") from None
        if model.decoder == "discriminative" and not checkpoint.answers:
            raise CheckpointError(f"{path}: discriminative dialog checkpoint without candidate answers")
        return cls(model, vocab, text_config, checkpoint.answers or (), build_transform(model.config.encoder),
                   checkpoint=checkpoint, device=device)

    def _to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {key: value.to(self.device) if isinstance(value, torch.Tensor) else value for key, value in batch.items()}

    @torch.no_grad()
    def scores(self, batch: dict[str, Any]) -> torch.Tensor:
        """Option scores (D, R, 100) of a :func:`~multimodal_rnn.datasets.visdial_batches.collate_visdial`
        batch, on CPU."""
        return self.model(self._to_device({k: v for k, v in batch.items() if k != "gt_index"}))["scores"].float().cpu()

    def rank(
        self,
        data: VisDialData,
        load_image: Callable[[str], Image.Image],
        *,
        batch_size: int = 32,
        max_bad_images: int = 100,
        progress: Callable[..., Iterable[Any]] | None = None,
        workers: int | None = 0,
    ) -> RankedDialogs:
        """Rank the options of every round of ``data`` (``batch_size`` dialogs per batch).

        Dialogs are batched with others of as many rounds (fewer padded rounds to compute); the
        entries and ``bad_images`` still follow the order of ``data``. Past ``max_bad_images`` the
        error names the unreadable image met last in that batching order.

        ``progress`` wraps the batch iterable (called as ``progress(iterable, total=, desc=)``).
        ``workers`` processes read the images (see :func:`~multimodal_rnn.datasets.image_reader.read_batches`;
        None: its default); the ranks are the same for any number.

        Raises:
            InputError: more than ``max_bad_images`` images could not be read.
        """
        images = ImageReader(load_image, self.transform, max_bad_images=max_bad_images)
        dataset = VisDialDataset(data, images, self.text)
        order = sorted(range(len(dataset)), key=lambda i: data.dialogs[i].num_rounds)
        batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
        read: Iterable[dict[str, Any]] = read_batches(
            dataset, images, batches, partial(collate_visdial, pad_id=self.vocab.pad_id), workers=workers,
            pin_memory=self.device.type == "cuda")
        if progress is not None:
            read = progress(read, total=len(batches), desc="ranking")
        by_dialog: dict[int, list[dict[str, Any]]] = {}
        for batch in read:
            if "image" not in batch:
                continue
            scores = self.scores(batch)
            for d, (index, image_id) in enumerate(zip(batch["index"], batch["image_id"])):
                by_dialog[index] = [{"image_id": image_id, "round_id": r + 1,
                                     "ranks": ranks_from_scores(scores[d, r].tolist())}
                                    for r in range(int(batch["num_rounds"][d]))]
        entries = [entry for index in sorted(by_dialog) for entry in by_dialog[index]]
        paths = dict.fromkeys(dialog.image_path for dialog in data.dialogs)
        bad_images = {path: images.bad_images[path] for path in paths if path in images.bad_images}
        return RankedDialogs(entries, bad_images)

    def session(self, image: Image.Image, caption: str = "", *,
                max_history_rounds: int = ServingLimits.max_history_rounds) -> "DialogSession":
        """A new dialog about an RGB PIL image, with an optional caption starting the history; the
        session keeps the latest ``max_history_rounds`` rounds (see :class:`DialogSession`)."""
        return DialogSession(self, image, caption, max_history_rounds=max_history_rounds)

    @torch.no_grad()
    def answer_last(self, dialogs: Sequence[DialogQuery], *, top: int = 5, beam_size: int = 3) -> list[DialogTurn]:
        """Answer the last question of every dialog in one forward pass.

        Each answer is what a :class:`DialogSession` about the same image would give after
        asking the earlier questions and getting the earlier answers. A discriminative model
        ranks its candidate answers (``top`` alternatives with probabilities); a generative
        model decodes every dialog in one batched beam search of width ``beam_size``.

        Raises:
            InputError: a last question has no word.
        """
        items = []
        for index, dialog in enumerate(dialogs):
            if not words(dialog.questions[-1]):
                raise InputError("the question is empty (no words)")
            answers: list[str | None] = [*dialog.answers, None]
            items.append({"image": dialog.image, "image_id": index, "index": index,
                          **dialog_items(dialog.caption, list(dialog.questions), answers, self.text)})
        batch = self._to_device(collate_visdial(items, pad_id=self.vocab.pad_id))
        rounds = self.model.encode(batch)  # (D, R, H)
        last = batch["num_rounds"] - 1  # (D,)
        encoded = rounds[torch.arange(rounds.shape[0], device=rounds.device), last]  # (D, H)
        if isinstance(self.model.config, GenerativeDialogConfig):
            output = beam_search(self.model.step, *self.model.start(encoded), batch_size=len(dialogs),
                                 bos_id=self.vocab.bos_id, eos_id=self.vocab.eos_id, beam_size=beam_size,
                                 max_length=self.model.config.max_answer_length, pad_id=self.vocab.pad_id)
            return [DialogTurn(dialog.questions[-1], self.vocab.decode_text(sequence))
                    for dialog, sequence in zip(dialogs, output.sequences)]
        probabilities = torch.softmax(encoded @ self._candidates().T, dim=1)  # (D, C)
        turns = []
        for dialog, row in zip(dialogs, probabilities):
            best, index = row.topk(min(max(top, 1), row.shape[0]))
            alternatives = tuple((self.candidates[i], round(float(p), 6)) for i, p in zip(index.tolist(), best))
            turns.append(DialogTurn(dialog.questions[-1], alternatives[0][0], alternatives))
        return turns

    def _candidates(self) -> torch.Tensor:
        """The candidate answers' vectors (C, H), computed once per device the model is on."""
        device = self.device
        if self._candidate_vectors is None or self._candidate_vectors.device != device:
            if not self.candidates:
                raise ConfigError("this dialog model has no candidate answers")
            words, lengths = pad_sequences([self.text.answer(answer) for answer in self.candidates], self.vocab.pad_id)
            self._candidate_vectors = self.model.encode_answers(words.to(device), lengths.to(device))
        return self._candidate_vectors


class DialogSession:
    """A dialog about one image; every :meth:`ask` sees the caption and the earlier questions and
    answers, at most ``max_history_rounds`` of them (the latest; by default the server's bound,
    :attr:`~multimodal_rnn.tasks.protocol.ServingLimits.max_history_rounds` = 20), so that a long
    session costs the same per question as a short one."""

    def __init__(self, agent: DialogAgent, image: Image.Image, caption: str = "", *,
                 max_history_rounds: int = ServingLimits.max_history_rounds) -> None:
        if max_history_rounds < 0:
            raise ConfigError(f"max_history_rounds must be >= 0, got {max_history_rounds}")
        self.agent = agent
        self.caption = caption
        self.image = agent.transform(image)
        self.max_history_rounds = max_history_rounds
        self.questions: list[str] = []
        self.answers: list[str] = []

    def ask(self, question: str, *, top: int = 5, beam_size: int = 3) -> DialogTurn:
        """Answer ``question``; the question and the answer join the history (the oldest round
        leaves it when it is full).

        Raises:
            InputError: the question has no word.
        """
        query = DialogQuery(self.image, self.caption, (*self.questions, question), tuple(self.answers))
        turn = self.agent.answer_last([query], top=top, beam_size=beam_size)[0]
        self.questions.append(question)
        self.answers.append(turn.answer)
        if len(self.questions) > self.max_history_rounds:
            del self.questions[0], self.answers[0]
        return turn
