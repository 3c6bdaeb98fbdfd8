"""Visual dialog batches: dialog text to word ids, the torch Dataset, and collation.

:class:`DialogText` turns questions, answers and history into word ids within the limits of a
:class:`DialogTextConfig` (the same at training and inference; checkpoints store it);
:func:`dialog_items` builds what every model reads for one dialog's rounds.

:class:`VisDialDataset` yields one item per dialog of a :class:`~multimodal_rnn.datasets.visdial.VisDialData`
(all its rounds, so an image is encoded once per batch and hierarchical encoders see the rounds
in order); :func:`collate_visdial` pads dialogs into ``(D, R, ...)`` tensors and stores each
distinct answer of the batch once (``options`` index its rows), so the 100 options of every round
cost one encoding per distinct answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from multimodal_rnn.datasets.image_reader import ImageReader
from multimodal_rnn.datasets.visdial import NO_ANSWER, NUM_OPTIONS, VisDialData
from multimodal_rnn.errors import ConfigError
from multimodal_rnn.text.vocab import Vocabulary, pad_sequences, tokenize


@dataclass(frozen=True, kw_only=True)
class DialogTextConfig:
    """How dialog text becomes word ids (the same at training and inference).

    Attributes:
        max_question_length: questions keep their first this-many words.
        max_answer_length: answers keep their first this-many words (``<bos>``/``<eos>`` added).
        max_fact_length: the caption and each question-answer pair keep this many words.
        max_history_length: the concatenated history keeps its last this-many words.
    """

    max_question_length: int = 20
    max_answer_length: int = 20
    max_fact_length: int = 40
    max_history_length: int = 120

    def __post_init__(self) -> None:
        for name in ("max_question_length", "max_answer_length", "max_fact_length", "max_history_length"):
            if getattr(self, name) < 1:
                raise ConfigError(f"DialogTextConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.max_answer_length < 3:
            raise ConfigError("DialogTextConfig.max_answer_length must leave room for <bos>, a word and <eos> (>= 3)")


class DialogText:
    """Tokenizes dialog text with a vocabulary and :class:`DialogTextConfig` limits (cached per string)."""

    def __init__(self, vocab: Vocabulary, config: DialogTextConfig = DialogTextConfig()) -> None:
        self.vocab, self.config = vocab, config
        self._words: dict[str, list[int]] = {}

    def words(self, text: str) -> list[int]:
        """Word ids of ``text`` without special tokens (unknown words -> ``<unk>``)."""
        if text not in self._words:
            self._words[text] = self.vocab.encode(tokenize(text), add_bos=False, add_eos=False)
        return self._words[text]

    def question(self, text: str) -> list[int]:
        """The first ``max_question_length`` words; ``[<unk>]`` for a text without words."""
        return self.words(text)[: self.config.max_question_length] or [self.vocab.unk_id]

    def answer(self, text: str) -> list[int]:
        """``<bos>`` + the first ``max_answer_length - 2`` words + ``<eos>``."""
        words = self.words(text)[: self.config.max_answer_length - 2]
        return [self.vocab.bos_id, *words, self.vocab.eos_id]

    def fact(self, *texts: str) -> list[int]:
        """The words of ``texts`` one after the other, cut to ``max_fact_length``; at least ``[<unk>]``."""
        words = [word for text in texts for word in self.words(text)]
        return words[: self.config.max_fact_length] or [self.vocab.unk_id]

    def history(self, facts: Sequence[list[int]]) -> list[int]:
        """The facts concatenated, keeping the last ``max_history_length`` words (the most recent)."""
        words = [word for fact in facts for word in fact]
        return words[-self.config.max_history_length:]


def dialog_items(
    caption: str, questions: Sequence[str], answers: Sequence[str | None], text: DialogText
) -> dict[str, list[list[int]]]:
    """The word ids of one dialog's rounds: what every model input is built from.

    Round r (0-based) reads ``question[r]``, ``history[r]`` (the caption and the question-answer
    pairs of rounds before r, concatenated) and ``facts[:r + 1]`` (``facts[0]`` the caption,
    ``facts[k]`` the pair of round k - 1 for k >= 1).

    Returns:
        ``{"question": [R lists], "history": [R lists], "facts": [R lists]}``.
    """
    facts = [text.fact(caption)]
    for question, answer in zip(questions[:-1], answers[:-1]):
        facts.append(text.fact(question, answer or ""))
    return {
        "question": [text.question(question) for question in questions],
        "history": [text.history(facts[: r + 1]) for r in range(len(questions))],
        "facts": facts,
    }


class VisDialDataset(Dataset):
    """One item per dialog for training and evaluation.

    Items are dicts: ``image`` (3, H, W) from ``images``, ``image_id``, ``index`` (dialog
    position), the word id lists of :func:`dialog_items`, ``options`` (R, 100) and ``gt_index``
    (R,) LongTensors (answer indices into the data's answer list; :data:`NO_ANSWER` where
    withheld) and ``answer_words`` ``{answer index: ids with <bos>/<eos>}`` of its options.
    An image that cannot be read yields ``None`` (dropped by :func:`collate_visdial`) under the
    :class:`~multimodal_rnn.datasets.image_reader.ImageReader` policy (``images.bad_images``).
    """

    def __init__(self, data: VisDialData, images: ImageReader, text: DialogText) -> None:
        self.data = data
        self.images = images
        self.text = text

    def __len__(self) -> int:
        return len(self.data.dialogs)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        dialog = self.data.dialogs[index]
        image = self.images.read(dialog.image_path)
        if image is None:
            return None
        rounds = range(dialog.num_rounds)
        words = dialog_items(dialog.caption, [self.data.question(dialog, r) for r in rounds],
                             [self.data.answer(dialog, r) for r in rounds], self.text)
        answer_words = {int(a): self.text.answer(self.data.answers[int(a)]) for a in np.unique(dialog.options)}
        return {"image": image, "image_id": dialog.image_id, "index": index, **words,
                "options": torch.from_numpy(dialog.options.copy()), "gt_index": torch.from_numpy(dialog.gt_index.copy()),
                "answer_words": answer_words}


def collate_visdial(items: Sequence[dict[str, Any] | None], *, pad_id: int = 0) -> dict[str, Any]:
    """Batch :class:`VisDialDataset` items (D dialogs, up to R rounds); ``None`` items are dropped.

    Returns a dict with ``image`` (D, 3, H, W); ``question`` (D, R, Tq) and ``question_lengths``
    (D, R); ``history`` (D, R, Th) and ``history_lengths``; ``facts`` (D, R, Tf) and
    ``fact_lengths`` (D, R) (round r reads facts 0..r); ``options`` (D, R, 100), rows of
    ``answers`` (U, Ta) / ``answer_lengths`` (U,), the batch's distinct answers (with
    ``<bos>``/``<eos>``); ``gt_index`` (D, R), -1 where unknown or padded; ``round_mask`` (D, R),
    True on real rounds; ``num_rounds`` (D,); lists ``image_id`` and ``index``. Padded rounds
    hold one ``pad_id`` word. Items without ``options`` (e.g. a live chat) give a batch without
    ``options``, ``answers``, ``answer_lengths`` and ``gt_index``. ``num_skipped`` counts dropped items; a batch without readable
    items holds only that.
    """
    kept = [item for item in items if item is not None]
    batch: dict[str, Any] = {"num_skipped": len(items) - len(kept)}
    if not kept:
        return batch
    dialogs, rounds = len(kept), max(len(item["question"]) for item in kept)
    for key in ("question", "history", "facts"):
        sequences = [item[key][r] if r < len(item[key]) else [pad_id] for item in kept for r in range(rounds)]
        ids, lengths = pad_sequences(sequences, pad_id)  # (D * R, T), (D * R,)
        prefix = "fact" if key == "facts" else key
        batch[key] = ids.view(dialogs, rounds, -1)  # (D, R, T)
        batch[f"{prefix}_lengths"] = lengths.view(dialogs, rounds)
    num_rounds = torch.tensor([len(item["question"]) for item in kept], dtype=torch.long)
    batch.update({
        "image": torch.stack([item["image"] for item in kept]), "num_rounds": num_rounds,
        "round_mask": torch.arange(rounds)[None, :] < num_rounds[:, None],
        "image_id": [item["image_id"] for item in kept], "index": [item["index"] for item in kept],
    })
    if "options" in kept[0]:
        batch.update(_collate_options(kept, rounds, pad_id))
    return batch


def _collate_options(kept: Sequence[dict[str, Any]], rounds: int, pad_id: int) -> dict[str, torch.Tensor]:
    """``options`` (D, R, 100) rows of ``answers`` (U, Ta) / ``answer_lengths``, and ``gt_index`` (D, R)."""
    rows: dict[int, int] = {}
    answer_words: list[list[int]] = []
    for item in kept:
        for answer, words in item["answer_words"].items():
            if answer not in rows:
                rows[answer] = len(answer_words)
                answer_words.append(words)
    table = torch.full((max(rows) + 1,), -1, dtype=torch.long)
    table[list(rows)] = torch.arange(len(rows))
    options = torch.zeros(len(kept), rounds, NUM_OPTIONS, dtype=torch.long)
    gt_index = torch.full((len(kept), rounds), NO_ANSWER, dtype=torch.long)
    for d, item in enumerate(kept):
        count = len(item["question"])
        options[d, :count] = table[item["options"]]
        gt_index[d, :count] = item["gt_index"]
    answers, answer_lengths = pad_sequences(answer_words, pad_id)
    return {"options": options, "gt_index": gt_index, "answers": answers, "answer_lengths": answer_lengths}
