"""VisDial v1.0 files: reading and checking dialogs and dense relevance annotations.

:func:`read_visdial` turns a VisDial v1.0 file into :class:`VisDialData`: the shared question
and answer string lists and one :class:`DialogRecord` per image (caption, questions, 100 answer
options per round as indices into the answer list, ground-truth answer and ``gt_index``). Every
round but the last of a test dialog (split name starting with ``test``) must have its answer and
``gt_index``; the last round of a test dialog may lack both. A dialog outside the test split has
exactly ``rounds_per_dialog`` rounds (10). Every problem is one :class:`DataFormatError` naming
the file, the dialog's image id and the round (1-based, as ``round_id`` in VisDial files).

Images are found as in :mod:`multimodal_rnn.datasets.vqa`: a file name pattern with
``{image_id}`` or a COCO-style images list (VisDial train mixes COCO train2014 and val2014
files, which a list covers; val and test use ``VisualDialog_{val,test}2018_{image_id:012d}.jpg``).

Batches for models (word ids, the torch Dataset, collation) are in
:mod:`multimodal_rnn.datasets.visdial_batches`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from multimodal_rnn.datasets.vqa import SHAPES_IMAGE_PATTERN, check_image_pattern, image_file_name, read_images_list
from multimodal_rnn.errors import DataFormatError
from multimodal_rnn.files import read_json, require_keys

DEFAULT_IMAGE_PATTERN = "VisualDialog_val2018_{image_id:012d}.jpg"
ROUNDS_PER_DIALOG = 10
NO_ANSWER = -1
"""``answer`` and ``gt_index`` value of a round whose answer is withheld (test split)."""

NUM_OPTIONS = 100
"""Answer options per VisDial round (a submission ranks as many; ``metrics.dialog`` has its own copy)."""
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
