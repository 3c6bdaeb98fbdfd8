"""Training a visual dialog model: vocabulary, datasets, VisDial validation metrics, checkpoints.

:func:`dialog_training_setup` builds, from VisDial data (see :mod:`multimodal_rnn.datasets.visdial`),
the :class:`~multimodal_rnn.tasks.common.TrainingSetup` that :func:`train_dialog` hands to the one
trainer: the vocabulary of the training questions, answers and captions, the model from the
registry, a validation callback that ranks the options of every validation round with a
:class:`~multimodal_rnn.tasks.dialog.predictor.DialogAgent` and scores the ranks with
:mod:`multimodal_rnn.metrics.dialog` (MRR, R@k, mean rank, and NDCG with dense annotations), and
the checkpoint header: the vocabulary, the text limits and the candidate answers (the training
answers, most frequent first).

A training item is one dialog with all its rounds: the trainer's ``batch_size`` counts dialogs
(10 rounds each), each image is encoded once per update, and only rounds with a ground-truth
answer contribute to the loss.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from PIL import Image

from multimodal_rnn.config import config_from_dict, config_to_dict
from multimodal_rnn.datasets.image_reader import ImageReader
from multimodal_rnn.datasets.visdial import NO_ANSWER, RoundKey, VisDialData
from multimodal_rnn.datasets.visdial_batches import DialogText, DialogTextConfig, VisDialDataset, collate_visdial
from multimodal_rnn.encoders.image import build_transform
from multimodal_rnn.errors import ConfigError, InputError
from multimodal_rnn.metrics.dialog import evaluate_submission
from multimodal_rnn.tasks.common import TrainingLog, TrainingSetup, run_training
from multimodal_rnn.tasks.dialog.models import MODELS, DialogModel
from multimodal_rnn.tasks.dialog.predictor import DialogAgent
from multimodal_rnn.tasks.training_data import ValidationChoice, training_splits
from multimodal_rnn.text.vocab import Vocabulary, tokenize
from multimodal_rnn.training.state import seed_everything
from multimodal_rnn.training.trainer import TrainerConfig, TrainResult

VALIDATION_METRIC = "mrr"


@dataclass(frozen=True, kw_only=True)
class DialogTrainingConfig:
    """What the dialog task adds to the trainer's options.

    Attributes:
        model_name: a registered dialog model (lf_disc, hre_disc, lf_gen, hre_gen).
        model: overrides of the model's config (e.g. :class:`~multimodal_rnn.tasks.dialog.models.LFDiscConfig`;
            a key the model does not use is an error; vocabulary size and special ids are filled in).
        text: overrides of :class:`DialogTextConfig` (how many words of each text are read).
        min_word_count: words seen fewer times in the training text map to ``<unk>``.
        max_candidates: the most frequent training answers a chat can give (discriminative models).
        eval_max_dialogs: validate on the first this-many dialogs (0 = all).
        eval_batch_size: dialogs per validation batch.
        init_from: a dialog checkpoint whose weights and vocabulary start the run.
    """

    model_name: str = "lf_disc"
    model: dict[str, Any] = field(default_factory=dict)
    text: dict[str, Any] = field(default_factory=dict)
    min_word_count: int = 1
    max_candidates: int = 5000
    eval_max_dialogs: int = 0
    eval_batch_size: int = 32
    init_from: str | None = None


def build_dialog_vocabulary(data: VisDialData, *, min_count: int = 1) -> Vocabulary:
    """Words of the questions, the answers and the captions of ``data`` (COCO tokenization)."""
    texts = [*data.questions, *data.answers, *(dialog.caption for dialog in data.dialogs)]
    vocab = Vocabulary.build((tokenize(text) for text in texts), min_count=min_count)
    if len(vocab) == 4:
        raise InputError("no dialog words: the training split is empty")
    return vocab


def candidate_answers(data: VisDialData, *, max_size: int) -> list[str]:
    """The ``max_size`` most frequent ground-truth answers of ``data`` (ties: file order)."""
    counts = Counter(int(a) for dialog in data.dialogs for a in dialog.answers if int(a) != NO_ANSWER)
    if not counts:
        raise InputError("no training answers: the training split has no answered rounds")
    return [data.answers[index] for index, _ in counts.most_common(max_size)]


def validation_metrics(
    agent: DialogAgent,
    data: VisDialData,
    load_image: Callable[[str], Image.Image],
    *,
    dense: Mapping[RoundKey, Sequence[float]] | None = None,
    batch_size: int = 32,
) -> dict[str, float]:
    """``mrr``, ``r@1``, ``r@5``, ``r@10``, ``mean_rank`` (and ``ndcg`` with ``dense``) on ``data``.

    Dense annotations of dialogs that are not in ``data`` (e.g. cut by ``eval_max_dialogs``) are ignored.

    Raises:
        InputError: no image of ``data`` could be read, or no round has a ground-truth answer.
    """
    ranked = agent.rank(data, load_image, batch_size=batch_size)
    if not ranked.entries:
        example = next(iter(ranked.bad_images.values()), data.dialogs[0].image_path if data.dialogs else "none")
        raise InputError(f"validation read nothing: none of its {len(data.dialogs)} dialogs' images could be read "
                         f"(e.g. {example})")
    submitted = {(entry["image_id"], entry["round_id"]) for entry in ranked.entries}
    dense = {key: value for key, value in (dense or {}).items() if key in submitted}
    evaluation = evaluate_submission(ranked.entries, data.gt_indices(), dense)
    if evaluation.num_rounds == 0:
        raise InputError("no validation round has a ground-truth answer")
    return {name: value for name, value in evaluation.metrics.items() if value is not None}


def dialog_splits(
    train: VisDialData,
    val: VisDialData | None,
    *,
    names: tuple[str, str],
    where: tuple[str, str],
    val_fraction: float,
    seed: int,
    log: Callable[[str], None],
) -> tuple[VisDialData, VisDialData, ValidationChoice]:
    """Both splits with their images looked up first; without ``val``, a hold-out of
    ``val_fraction`` of the training dialogs' images (``seed``); see
    :func:`~multimodal_rnn.tasks.training_data.training_splits`."""
    kept, taken, choice = training_splits(train.dialogs, val.dialogs if val is not None else None,
                                          lambda dialog: dialog.image_path, names=names, where=where, unit="dialogs",
                                          fraction=val_fraction, seed=seed, log=log)
    if val is None:
        val = VisDialData(train.split, train.questions, train.answers, taken)
    return VisDialData(train.split, train.questions, train.answers, kept), val, choice


def dialog_training_setup(
    train_data: VisDialData,
    val_data: VisDialData,
    config: DialogTrainingConfig,
    *,
    load_image: Callable[[str], Image.Image],
    dense: Mapping[RoundKey, Sequence[float]] | None = None,
    validation: Mapping[str, Any] | None = None,
) -> TrainingSetup:
    """The model, datasets, validation and checkpoint header of a dialog run (see the module
    docstring); ``validation`` (where the validation dialogs came from) goes into the header's
    ``extra["validation"]``.

    Validation ranks with a :class:`DialogAgent` around the module the trainer hands it, on that
    module's device.
    """
    model, vocab, text_config, candidates = _initial_model(train_data, config)
    model.train()
    if config.eval_max_dialogs > 0:
        val_data = VisDialData(val_data.split, val_data.questions, val_data.answers,
                               val_data.dialogs[: config.eval_max_dialogs])
    if not val_data.dialogs:
        raise InputError("no validation dialogs: the validation split is empty")
    transform = build_transform(model.config.encoder)

    def evaluate(module: torch.nn.Module) -> dict[str, float]:
        if not isinstance(module, DialogModel):
            raise TypeError(f"dialog validation needs a DialogModel, got {type(module).__name__}")
        agent = DialogAgent(module, vocab, text_config, candidates, transform)
        return validation_metrics(agent, val_data, load_image, dense=dense, batch_size=config.eval_batch_size)

    train_set = VisDialDataset(train_data, ImageReader(load_image, transform), DialogText(vocab, text_config))

    def collate(items: list[Any]) -> dict[str, Any]:
        return collate_visdial(items, pad_id=vocab.pad_id)  # only num_skipped when no image was readable: skipped

    return TrainingSetup(
        task="dialog", model_name=config.model_name, model=model, train_set=train_set, collate=collate,
        evaluate=evaluate, vocab=vocab.to_dict(), answers=list(candidates),
        extra={"training": config_to_dict(config), "text": config_to_dict(text_config),
               **({"validation": dict(validation)} if validation is not None else {})},
    )


def train_dialog(
    train_data: VisDialData,
    val_data: VisDialData,
    config: DialogTrainingConfig,
    trainer_config: TrainerConfig,
    out_dir: str | Path,
    *,
    load_image: Callable[[str], Image.Image],
    dense: Mapping[RoundKey, Sequence[float]] | None = None,
    validation: Mapping[str, Any] | None = None,
    progress: Any = None,
    log: TrainingLog | None = None,
    resume_from: str | Path | None = None,
) -> TrainResult:
    """Train a dialog model; checkpoints (best on validation MRR) go to ``out_dir``; ``log`` gets
    the progress lines, ``validation`` is recorded in the header.

    Returns the trainer's :class:`TrainResult` (best validation MRR and where it is saved).
    """
    seed_everything(trainer_config.seed)  # the initial weights depend on the seed only
    setup = dialog_training_setup(train_data, val_data, config, load_image=load_image, dense=dense,
                                  validation=validation)
    if trainer_config.validation_metric is None:
        trainer_config = dataclasses.replace(trainer_config, validation_metric=VALIDATION_METRIC)
    return run_training(setup, trainer_config, out_dir, progress=progress, log=log, resume_from=resume_from)


def _initial_model(
    data: VisDialData, config: DialogTrainingConfig
) -> tuple[DialogModel, Vocabulary, DialogTextConfig, list[str]]:
    known = MODELS.names(task="dialog")
    if config.model_name not in known:
        raise ConfigError(f"unknown dialog model {config.model_name!r} (known: {', '.join(known)})")
    if config.init_from is not None:
        start = DialogAgent.from_checkpoint(config.init_from)
        assert start.checkpoint is not None
        if start.checkpoint.model_name != config.model_name:
            raise ConfigError(f"{config.init_from}: holds a {start.checkpoint.model_name!r} model, not {config.model_name!r}")
        return start.model.train(), start.vocab, start.text.config, list(start.candidates)
    vocab = build_dialog_vocabulary(data, min_count=config.min_word_count)
    text_config = config_from_dict(DialogTextConfig, dict(config.text), where="dialog text")
    model_config = MODELS.config(config.model_name, {
        **config.model, "num_words": len(vocab), "pad_id": vocab.pad_id, "bos_id": vocab.bos_id,
        "eos_id": vocab.eos_id,
    }, where=f"dialog model {config.model_name}")
    model = MODELS.build(config.model_name, model_config, load_encoder_weights=True)
    assert isinstance(model, DialogModel)
    return model, vocab, text_config, candidate_answers(data, max_size=config.max_candidates)
