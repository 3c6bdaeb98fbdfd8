"""Training a captioner: vocabulary, datasets, validation metric, checkpoint header, SCST stage.

:func:`caption_training_setup` turns caption records (see :mod:`multimodal_rnn.datasets.captions`)
into the :class:`~multimodal_rnn.tasks.common.TrainingSetup` the one trainer runs: the
vocabulary of the training captions, the model from the registry, a validation callback that
captions the validation images and scores them with COCO-exact CIDEr-D/BLEU/ROUGE-L, and the
vocabulary for the checkpoint header. With ``self_critical`` it trains the same model through
:class:`~multimodal_rnn.tasks.caption.self_critical.SelfCriticalObjective` instead of cross-entropy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from PIL import Image
from torch.utils.data import Dataset

from multimodal_rnn.config import config_to_dict
from multimodal_rnn.datasets.captions import (
    CaptionDataset,
    CaptionRecord,
    collate_captions,
)
from multimodal_rnn.datasets.feature_cache import (
    CachedCaptionDataset,
    build_feature_cache,
)
from multimodal_rnn.encoders.image import build_transform
from multimodal_rnn.errors import ConfigError, InputError
from multimodal_rnn.metrics.caption import caption_metrics
from multimodal_rnn.metrics.cider import CiderD
from multimodal_rnn.tasks.caption.models import MODELS, CaptionModel
from multimodal_rnn.tasks.caption.predictor import Captioner
from multimodal_rnn.tasks.caption.self_critical import SelfCriticalObjective
from multimodal_rnn.tasks.common import TrainingLog, TrainingSetup, run_training
from multimodal_rnn.tasks.protocol import ProgressFactory
from multimodal_rnn.text.vocab import Vocabulary, tokenize
from multimodal_rnn.training import distributed
from multimodal_rnn.training.state import seed_everything
from multimodal_rnn.training.trainer import (
    Trainer,
    TrainerConfig,
    TrainerEvent,
    TrainResult,
)

VALIDATION_METRICS = ("CIDEr", "Bleu_4", "ROUGE_L")


@dataclass(frozen=True, kw_only=True)
class CaptionTrainingConfig:
    """What the caption task adds to the trainer's options.

    Attributes:
        model_name: a registered caption model (show_tell, show_attend_tell, updown).
        model: overrides of the model's config class (vocab size and special ids are filled in);
            a key that model does not have is an error.
        min_count: words seen fewer times in the training captions map to ``<unk>``.
        max_caption_length: training captions are cut to this many words.
        eval_beam_size: beam used for the validation metric (1 = greedy, fastest).
        eval_max_images: validate on at most this many images (0 = all).
        scheduled_sampling_max / scheduled_sampling_start / scheduled_sampling_step: the
            probability of feeding the model's own word starts at 0, rises by ``_step`` every
            epoch from epoch ``_start`` and stops at ``_max`` (0 disables it).
        self_critical: train with SCST (start from ``init_from``); ``scst_samples`` captions per
            image, baseline "greedy" or "mean".
        init_from: a caption checkpoint whose weights (and vocabulary) start the run.
        feature_cache: a folder for precomputed grid features of the training images (needs a
            frozen encoder, ``encoder.trainable = False``); built once, memory-mapped after.
    """

    model_name: str = "show_attend_tell"
    model: dict[str, Any] = field(default_factory=dict)
    min_count: int = 1
    max_caption_length: int = 24
    eval_beam_size: int = 1
    eval_max_images: int = 0
    scheduled_sampling_max: float = 0.0
    scheduled_sampling_start: int = 0
    scheduled_sampling_step: float = 0.05
    self_critical: bool = False
    scst_samples: int = 5
    scst_baseline: str = "greedy"
    init_from: str | None = None
    feature_cache: str | None = None


def build_vocabulary(records: Sequence[CaptionRecord], *, min_count: int) -> Vocabulary:
    """The vocabulary of the records' captions after COCO tokenization."""
    tokens = [tokenize(caption) for record in records for caption in record.captions]
    if not tokens:
        raise InputError("no training captions: the training split is empty")
    return Vocabulary.build(tokens, min_count=min_count)


