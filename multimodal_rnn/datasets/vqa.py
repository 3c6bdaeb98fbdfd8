"""VQA datasets: VQA v1/v2 questions + annotations JSON, answer vocabulary, soft-score targets.

:func:`read_vqa` turns the files users bring (see docs/formats.md) into
:class:`VQARecord` lists: one per question, with its raw human answers (none when no
annotations are given, e.g. for test-dev prediction). Images are found either through a file
name pattern with ``{image_id}`` (default COCO naming ``COCO_val2014_{image_id:012d}.jpg``; the
shapes world uses ``shapes_{split}_{image_id:012d}.png``) or through a COCO-style images list
(a JSON file with ``"images": [{"id", "file_name"}]``, e.g. a COCO captions or instances file).

:class:`AnswerVocabulary` holds the K most frequent answers of the training split after the
official VQA normalization (:func:`multimodal_rnn.text.answers.process_answer`). Each entry is
predicted under its most frequent raw spelling, because the official evaluation compares the
raw strings when all ten human answers agree (``"t-shirt"`` x10 needs ``"t-shirt"``, not its
normalized form ``"t shirt"``); when they differ it normalizes both sides, so the raw spelling
matches too. Targets are the soft scores min(1, 0.3 * count) of the answers in the vocabulary.
A question none of whose answers is in the vocabulary has an all-zero target: training skips
it (:func:`trainable_records`), evaluation and prediction keep it (it can only score 0).

:class:`VQADataset` yields one item per image with all its questions (or one per question);
:func:`collate_vqa` stacks each distinct image once and maps questions to images with
``image_index``, so an image asked five questions is encoded once per batch.
"""

from __future__ import annotations

import os
import string
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch
from PIL import Image
from torch.utils.data import Dataset

from multimodal_rnn.datasets.image_reader import ImageReader
from multimodal_rnn.errors import ConfigError, DataFormatError, InputError
from multimodal_rnn.files import read_json, require_keys
from multimodal_rnn.text.answers import process_answer, soft_scores
from multimodal_rnn.text.vocab import Vocabulary, pad_sequences, tokenize

DEFAULT_IMAGE_PATTERN = "COCO_val2014_{image_id:012d}.jpg"
SHAPES_IMAGE_PATTERN = "shapes_{split}_{image_id:012d}.png"


@dataclass(frozen=True)
class VQARecord:
    """One question about one image.

    Attributes:
        answers: the raw human answers (ten in VQA v1/v2); empty without annotations.
        question_type, answer_type: the annotation's types ("" without annotations).
    """

    question_id: int
    image_id: int
    question: str
    image_path: str
    answers: tuple[str, ...] = ()
    question_type: str = ""
    answer_type: str = ""


@dataclass(frozen=True)
class VQASource:
    """Where one split lives: questions, optional annotations, and how to find its images.

    Attributes:
        images_dir: folder the image file names are relative to.
        image_pattern: file name with an ``{image_id}`` field (format spec allowed, e.g.
            ``{image_id:012d}``); ignored when ``images_list`` is given.
        images_list: a COCO-style JSON file whose ``images`` map ``id`` to ``file_name``.
    """

    questions: Path
    images_dir: Path
    annotations: Path | None = None
    image_pattern: str = DEFAULT_IMAGE_PATTERN
    images_list: Path | None = None

    def read(self) -> list[VQARecord]:
        """The split's records (see :func:`read_vqa`)."""
        return read_vqa(self.questions, self.annotations, self.images_dir, image_pattern=self.image_pattern,
                        images_list=self.images_list)


def shapes_source(shapes_dir: str | os.PathLike[str], split: str) -> VQASource:
    """The VQA files of one split of a shapes world made by ``mmrnn data shapes``."""
    root = Path(shapes_dir)
    return VQASource(
        questions=root / f"vqa_questions_{split}.json", annotations=root / f"vqa_annotations_{split}.json",
        images_dir=root / "images" / split, image_pattern=SHAPES_IMAGE_PATTERN.replace("{split}", split),
    )


