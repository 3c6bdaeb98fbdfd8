"""Visual dialog datasets: VisDial v1.0 JSON, dense relevance annotations, training batches.

:func:`read_visdial` turns a VisDial v1.0 file (see docs/formats.md) into
:class:`VisDialData`: the shared question and answer string lists and one
:class:`DialogRecord` per image (caption, questions, 100 answer options per round as indices
into the answer list, ground-truth answer and ``gt_index``). Every round but the last of a test
dialog (split name starting with ``test``) must have its answer and ``gt_index``; the last
round of a test dialog may lack both. A dialog outside the test split has exactly
``rounds_per_dialog`` rounds (10). Every problem is one :class:`DataFormatError` naming the
file, the dialog's image id and the round (1-based, as ``round_id`` in VisDial files).

Images are found as in :mod:`multimodal_rnn.datasets.vqa`: a file name pattern with
``{image_id}`` or a COCO-style images list (VisDial train mixes COCO train2014 and val2014
files, which a list covers; val and test use ``VisualDialog_{val,test}2018_{image_id:012d}.jpg``).

:class:`VisDialDataset` yields one item per dialog (all its rounds, so an image is encoded once
per batch and hierarchical encoders see the rounds in order); :func:`collate_visdial` pads
dialogs into ``(D, R, ...)`` tensors and stores each distinct answer of the batch once
(``options`` index its rows), so the 100 options of every round cost one encoding per distinct
answer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from multimodal_rnn.datasets.vqa import SHAPES_IMAGE_PATTERN, check_image_pattern, image_file_name, read_images_list
from multimodal_rnn.errors import ConfigError, DataFormatError, InputError
from multimodal_rnn.files import read_json, require_keys
from multimodal_rnn.text.vocab import Vocabulary, pad_sequences, tokenize

DEFAULT_IMAGE_PATTERN = "VisualDialog_val2018_{image_id:012d}.jpg"
ROUNDS_PER_DIALOG = 10
NO_ANSWER = -1
"""``answer`` and ``gt_index`` value of a round whose answer is withheld (test split)."""

NUM_OPTIONS = 100
"""Answer options per VisDial round (the submission format of :mod:`multimodal_rnn.metrics.dialog` ranks as many)."""
RoundKey = tuple[int, int]
"""``(image_id, round_id)``, round_id 1-based as in VisDial files."""


@dataclass(frozen=True, eq=False)
class DialogRecord:
    """One image with its caption and dialog rounds (R rounds, round r is ``round_id`` r + 1).

    Attributes:
        questions: (R,) indices into :attr:`VisDialData.questions`.
        answers: (R,) indices into :attr:`VisDialData.answers`; :data:`NO_ANSWER` when withheld.
        options: (R, 100) answer indices offered in each round.
        gt_index: (R,) position of the answer among the options; :data:`NO_ANSWER` when withheld.
    """

    image_id: int
    caption: str
    image_path: str
    questions: np.ndarray
    answers: np.ndarray
    options: np.ndarray
    gt_index: np.ndarray

    @property
    def num_rounds(self) -> int:
        return int(self.questions.shape[0])


@dataclass(frozen=True, eq=False)
class VisDialData:
    """A VisDial file: the split name, the shared strings and the dialogs in file order."""

    split: str
    questions: tuple[str, ...]
    answers: tuple[str, ...]
    dialogs: list[DialogRecord]

    def question(self, dialog: DialogRecord, round_index: int) -> str:
        """The text of round ``round_index`` (0-based)'s question."""
        return self.questions[int(dialog.questions[round_index])]

    def options(self, dialog: DialogRecord, round_index: int) -> list[str]:
        """The 100 answer option texts of round ``round_index`` (0-based)."""
        return [self.answers[int(i)] for i in dialog.options[round_index]]

    def answer(self, dialog: DialogRecord, round_index: int) -> str | None:
        """The ground-truth answer text of a round, None when withheld."""
        index = int(dialog.answers[round_index])
        return None if index == NO_ANSWER else self.answers[index]

    def gt_indices(self) -> dict[RoundKey, int | None]:
        """``(image_id, round_id) -> gt_index`` (None when withheld) of every round, for evaluation."""
        return {
            (dialog.image_id, r + 1): None if int(g) == NO_ANSWER else int(g)
            for dialog in self.dialogs
            for r, g in enumerate(dialog.gt_index)
        }


@dataclass(frozen=True)
class VisDialSource:
    """Where one split lives: the VisDial file and how to find its images (see :mod:`.vqa`'s ``VQASource``)."""

    dialogs: Path
    images_dir: Path
    image_pattern: str = DEFAULT_IMAGE_PATTERN
    images_list: Path | None = None

    def read(self) -> VisDialData:
        """The split's dialogs (see :func:`read_visdial`)."""
        return read_visdial(self.dialogs, self.images_dir, image_pattern=self.image_pattern,
                            images_list=self.images_list)