class _ScheduledSampling:
    """Collate function that adds the scheduled-sampling probability of the current epoch.

    The probability is a pure function of the global step (so a resumed run matches an
    uninterrupted one): epoch e = step // steps_per_epoch; 0 before ``scheduled_sampling_start``,
    then ``(e - start + 1) * step_size`` capped at ``scheduled_sampling_max``.
    """

    def __init__(self, config: CaptionTrainingConfig, pad_id: int) -> None:
        self.config = config
        self.pad_id = pad_id
        self.steps_per_epoch = 1  # set from the trainer before training starts
        self.probability = 0.0

    def __call__(self, items: list[Any]) -> dict[str, Any] | None:
        batch = collate_captions(items, pad_id=self.pad_id)
        if "image" not in batch and "grid" not in batch:
            return None  # every image of the batch was unreadable: the trainer skips it
        if self.probability > 0:
            batch["scheduled_sampling"] = self.probability
        return batch

    def update(self, step: int) -> None:
        """Set the probability for the batch after ``step`` completed updates."""
        c = self.config
        epoch = step // self.steps_per_epoch
        if c.scheduled_sampling_max <= 0 or epoch < c.scheduled_sampling_start:
            self.probability = 0.0
        else:
            self.probability = min(c.scheduled_sampling_max, (epoch - c.scheduled_sampling_start + 1) * c.scheduled_sampling_step)

    def on_event(self, event: TrainerEvent) -> None:
        if event.kind == "step_end":
            self.update(event.step)

    def attach(self, trainer: Trainer) -> None:
        """Read the trainer's epoch length and (resumed) step before it starts."""
        self.steps_per_epoch = trainer.steps_per_epoch
        self.update(trainer.step)