def check_image_pattern(pattern: str) -> None:
    """Refuse a pattern without an ``{image_id}`` field or with any other field (ConfigError)."""
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None]
        pattern.format(image_id=1)
    except (ValueError, KeyError, IndexError) as exc:
        raise ConfigError(f"image pattern {pattern!r}: {exc}; expected e.g. {DEFAULT_IMAGE_PATTERN!r}") from None
    if fields != ["image_id"]:
        raise ConfigError(f"image pattern {pattern!r}: needs exactly one {{image_id}} field, e.g. {DEFAULT_IMAGE_PATTERN!r}")


def read_images_list(path: str | os.PathLike[str]) -> dict[int, str]:
    """``{image id: file_name}`` from a COCO-style JSON file with an ``images`` list."""
    data = read_json(path)
    require_keys(data, ("images",), where=str(path))
    files: dict[int, str] = {}
    for index, image in enumerate(data["images"]):
        require_keys(image, ("id", "file_name"), where=f"{path}: images[{index}]")
        files[int(image["id"])] = str(image["file_name"])
    return files


def image_file_name(image_id: int, image_pattern: str, files: dict[int, str] | None) -> str | None:
    """The file name of ``image_id``: from the images list ``files`` when given (None if it is
    not listed there), else ``image_pattern`` with ``{image_id}`` filled in."""
    if files is None:
        return image_pattern.format(image_id=image_id)
    return files.get(image_id)


def read_vqa(
    questions: str | os.PathLike[str],
    annotations: str | os.PathLike[str] | None,
    images_dir: str | os.PathLike[str],
    *,
    image_pattern: str = DEFAULT_IMAGE_PATTERN,
    images_list: str | os.PathLike[str] | None = None,
) -> list[VQARecord]:
    """Read a VQA questions file (and its annotations) into records, in the questions' order.

    Raises:
        DataFormatError: a malformed file, a repeated question id, annotations that do not
            cover exactly the questions, or a question whose image is not in ``images_list``.
        ConfigError: an image pattern without ``{image_id}``.
    """
    data = read_json(questions)
    require_keys(data, ("questions",), where=str(questions))
    if images_list is None:
        check_image_pattern(image_pattern)
        files = None
    else:
        files = read_images_list(images_list)
    labels = _read_annotations(annotations) if annotations is not None else None
    records: list[VQARecord] = []
    seen: set[int] = set()
    for index, entry in enumerate(data["questions"]):
        where = f"{questions}: questions[{index}]"
        require_keys(entry, ("question_id", "image_id", "question"), where=where)
        if not isinstance(entry["question"], str):
            raise DataFormatError(f"{where}: question is not a string")
        question_id, image_id = _int(entry["question_id"], where), _int(entry["image_id"], where)
        if question_id in seen:
            raise DataFormatError(f"{questions}: question id {question_id} is listed twice")
        seen.add(question_id)
        name = image_file_name(image_id, image_pattern, files)
        if name is None:
            raise DataFormatError(f"{where}: image id {image_id} is not in {images_list}")
        answers: tuple[str, ...] = ()
        question_type, answer_type = "", ""
        if labels is not None:
            if question_id not in labels:
                raise DataFormatError(f"{annotations}: no annotation for question id {question_id} of {questions}")
            answers, question_type, answer_type, annotated_image = labels[question_id]
            if annotated_image != image_id:
                raise DataFormatError(f"{annotations}: question {question_id} is about image {annotated_image}, "
                                      f"{questions} says {image_id}")
        records.append(VQARecord(question_id, image_id, entry["question"], os.path.join(os.fspath(images_dir), name),
                                 answers, question_type, answer_type))
    if labels is not None and len(labels) != len(seen):
        extra = sorted(set(labels) - seen)
        raise DataFormatError(f"{annotations}: annotations for question ids not in {questions}, e.g. {extra[:3]}")
    return records


def _read_annotations(path: str | os.PathLike[str]) -> dict[int, tuple[tuple[str, ...], str, str, int]]:
    data = read_json(path)
    require_keys(data, ("annotations",), where=str(path))
    labels: dict[int, tuple[tuple[str, ...], str, str, int]] = {}
    for index, entry in enumerate(data["annotations"]):
        where = f"{path}: annotations[{index}]"
        require_keys(entry, ("question_id", "image_id", "answers"), where=where)
        question_id = _int(entry["question_id"], where)
        if question_id in labels:
            raise DataFormatError(f"{path}: question id {question_id} is annotated twice")
        if not isinstance(entry["answers"], list) or not entry["answers"]:
            raise DataFormatError(f"{where}: 'answers' must be a non-empty list")
        answers = []
        for answer in entry["answers"]:
            if not isinstance(answer, dict) or not isinstance(answer.get("answer"), str):
                raise DataFormatError(f"{where}: every answer needs a string 'answer'")
            answers.append(answer["answer"])
        labels[question_id] = (tuple(answers), str(entry.get("question_type", "")), str(entry.get("answer_type", "")),
                               _int(entry["image_id"], where))
    return labels


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataFormatError(f"{where}: ids must be integers, got {value!r}")
    return value


