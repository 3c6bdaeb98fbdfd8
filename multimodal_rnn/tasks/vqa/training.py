"""Training a VQA model: vocabularies, datasets, official-style validation accuracy, checkpoints.

:func:`training_setup` builds the :class:`~multimodal_rnn.tasks.common.TrainingSetup` of VQA
records (see :mod:`multimodal_rnn.datasets.vqa`): the question vocabulary and the answer
vocabulary of the training split, the model from the registry, a validation callback that
answers every validation question and scores it with the official per-question accuracy
(:func:`multimodal_rnn.metrics.vqa.question_accuracy`), and the checkpoint header fields (both
vocabularies); :func:`train_vqa` hands it to :func:`~multimodal_rnn.tasks.common.run_training`.

Training questions none of whose answers is in the answer vocabulary are skipped (an all-zero
target teaches nothing but "no answer"); validation keeps every question, so the reported
accuracy is the one the official evaluation gives on the same split. By default a training
item is one image with all its questions (``group_by_image``): the trainer's ``batch_size``
then counts images, and each image is encoded once per update however many questions it has.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from PIL import Image

from multimodal_rnn.config import config_to_dict
from multimodal_rnn.datasets.vqa import (
    AnswerVocabulary,
    VQADataset,
    VQARecord,
    VQASource,
    build_question_vocabulary,
    collate_vqa,
    encode_question,
    trainable_records,
)
from multimodal_rnn.encoders.image import build_transform
from multimodal_rnn.errors import ConfigError, InputError
from multimodal_rnn.metrics.vqa import question_accuracy
from multimodal_rnn.tasks.common import TrainingLog, TrainingSetup, run_training
from multimodal_rnn.tasks.protocol import ProgressFactory
from multimodal_rnn.tasks.training_data import ValidationChoice, training_splits
from multimodal_rnn.tasks.vqa.models import MODELS, VQAModel
from multimodal_rnn.tasks.vqa.predictor import Answerer
from multimodal_rnn.text.vocab import Vocabulary
from multimodal_rnn.training.state import seed_everything
from multimodal_rnn.training.trainer import TrainerConfig, TrainResult

VALIDATION_METRIC = "accuracy"


@dataclass(frozen=True, kw_only=True)
class VQATrainingConfig:
    """What the VQA task adds to the trainer's options.

    Attributes:
        model_name: a registered VQA model (lstm_q_norm_i, saaa, saaa_rel, film).
        model: overrides of the model's config (vocabulary sizes and pad id are filled in); a key
            the model does not have is an error.
        num_answers: K, the most frequent normalized training answers the model can give.
        min_word_count: question words seen fewer times in training map to ``<unk>``.
        group_by_image: a training item is an image with all its questions (else one question).
        eval_max_questions: validate on the first this-many questions (0 = all).
        eval_batch_size: questions per validation batch (grouped by image, so about that many).
        init_from: a VQA checkpoint whose weights and vocabularies start the run.
    """

    model_name: str = "saaa"
    model: dict[str, Any] = field(default_factory=dict)
    num_answers: int = 3000
    min_word_count: int = 1
    group_by_image: bool = True
    eval_max_questions: int = 0
    eval_batch_size: int = 256
    init_from: str | None = None


def validation_accuracy(
    answerer: Answerer,
    records: Sequence[VQARecord],
    load_image: Callable[[str], Image.Image],
    *,
    batch_size: int = 256,
) -> dict[str, float]:
    """Official-style accuracy x100 on ``records``: overall (``accuracy``) and per answer type.

    Every record counts; a question whose image cannot be read scores 0. Per-type keys are
    ``accuracy_<type>`` with ``/`` removed (``accuracy_yesno``, ``accuracy_number``, ...).

    Raises:
        InputError: no record, no answer, or no validation image could be read (an accuracy of
            0 that measured nothing).
    """
    if not records or not any(record.answers for record in records):
        raise InputError("no validation answers: the validation split is empty or has no annotations")
    read = answerer.answer_records(records, load_image, batch_size=batch_size)
    predicted = read.answers
    if all(answer is None for answer in predicted):
        example = next(iter(read.bad_images.values()), records[0].image_path)
        raise InputError(f"validation read nothing: none of its {len(records)} questions' images could be read "
                         f"(e.g. {example})")
    scores = [question_accuracy(answer, list(record.answers)) if answer is not None else 0.0
              for answer, record in zip(predicted, records)]
    by_type: dict[str, list[float]] = defaultdict(list)
    for record, score in zip(records, scores):
        if record.answer_type:
            by_type[record.answer_type.replace("/", "")].append(score)
    metrics = {VALIDATION_METRIC: 100.0 * sum(scores) / len(scores)}
    metrics.update({f"accuracy_{name}": 100.0 * sum(values) / len(values) for name, values in sorted(by_type.items())})
    return metrics


def vqa_training_records(
    train_source: VQASource,
    val_source: VQASource | None,
    *,
    val_fraction: float,
    seed: int,
    log: Callable[[str], None],
    names: tuple[str, str] = ("--questions", "--val-questions"),
) -> tuple[list[VQARecord], list[VQARecord], ValidationChoice]:
    """Read both splits, look their images up (before any work) and choose the validation records:
    ``val_source``'s, or a hold-out of ``val_fraction`` of the training images (``seed``).

    ``names`` name the splits in messages (the options that gave them); ``log`` gets a line per
    split with missing images and, for a hold-out, one with its counts.

    Raises:
        InputError: a split whose images are all missing, or more than
            :data:`~multimodal_rnn.tasks.training_data.MAX_MISSING_IMAGES`; see also
            :func:`~multimodal_rnn.tasks.training_data.choose_validation`.
    """
    train = _read_split(train_source, names[0])
    val = _read_split(val_source, names[1]) if val_source is not None else None
    where = (_image_lookup(train_source, ""), _image_lookup(val_source, "val-") if val_source is not None else "")
    labels = (f"{names[0]} {train_source.questions}", f"{names[1]} {val_source.questions if val_source else ''}")
    return training_splits(train, val, lambda r: r.image_path, names=labels, where=where, unit="questions",
                           fraction=val_fraction, seed=seed, log=log)


def _read_split(source: VQASource, name: str) -> list[VQARecord]:
    records = source.read()
    if not records:
        raise InputError(f"{name} {source.questions}: no questions")
    return records


def _image_lookup(source: VQASource, prefix: str) -> str:
    """How ``source``'s image paths are made, for messages."""
    if source.images_list is not None:
        return f"{source.images_dir}/<file_name in {source.images_list}>"
    return f"{os.path.join(source.images_dir, source.image_pattern)} (--{prefix}images, --{prefix}image-pattern)"