def shapes_source(shapes_dir: str | os.PathLike[str], split: str) -> VisDialSource:
    """The VisDial file of one split of a shapes world made by ``mmrnn data shapes``."""
    root = Path(shapes_dir)
    return VisDialSource(dialogs=root / f"visdial_{split}.json", images_dir=root / "images" / split,
                         image_pattern=SHAPES_IMAGE_PATTERN.replace("{split}", split))


def is_test_split(split: str) -> bool:
    """Whether a split name (``test``, ``test2018``) is a test split, whose last rounds are unanswered."""
    return split.lower().startswith("test")


def read_visdial(
    path: str | os.PathLike[str],
    images_dir: str | os.PathLike[str] = ".",
    *,
    image_pattern: str = DEFAULT_IMAGE_PATTERN,
    images_list: str | os.PathLike[str] | None = None,
    rounds_per_dialog: int = ROUNDS_PER_DIALOG,
) -> VisDialData:
    """Read and check a VisDial v1.0 file (the split comes from its ``split`` field).

    Raises:
        DataFormatError: the first problem, naming the file, the dialog's image id and the round.
        ConfigError: an image pattern without ``{image_id}``.
    """
    data = read_json(path)
    require_keys(data, ("data",), where=str(path))
    content = require_keys(data["data"], ("questions", "answers", "dialogs"), where=f"{path}: data")
    split = str(data.get("split", ""))
    for key in ("questions", "answers"):
        if not isinstance(content[key], list) or not all(isinstance(text, str) for text in content[key]):
            raise DataFormatError(f"{path}: data.{key} must be a list of strings")
    if not isinstance(content["dialogs"], list):
        raise DataFormatError(f"{path}: data.dialogs must be a list")
    if images_list is None:
        check_image_pattern(image_pattern)
        files = None
    else:
        files = read_images_list(images_list)
    reader = _DialogReader(str(path), len(content["questions"]), len(content["answers"]), is_test_split(split),
                           rounds_per_dialog)
    dialogs: list[DialogRecord] = []
    seen: set[int] = set()
    for position, entry in enumerate(content["dialogs"]):
        require_keys(entry, ("image_id", "caption", "dialog"), where=f"{path}: dialogs[{position}]")
        image_id = entry["image_id"]
        if not isinstance(image_id, int) or isinstance(image_id, bool):
            raise DataFormatError(f"{path}: dialogs[{position}]: image_id must be an integer, got {image_id!r}")
        if image_id in seen:
            raise DataFormatError(f"{path}: dialog of image {image_id} is listed twice")
        seen.add(image_id)
        name = image_file_name(image_id, image_pattern, files)
        if name is None:
            raise DataFormatError(f"{path}: dialog of image {image_id}: the image is not in {images_list}")
        image_path = os.path.join(os.fspath(images_dir), name)
        dialogs.append(reader.dialog(entry, image_id, image_path))
    return VisDialData(split, tuple(content["questions"]), tuple(content["answers"]), dialogs)