class AnswerVocabulary:
    """The answers a model can give; answer ``i`` is output ``i`` of the classifier.

    ``answers`` are the spellings the model predicts (each the most frequent raw spelling of
    its normalized form in the training data); lookups normalize with
    :func:`~multimodal_rnn.text.answers.process_answer`, so every spelling of an answer maps to
    the same id. Checkpoints store ``answers`` (the list is all there is to it).
    """

    def __init__(self, answers: Sequence[str]) -> None:
        self.answers = tuple(answers)
        self._ids: dict[str, int] = {}
        for index, answer in enumerate(self.answers):
            key = process_answer(answer)
            if key in self._ids:
                raise DataFormatError(f"answer list: {answer!r} and {self.answers[self._ids[key]]!r} are the same "
                                      f"answer after normalization")
            self._ids[key] = index
        if not self.answers:
            raise DataFormatError("answer list is empty")

    @classmethod
    def build(cls, records: Iterable[VQARecord], *, max_size: int = 3000) -> AnswerVocabulary:
        """The ``max_size`` most frequent normalized answers of ``records`` (every human answer counts).

        Ties are broken by the normalized text, so the same data always gives the same ids; among
        equally frequent spellings the normalized one wins, then the first in code point order.

        Raises:
            InputError: no record has an answer (e.g. a split without annotations).
        """
        if max_size < 1:
            raise ConfigError(f"the answer vocabulary needs at least 1 answer, got {max_size}")
        counts: Counter[str] = Counter()
        spellings: dict[str, Counter[str]] = defaultdict(Counter)
        for record in records:
            for raw in record.answers:
                raw = raw.replace("\n", " ").replace("\t", " ").strip()
                key = process_answer(raw)
                if key:
                    counts[key] += 1
                    spellings[key][raw] += 1
        if not counts:
            raise InputError("no training answers: the training split has no annotations")
        kept = sorted(counts, key=lambda key: (-counts[key], key))[:max_size]
        return cls([min(spellings[key], key=lambda raw: (-spellings[key][raw], raw != key, raw)) for key in kept])

    def __len__(self) -> int:
        return len(self.answers)

    def id_of(self, answer: str) -> int | None:
        """The id of ``answer`` (any spelling), or None when it is not in the vocabulary."""
        return self._ids.get(process_answer(answer))

    def targets(self, human_answers: Sequence[str]) -> dict[int, float]:
        """Soft scores ``{answer id: min(1, 0.3 * count)}`` of the in-vocabulary answers (may be empty)."""
        scores: dict[int, float] = {}
        for normalized, score in soft_scores(list(human_answers)).items():
            index = self._ids.get(normalized)
            if index is not None and score > 0:
                scores[index] = max(score, scores.get(index, 0.0))
        return scores


def build_question_vocabulary(records: Iterable[VQARecord], *, min_count: int = 1) -> Vocabulary:
    """Words of the (training) questions, tokenized with :func:`~multimodal_rnn.text.vocab.tokenize`."""
    vocab = Vocabulary.build((tokenize(record.question) for record in records), min_count=min_count)
    if len(vocab) == 4:
        raise InputError("no question words: the training split is empty")
    return vocab


def encode_question(vocab: Vocabulary, question: str, max_length: int) -> list[int]:
    """Word ids of ``question``: tokenized, cut to its first ``max_length`` words, unknown -> ``<unk>``.

    A question without any word (empty, or only punctuation) becomes ``[<unk>]``, so every
    question has at least one step.
    """
    ids = vocab.encode(tokenize(question), max_length=max_length, add_bos=False, add_eos=False)
    return ids or [vocab.unk_id]