def make_validation(
    records: Sequence[CaptionRecord],
    vocab: Vocabulary,
    transform: Callable[[Image.Image], torch.Tensor],
    load_image: Callable[[str], Image.Image],
    *,
    beam_size: int,
    batch_size: int = 64,
) -> Callable[[torch.nn.Module], dict[str, float]]:
    """``evaluate(module) -> {"CIDEr", "Bleu_4", "ROUGE_L"}`` on ``records`` (COCO-exact scores).

    ``module`` is the caption model, or the :class:`SelfCriticalObjective` holding it; images go
    to wherever the model is when it is called (the trainer moves it to its device). Images that
    cannot be read are left out of the scores; when none can be read, ``evaluate`` raises an
    InputError (a score that measured nothing).
    """
    references = {i: [" ".join(tokenize(c)) for c in r.captions] for i, r in enumerate(records) if r.captions}
    if not references:
        raise InputError("no validation captions: the validation split is empty")
    dataset = CaptionDataset(records, transform, load_image, per_image=True)

    def evaluate(module: torch.nn.Module) -> dict[str, float]:
        model = module.model if isinstance(module, SelfCriticalObjective) else module
        assert isinstance(model, CaptionModel)
        captioner = Captioner(model, vocab, transform)
        candidates: dict[int, str] = {}
        for start in range(0, len(dataset), batch_size):
            batch = collate_captions([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
            if "image" not in batch:
                continue
            results = captioner.caption_tensors(batch["image"], beam_size=beam_size)
            for index, result in zip(batch["index"], results):
                candidates[index] = " ".join(tokenize(result.caption))
        if not candidates:
            example = next(iter(dataset.bad_images.values()), records[0].path)
            raise InputError(f"validation read nothing: none of its {len(dataset)} images could be read "
                             f"(e.g. {example})")
        scores = caption_metrics({i: references[i] for i in candidates}, candidates, meteor=False)
        return {name: float(scores[name].value) for name in VALIDATION_METRICS}  # type: ignore[union-attr]

    return evaluate


def caption_training_setup(
    train_records: Sequence[CaptionRecord],
    val_records: Sequence[CaptionRecord],
    config: CaptionTrainingConfig,
    *,
    load_image: Callable[[str], Image.Image],
    validation: Mapping[str, Any] | None = None,
) -> TrainingSetup:
    """The model, data, validation and checkpoint header of a caption run (seed the RNGs first:
    the initial weights depend on them); ``validation`` (where the validation records came from)
    goes into the header's ``extra["validation"]``."""
    model, vocab = _initial_model(train_records, config)
    transform = build_transform(model.config.encoder)
    evaluate = make_validation(_limit(val_records, config.eval_max_images), vocab, transform, load_image,
                               beam_size=config.eval_beam_size)
    extra = {"training": config_to_dict(config)}  # the checkpoint header carries it with the vocabulary
    if validation is not None:
        extra["validation"] = dict(validation)
    if config.self_critical:
        references = [[" ".join(tokenize(c)) for c in r.captions] for r in train_records]
        scst = SelfCriticalObjective(model, CiderD(references), references, vocab.decode,
                                     num_samples=config.scst_samples, baseline=config.scst_baseline)
        return TrainingSetup(task="caption", model_name=config.model_name, model=model, module=scst,
                             train_set=CaptionDataset(train_records, transform, load_image, per_image=True),
                             collate=_collate_images, evaluate=evaluate, vocab=vocab.to_dict(), extra=extra)

    def encode(text: str) -> list[int]:
        return vocab.encode(tokenize(text)[: config.max_caption_length])

    train_set: Dataset
    if config.feature_cache is not None:
        if model.config.encoder.trainable:
            raise ConfigError("a feature cache needs a frozen encoder: set the model option encoder.trainable to false")
        with distributed.main_process_first():  # rank 0 builds the cache, the other processes then reuse it
            build_feature_cache(model.encoder, train_records, transform, load_image, config.feature_cache)
        train_set = CachedCaptionDataset(train_records, config.feature_cache, encode)
    else:
        train_set = CaptionDataset(train_records, transform, load_image, encode)
    sampling = _ScheduledSampling(config, vocab.pad_id)
    return TrainingSetup(task="caption", model_name=config.model_name, model=model, train_set=train_set,
                         collate=sampling, evaluate=evaluate, callbacks=(sampling.on_event,),
                         on_trainer=sampling.attach, vocab=vocab.to_dict(), extra=extra)


def train_captioner(
    train_records: Sequence[CaptionRecord],
    val_records: Sequence[CaptionRecord],
    config: CaptionTrainingConfig,
    trainer_config: TrainerConfig,
    out_dir: str | Path,
    *,
    load_image: Callable[[str], Image.Image],
    validation: Mapping[str, Any] | None = None,
    progress: ProgressFactory | None = None,
    log: TrainingLog | None = None,
    resume_from: str | Path | None = None,
) -> TrainResult:
    """Train (or fine-tune with SCST) a captioner; checkpoints go to ``out_dir``; ``progress``
    draws the epoch bars and ``log`` gets the progress lines; ``validation`` is recorded in the header.

    Returns the trainer's :class:`TrainResult` (best validation CIDEr-D and where it is saved).
    """
    seed_everything(trainer_config.seed)  # the initial weights depend on the seed only
    setup = caption_training_setup(train_records, val_records, config, load_image=load_image, validation=validation)
    return run_training(setup, trainer_config, out_dir, progress=progress, log=log, resume_from=resume_from)


def _collate_images(items: list[Any]) -> dict[str, Any] | None:
    batch = collate_captions(items)
    return batch if "image" in batch else None


def _initial_model(records: Sequence[CaptionRecord], config: CaptionTrainingConfig) -> tuple[CaptionModel, Vocabulary]:
    if config.model_name not in MODELS.names(task="caption"):
        raise ConfigError(f"unknown caption model {config.model_name!r} (known: {', '.join(MODELS.names(task='caption'))})")
    if config.init_from is not None:
        start = Captioner.from_checkpoint(config.init_from)
        return start.model.train(), start.vocab
    if config.self_critical:
        raise ConfigError("self-critical training starts from a trained model: give init_from")
    vocab = build_vocabulary(records, min_count=config.min_count)
    model_config = MODELS.config(config.model_name, {
        **config.model, "vocab_size": len(vocab), "pad_id": vocab.pad_id, "bos_id": vocab.bos_id,
        "eos_id": vocab.eos_id,
    })
    model = MODELS.build(config.model_name, model_config, load_encoder_weights=True)
    assert isinstance(model, CaptionModel)
    return model, vocab


def _limit(records: Sequence[CaptionRecord], count: int) -> Sequence[CaptionRecord]:
    return records[:count] if count > 0 else records