class _DialogReader:
    """Checks one dialog entry at a time and packs it into a :class:`DialogRecord`."""

    def __init__(self, path: str, num_questions: int, num_answers: int, test: bool, rounds_per_dialog: int) -> None:
        self.path, self.num_questions, self.num_answers = path, num_questions, num_answers
        self.test, self.rounds_per_dialog = test, rounds_per_dialog

    def dialog(self, entry: dict[str, Any], image_id: int, image_path: str) -> DialogRecord:
        where = f"{self.path}: dialog of image {image_id}"
        if not isinstance(entry["caption"], str):
            raise DataFormatError(f"{where}: caption is not a string")
        rounds = entry["dialog"]
        if not isinstance(rounds, list) or not rounds:
            raise DataFormatError(f"{where}: 'dialog' must be a non-empty list of rounds")
        if len(rounds) > self.rounds_per_dialog or (not self.test and len(rounds) < self.rounds_per_dialog):
            raise DataFormatError(f"{where}, round {min(len(rounds), self.rounds_per_dialog) + 1}: "
                                  f"expected {self.rounds_per_dialog} rounds, found {len(rounds)}")
        count = len(rounds)
        questions = np.empty(count, dtype=np.int64)
        answers = np.empty(count, dtype=np.int64)
        gt_index = np.empty(count, dtype=np.int64)
        options = np.empty((count, NUM_OPTIONS), dtype=np.int64)
        for r, turn in enumerate(rounds):
            here = f"{where}, round {r + 1}"
            if not isinstance(turn, dict):
                raise DataFormatError(f"{here}: expected a JSON object, got {type(turn).__name__}")
            for key in ("question", "answer_options"):
                if key not in turn:
                    raise DataFormatError(f"{here}: missing {key!r}")
            questions[r] = self._index(turn["question"], self.num_questions, here, "question")
            listed = turn["answer_options"]
            if not isinstance(listed, list) or len(listed) != NUM_OPTIONS:
                raise DataFormatError(f"{here}: 'answer_options' must list {NUM_OPTIONS} answer indices")
            row = np.asarray(listed)
            if row.dtype.kind not in "iu":
                raise DataFormatError(f"{here}: 'answer_options' must be integer answer indices")
            outside = np.flatnonzero((row < 0) | (row >= self.num_answers))
            if outside.size:
                k = int(outside[0])
                raise DataFormatError(f"{here}: answer option {k} is {listed[k]}, out of range (0..{self.num_answers - 1})")
            options[r] = row
            has_answer, has_gt = "answer" in turn, "gt_index" in turn
            if not has_answer and not has_gt and self.test and r == count - 1:
                answers[r] = gt_index[r] = NO_ANSWER
                continue
            if not has_gt:
                allowed = "only the last round of a test dialog may lack it"
                raise DataFormatError(f"{here}: missing 'gt_index' ({allowed})")
            if not has_answer:
                raise DataFormatError(f"{here}: missing 'answer'")
            answers[r] = self._index(turn["answer"], self.num_answers, here, "answer")
            gt_index[r] = self._index(turn["gt_index"], NUM_OPTIONS, here, "gt_index")
            if options[r, gt_index[r]] != answers[r]:
                raise DataFormatError(f"{here}: answer option {gt_index[r]} (gt_index) is not the answer")
        return DialogRecord(image_id, entry["caption"], image_path, questions, answers, options, gt_index)

    @staticmethod
    def _index(value: Any, size: int, where: str, what: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise DataFormatError(f"{where}: {what} must be an integer index, got {value!r}")
        if not 0 <= value < size:
            raise DataFormatError(f"{where}: {what} {value} is out of range (0..{size - 1})")
        return value


def read_dense_annotations(path: str | os.PathLike[str]) -> dict[RoundKey, list[float]]:
    """``visdial_val_dense_annotations.json`` -> ``{(image_id, round_id): 100 relevances}``.

    Raises:
        DataFormatError: a malformed entry (naming its image and round), a repeated dialog, a
            relevance list that is not 100 numbers >= 0, or one without any relevant option.
    """
    data = read_json(path)
    if not isinstance(data, list):
        raise DataFormatError(f"{path}: expected a JSON list of {{image_id, round_id, gt_relevance}}")
    relevance: dict[RoundKey, list[float]] = {}
    for position, entry in enumerate(data):
        require_keys(entry, ("image_id", "round_id", "gt_relevance"), where=f"{path}: entry {position}")
        image_id, round_id, values = entry["image_id"], entry["round_id"], entry["gt_relevance"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (image_id, round_id)) or round_id < 1:
            raise DataFormatError(f"{path}: entry {position}: image_id and round_id (>= 1) must be integers")
        where = f"{path}: dialog of image {image_id}, round {round_id}"
        if (image_id, round_id) in relevance:
            raise DataFormatError(f"{where}: annotated twice")
        numbers = isinstance(values, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if not numbers or len(values) != NUM_OPTIONS or min(values) < 0:
            raise DataFormatError(f"{where}: 'gt_relevance' must be {NUM_OPTIONS} numbers >= 0")
        if max(values) <= 0:
            raise DataFormatError(f"{where}: no option has a relevance > 0 (NDCG is undefined)")
        relevance[(image_id, round_id)] = [float(v) for v in values]
    return relevance


def check_dense_rounds(data: VisDialData, relevance: dict[RoundKey, list[float]], *, where: str) -> None:
    """Refuse dense annotations for a round that the dialogs do not have (DataFormatError)."""
    rounds = {(d.image_id, r + 1) for d in data.dialogs for r in range(d.num_rounds)}
    for image_id, round_id in relevance:
        if (image_id, round_id) not in rounds:
            raise DataFormatError(f"{where}: dialog of image {image_id}, round {round_id}: not a round of the dialogs")


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

    Items are dicts: ``image`` (3, H, W) from ``transform``, ``image_id``, ``index`` (dialog
    position), the word id lists of :func:`dialog_items`, ``options`` (R, 100) and ``gt_index``
    (R,) LongTensors (answer indices into the data's answer list; :data:`NO_ANSWER` where
    withheld) and ``answer_words`` ``{answer index: ids with <bos>/<eos>}`` of its options.
    An image that cannot be read yields ``None`` (dropped by :func:`collate_visdial`), is recorded
    in ``bad_images`` and, past ``max_bad_images``, raises an :class:`InputError`.
    """

    def __init__(
        self,
        data: VisDialData,
        transform: Callable[[Image.Image], torch.Tensor],
        load_image: Callable[[str], Image.Image],
        text: DialogText,
        *,
        max_bad_images: int = 100,
    ) -> None:
        self.data = data
        self.transform = transform
        self.load_image = load_image
        self.text = text
        self.max_bad_images = max_bad_images
        self.bad_images: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.data.dialogs)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        dialog = self.data.dialogs[index]
        try:
            image = self.transform(self.load_image(dialog.image_path))
        except InputError as exc:
            self.bad_images[dialog.image_path] = str(exc)
            if len(self.bad_images) > self.max_bad_images:
                raise InputError(f"more than {self.max_bad_images} unreadable images; last: {exc}") from None
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