def trainable_records(records: Sequence[VQARecord], answers: AnswerVocabulary) -> list[VQARecord]:
    """The records with at least one answer in ``answers`` (the others teach nothing)."""
    return [record for record in records if answers.targets(record.answers)]


class VQADataset(Dataset):
    """Images with their questions for training and evaluation.

    With ``group_by_image`` (default) an item is one image with all its questions, else one
    question. Items are dicts: ``image`` (3, H, W) from ``transform``, ``image_id``, and lists
    (one entry per question) ``question`` (LongTensor (T,)), ``question_id``, ``index`` (record
    index) and, with ``answers``, ``targets`` ({answer id: soft score}). Images are read through
    an :class:`~multimodal_rnn.datasets.image_reader.ImageReader`: one that cannot be read yields
    ``None`` (dropped by :func:`collate_vqa`), is recorded in :attr:`bad_images` and, past
    ``max_bad_images``, raises an :class:`InputError` naming the last bad file.
    """

    def __init__(
        self,
        records: Sequence[VQARecord],
        transform: Callable[[Image.Image], torch.Tensor],
        load_image: Callable[[str], Image.Image],
        encode: Callable[[str], list[int]],
        answers: AnswerVocabulary | None = None,
        *,
        group_by_image: bool = True,
        max_bad_images: int = 100,
    ) -> None:
        self.records = list(records)
        self.reader = ImageReader(load_image, transform, max_bad_images=max_bad_images)
        self.questions = [torch.tensor(encode(r.question), dtype=torch.long) for r in self.records]
        self.targets = [answers.targets(r.answers) for r in self.records] if answers is not None else None
        if group_by_image:
            groups: dict[str, list[int]] = {}
            for index, record in enumerate(self.records):
                groups.setdefault(record.image_path, []).append(index)
            self.items = list(groups.values())
        else:
            self.items = [[index] for index in range(len(self.records))]

    @property
    def bad_images(self) -> dict[str, str]:
        """Unreadable image path -> its one-line reason (this process's reads)."""
        return self.reader.bad_images

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        indices = self.items[index]
        record = self.records[indices[0]]
        image = self.reader.read(record.image_path)
        if image is None:
            return None
        item: dict[str, Any] = {
            "image": image, "image_id": record.image_id, "index": indices,
            "question": [self.questions[i] for i in indices],
            "question_id": [self.records[i].question_id for i in indices],
        }
        if self.targets is not None:
            item["targets"] = [self.targets[i] for i in indices]
        return item


def collate_vqa(items: Sequence[dict[str, Any] | None], *, num_answers: int | None = None,
                pad_id: int = 0) -> dict[str, Any]:
    """Batch :class:`VQADataset` items; ``None`` items (unreadable images) are dropped.

    Returns a dict with ``image`` (I, 3, H, W), one row per distinct image; and per question
    (B questions): ``image_index`` (B,) row of its image, ``question`` (B, T) padded with
    ``pad_id``, ``lengths`` (B,), lists ``question_id`` and ``index``, and with ``num_answers``
    ``targets`` (B, num_answers) soft scores. ``num_skipped`` counts the dropped items; a batch
    with nothing readable holds only that.
    """
    kept = [item for item in items if item is not None]
    batch: dict[str, Any] = {"num_skipped": len(items) - len(kept)}
    if not kept:
        return batch
    rows: dict[int, int] = {}
    images: list[torch.Tensor] = []
    image_index, questions, question_ids, indices, targets = [], [], [], [], []
    for item in kept:
        if item["image_id"] not in rows:
            rows[item["image_id"]] = len(images)
            images.append(item["image"])
        image_index += [rows[item["image_id"]]] * len(item["question"])
        questions += item["question"]
        question_ids += item["question_id"]
        indices += item["index"]
        targets += item.get("targets", [])
    padded, lengths = pad_sequences([question.tolist() for question in questions], pad_id)  # (B, T), (B,)
    batch.update({"image": torch.stack(images), "image_index": torch.tensor(image_index, dtype=torch.long),
                  "question": padded, "lengths": lengths, "question_id": question_ids, "index": indices})
    if num_answers is not None and targets:
        dense = torch.zeros(len(questions), num_answers)  # (B, K)
        for row, scores in enumerate(targets):
            for answer, score in scores.items():
                dense[row, answer] = score
        batch["targets"] = dense
    return batch