def training_setup(
    train_records: Sequence[VQARecord],
    val_records: Sequence[VQARecord],
    config: VQATrainingConfig,
    *,
    load_image: Callable[[str], Image.Image],
    validation: Mapping[str, Any] | None = None,
) -> TrainingSetup:
    """The model, datasets, validation and checkpoint header of a VQA run (the initial weights
    come from the global random state: seed it first); ``validation`` (where the validation
    records came from, e.g. a hold-out's fraction and seed) goes into the header's
    ``extra["validation"]``."""
    model, vocab, answers = _initial_model(train_records, config)
    transform = build_transform(model.config.encoder)
    val_records = val_records[: config.eval_max_questions] if config.eval_max_questions > 0 else val_records
    if not val_records:
        raise InputError("no validation questions: the validation split is empty")

    def evaluate(module: torch.nn.Module) -> dict[str, float]:
        assert isinstance(module, VQAModel)
        answerer = Answerer(module, vocab, answers, transform)  # on the module's device, wherever the trainer put it
        return validation_accuracy(answerer, val_records, load_image, batch_size=config.eval_batch_size)

    records = trainable_records(train_records, answers)
    if not records:
        raise InputError("no training question has an answer in the answer vocabulary")
    max_length = model.config.max_question_length
    train_set = VQADataset(records, transform, load_image, lambda text: encode_question(vocab, text, max_length),
                           answers, group_by_image=config.group_by_image)

    def collate(items: list[Any]) -> dict[str, Any]:
        return collate_vqa(items, num_answers=len(answers), pad_id=vocab.pad_id)

    return TrainingSetup(task="vqa", model_name=config.model_name, model=model, train_set=train_set, collate=collate,
                         evaluate=evaluate, vocab=vocab.to_dict(), answers=list(answers.answers),
                         extra={"training": config_to_dict(config),
                                **({"validation": dict(validation)} if validation is not None else {})})


def train_vqa(
    train_records: Sequence[VQARecord],
    val_records: Sequence[VQARecord],
    config: VQATrainingConfig,
    trainer_config: TrainerConfig,
    out_dir: str | Path,
    *,
    load_image: Callable[[str], Image.Image],
    validation: Mapping[str, Any] | None = None,
    progress: ProgressFactory | None = None,
    log: TrainingLog | None = None,
    resume_from: str | Path | None = None,
) -> TrainResult:
    """Train a VQA model; checkpoints (best on validation accuracy) go to ``out_dir``.

    ``progress`` draws each epoch's bar, ``log`` gets the progress lines (see
    :func:`~multimodal_rnn.tasks.common.run_training`); ``validation`` is recorded in the header.

    Returns the trainer's :class:`TrainResult` (best validation accuracy and where it is saved).
    """
    seed_everything(trainer_config.seed)  # the initial weights depend on the seed only
    setup = training_setup(train_records, val_records, config, load_image=load_image, validation=validation)
    return run_training(setup, trainer_config, out_dir, progress=progress, log=log, resume_from=resume_from)


def _initial_model(
    records: Sequence[VQARecord], config: VQATrainingConfig
) -> tuple[VQAModel, Vocabulary, AnswerVocabulary]:
    if config.model_name not in MODELS.names(task="vqa"):
        raise ConfigError(f"unknown VQA model {config.model_name!r} (known: {', '.join(MODELS.names(task='vqa'))})")
    if config.init_from is not None:
        start = Answerer.from_checkpoint(config.init_from)
        assert start.checkpoint is not None
        if start.checkpoint.model_name != config.model_name:
            raise ConfigError(f"{config.init_from}: holds a {start.checkpoint.model_name!r} model, not {config.model_name!r}")
        return start.model.train(), start.vocab, start.answers
    vocab = build_question_vocabulary(records, min_count=config.min_word_count)
    answers = AnswerVocabulary.build(records, max_size=config.num_answers)
    model_config = MODELS.config(config.model_name, {
        **config.model, "num_words": len(vocab), "num_answers": len(answers), "pad_id": vocab.pad_id,
    })
    model = MODELS.build(config.model_name, model_config, load_encoder_weights=True)
    assert isinstance(model, VQAModel)
    return model, vocab, answers
