"""Training a video captioner: vocabulary, clip datasets, validation metric, checkpoint header, SCST.

:func:`video_caption_training_setup` turns video records with captions (MSR-VTT, MSVD, the
moving-shapes world; :class:`~multimodal_rnn.datasets.video_records.VideoRecord`) into the
:class:`~multimodal_rnn.tasks.common.TrainingSetup` the one trainer runs: the vocabulary of the
training captions, the model from the registry, clips read by
:class:`~multimodal_rnn.datasets.video_clips.ClipDataset` (each batch holds every caption of its
clips, so a clip is encoded once for all of them), a validation callback that captions the
validation clips and scores them with COCO-exact CIDEr-D/BLEU-4/ROUGE-L, and the vocabulary for
the checkpoint header. With ``self_critical`` it trains the same model through
:class:`~multimodal_rnn.tasks.video_caption.self_critical.VideoSelfCritical`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from multimodal_rnn.config import config_to_dict
from multimodal_rnn.datasets.video_clips import ClipDataset, collate_clips, per_frame
from multimodal_rnn.datasets.video_records import VideoRecord
from multimodal_rnn.encoders.image import build_transform
from multimodal_rnn.errors import ConfigError, InputError
from multimodal_rnn.metrics.caption import caption_metrics
from multimodal_rnn.metrics.cider import CiderD
from multimodal_rnn.tasks.common import TrainingLog, TrainingSetup, run_training
from multimodal_rnn.tasks.protocol import ProgressFactory
from multimodal_rnn.tasks.video_caption.encoder_init import copy_image_encoder
from multimodal_rnn.tasks.video_caption.frame_cache import CachedFrames, build_frame_cache
from multimodal_rnn.tasks.video_caption.models import MODELS, VideoCaptionModel
from multimodal_rnn.tasks.video_caption.predictor import VideoCaptioner
from multimodal_rnn.tasks.video_caption.self_critical import VideoSelfCritical
from multimodal_rnn.text.vocab import Vocabulary, pad_sequences, tokenize
from multimodal_rnn.training import distributed
from multimodal_rnn.training.state import seed_everything
from multimodal_rnn.training.trainer import TrainerConfig, TrainerEvent, TrainResult

VALIDATION_METRICS = ("CIDEr", "Bleu_4", "ROUGE_L")


@dataclass(frozen=True, kw_only=True)
class VideoCaptionTrainingConfig:
    """What the video caption task adds to the trainer's options.

    Attributes:
        model_name: a registered video caption model (s2vt, temporal_attention).
        model: overrides of the model's config class (vocab size and special ids are filled in).
        min_count: words seen fewer times in the training captions map to ``<unk>``.
        max_caption_length: training captions are cut to this many words.
        sampling: how training clips are sampled, "uniform" or "random" (a random frame in each
            of ``num_frames`` segments, new every epoch); validation is always uniform.
        eval_beam_size: beam of the validation captions (1 = greedy, fastest).
        eval_max_clips: validate on at most this many clips (0 = all).
        max_bad_clips: unreadable training or validation clips skipped before giving up.
        self_critical: train with SCST (start from ``init_from``); ``scst_samples`` captions per
            clip, baseline "greedy" or "mean".
        init_from: a video caption checkpoint whose weights (and vocabulary) start the run.
        encoder_from: a checkpoint of any task with an image encoder of the same architecture
            (``encoder.*`` tensors, e.g. the shipped shapes captioner) whose encoder weights
            start this model's frame encoder.
        feature_cache: a folder for the frozen encoder's frame inputs of the training and
            validation clips (``train/``, ``validation/``; needs ``encoder.trainable = False``
            and uniform sampling); built once, memory-mapped after.
    """

    model_name: str = "temporal_attention"
    model: dict[str, Any] = field(default_factory=dict)
    min_count: int = 1
    max_caption_length: int = 24
    sampling: str = "uniform"
    eval_beam_size: int = 1
    eval_max_clips: int = 0
    max_bad_clips: int = 100
    self_critical: bool = False
    scst_samples: int = 5
    scst_baseline: str = "greedy"
    init_from: str | None = None
    encoder_from: str | None = None
    feature_cache: str | None = None


def build_vocabulary(records: Sequence[VideoRecord], *, min_count: int) -> Vocabulary:
    """The vocabulary of the records' captions after COCO tokenization."""
    tokens = [tokenize(caption) for record in records for caption in record.captions]
    if not tokens:
        raise InputError("no training captions: the training clips have none")
    return Vocabulary.build(tokens, min_count=min_count)


class CaptionedClips(Dataset):
    """The items of a clip dataset (None: unreadable) with the token ids of every caption of their record."""

    def __init__(self, clips: Dataset, captions: Sequence[Sequence[list[int]]]) -> None:
        self.clips = clips
        self.captions = captions

    def __len__(self) -> int:
        return len(self.captions)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        item = self.clips[index]
        if item is not None:
            item["caption_ids"] = self.captions[index]
        return item


def collate_captioned_clips(items: Sequence[dict[str, Any] | None], *, pad_id: int) -> dict[str, Any] | None:
    """Clip items with ``caption_ids`` (at least one each) -> a clip batch (:func:`collate_clips`) plus
    ``tokens`` (C, L) (every caption of every clip, padded) and ``caption_clip`` (C,) (the clip of
    each); None when no clip of the batch could be read."""
    batch = collate_clips(items)
    if "mask" not in batch:
        return None
    kept = [item for item in items if item is not None]
    captions = [torch.tensor(ids) for item in kept for ids in item["caption_ids"]]
    batch["tokens"], _ = pad_sequences(captions, pad_id)
    batch["caption_clip"] = torch.tensor([row for row, item in enumerate(kept) for _ in item["caption_ids"]])
    return batch


def make_validation(
    records: Sequence[VideoRecord],
    vocab: Vocabulary,
    *,
    beam_size: int,
    max_bad_clips: int,
    batch_size: int = 32,
    cache: str | Path | None = None,
) -> Callable[[torch.nn.Module], dict[str, float]]:
    """``evaluate(module) -> {"CIDEr", "Bleu_4", "ROUGE_L"}`` on ``records`` (COCO-exact scores,
    uniform sampling of the model's ``num_frames``; with ``cache``, the records' frame cache built
    by :func:`~multimodal_rnn.tasks.video_caption.frame_cache.build_frame_cache`).

    ``module`` is the model, or the :class:`VideoSelfCritical` holding it. Clips that cannot be
    read are left out of the scores; when none can be, ``evaluate`` raises an InputError.
    """
    references = {r.video_id: [" ".join(tokenize(c)) for c in r.captions] for r in records if r.captions}
    if not references:
        raise InputError("no validation captions: the validation clips have none")
    if cache is None:
        records = [r for r in records if r.video_id in references]

    def evaluate(module: torch.nn.Module) -> dict[str, float]:
        model = module.model if isinstance(module, VideoSelfCritical) else module
        assert isinstance(model, VideoCaptionModel)
        captioner = VideoCaptioner(model, vocab)
        clips: Dataset
        if cache is not None:
            clips = CachedFrames(records, cache)
        else:
            clips = ClipDataset(
                records,
                num_frames=model.config.num_frames,
                transform=captioner.clip_transform,
                max_bad_clips=max_bad_clips,
            )
        candidates = caption_records(captioner, clips, beam_size=beam_size, batch_size=batch_size)
        candidates = {video_id: caption for video_id, caption in candidates.items() if video_id in references}
        if not candidates:
            raise InputError(
                f"validation read nothing: none of its {len(records)} clips could be read (e.g. {records[0].path})"
            )
        tokenized = {video_id: " ".join(tokenize(caption)) for video_id, caption in candidates.items()}
        scores = caption_metrics({i: references[i] for i in tokenized}, tokenized, meteor=False)
        return {name: float(scores[name].value) for name in VALIDATION_METRICS}  # type: ignore[union-attr]

    return evaluate


def caption_records(
    captioner: VideoCaptioner,
    clips: Dataset,
    *,
    beam_size: int,
    batch_size: int = 32,
    progress: ProgressFactory | None = None,
) -> dict[str, str]:
    """The caption of every readable clip of ``clips`` (a :class:`ClipDataset` or
    :class:`CachedFrames`) by video id, ``batch_size`` clips per decode."""
    count = len(clips)  # type: ignore[arg-type]
    batches = [range(start, min(start + batch_size, count)) for start in range(0, count, batch_size)]
    captions: dict[str, str] = {}
    iterable = progress(batches, len(batches), "captioning") if progress is not None else batches
    for indices in iterable:
        batch = collate_clips([clips[i] for i in indices])
        if "mask" not in batch:
            continue
        device = captioner.device
        inputs: dict[str, Any] = {key: batch[key].to(device) for key in ("frames", "features", "mask") if key in batch}
        results = captioner.caption_encoded(captioner.model.encode_batch(inputs), beam_size=beam_size)
        captions.update((video_id, result.caption) for video_id, result in zip(batch["video_id"], results))
    return captions


def _training_clips(
    model: VideoCaptionModel,
    train_records: Sequence[VideoRecord],
    val_records: Sequence[VideoRecord],
    config: VideoCaptionTrainingConfig,
    seed: int,
    progress: ProgressFactory | None,
) -> tuple[Dataset, Path | None]:
    """The training clips (read and transformed, or from a frame cache built now, with a bar per
    split) and the validation cache."""
    if config.feature_cache is None:
        transform = per_frame(build_transform(model.config.encoder))
        clips = ClipDataset(
            train_records,
            num_frames=model.config.num_frames,
            sampling=config.sampling,
            seed=seed,
            transform=transform,
            max_bad_clips=config.max_bad_clips,
        )
        return clips, None
    if config.sampling != "uniform":
        raise ConfigError("a feature cache fixes the sampled frames: it needs uniform sampling")
    cache = Path(config.feature_cache)
    with distributed.main_process_first():  # rank 0 builds the caches, the other processes then reuse them
        for name, records in (("train", train_records), ("validation", val_records)):
            with counting_bar(progress, len(records), f"frame cache ({name})") as advance:
                build_frame_cache(model, records, cache / name, max_bad_clips=config.max_bad_clips, progress=advance)
    return CachedFrames(train_records, cache / "train"), cache / "validation"


def video_caption_training_setup(
    train_records: Sequence[VideoRecord],
    val_records: Sequence[VideoRecord],
    config: VideoCaptionTrainingConfig,
    *,
    seed: int = 0,
    progress: ProgressFactory | None = None,
) -> TrainingSetup:
    """The model, data, validation and checkpoint header of a video caption run (seed the RNGs
    first: the initial weights depend on them); ``progress`` draws the frame cache's bars."""
    train_records = [record for record in train_records if record.captions]
    model, vocab = _initial_model(train_records, config)
    limited = val_records[: config.eval_max_clips] if config.eval_max_clips > 0 else val_records
    clips, val_cache = _training_clips(model, train_records, limited, config, seed, progress)
    evaluate = make_validation(
        limited, vocab, beam_size=config.eval_beam_size, max_bad_clips=config.max_bad_clips, cache=val_cache
    )
    extra = {"training": config_to_dict(config)}

    def next_epoch(event: TrainerEvent) -> None:
        if event.kind == "epoch_end" and isinstance(clips, ClipDataset):
            clips.set_epoch(event.epoch)

    common: dict[str, Any] = dict(
        task="video_caption",
        model_name=config.model_name,
        model=model,
        evaluate=evaluate,
        callbacks=(next_epoch,),
        vocab=vocab.to_dict(),
        extra=extra,
    )
    if config.self_critical:
        references = [[" ".join(tokenize(c)) for c in r.captions] for r in train_records]
        scst = VideoSelfCritical(
            model,
            CiderD(references),
            references,
            vocab.decode,
            num_samples=config.scst_samples,
            baseline=config.scst_baseline,
        )
        return TrainingSetup(module=scst, train_set=clips, collate=_collate_clips, **common)
    captions = [[vocab.encode(tokenize(c)[: config.max_caption_length]) for c in r.captions] for r in train_records]
    return TrainingSetup(
        train_set=CaptionedClips(clips, captions),
        collate=lambda items: collate_captioned_clips(items, pad_id=vocab.pad_id),
        **common,
    )


def train_video_captioner(
    train_records: Sequence[VideoRecord],
    val_records: Sequence[VideoRecord],
    config: VideoCaptionTrainingConfig,
    trainer_config: TrainerConfig,
    out_dir: str | Path,
    *,
    progress: ProgressFactory | None = None,
    log: TrainingLog | None = None,
    resume_from: str | Path | None = None,
) -> TrainResult:
    """Train (or fine-tune with SCST) a video captioner; checkpoints go to ``out_dir``.

    Returns the trainer's :class:`TrainResult` (best validation CIDEr-D and where it is saved).
    """
    seed_everything(trainer_config.seed)  # the initial weights depend on the seed only
    setup = video_caption_training_setup(
        train_records, val_records, config, seed=trainer_config.seed, progress=progress
    )
    return run_training(setup, trainer_config, out_dir, progress=progress, log=log, resume_from=resume_from)


@contextmanager
def counting_bar(
    progress: ProgressFactory | None, total: int, description: str
) -> Iterator[Callable[[int, int], None]]:
    """``advance(done, total)`` callbacks that move a ``progress`` bar of ``total`` steps; the bar
    is closed when the block ends."""
    bar = iter(progress(range(total), total, description)) if progress is not None else iter(())
    done = [0]

    def advance(count: int, _total: int) -> None:
        for _ in range(count - done[0]):
            next(bar, None)
        done[0] = count

    try:
        yield advance
    finally:
        for _ in bar:  # close the bar
            pass


def _collate_clips(items: list[Any]) -> dict[str, Any] | None:
    batch = collate_clips(items)
    return batch if "mask" in batch else None


def _initial_model(
    records: Sequence[VideoRecord],
    config: VideoCaptionTrainingConfig,
) -> tuple[VideoCaptionModel, Vocabulary]:
    names = MODELS.names(task="video_caption")
    if config.model_name not in names:
        raise ConfigError(f"unknown video caption model {config.model_name!r} (known: {', '.join(names)})")
    if config.init_from is not None:
        start = VideoCaptioner.from_checkpoint(config.init_from)
        return start.model.train(), start.vocab
    if config.self_critical:
        raise ConfigError("self-critical training starts from a trained model: give init_from")
    vocab = build_vocabulary(records, min_count=config.min_count)
    model_config = MODELS.config(
        config.model_name,
        {
            **config.model,
            "vocab_size": len(vocab),
            "pad_id": vocab.pad_id,
            "bos_id": vocab.bos_id,
            "eos_id": vocab.eos_id,
        },
    )
    model = MODELS.build(config.model_name, model_config, load_encoder_weights=True)
    assert isinstance(model, VideoCaptionModel)
    if config.encoder_from is not None:
        copy_image_encoder(config.encoder_from, model.encoder)
    return model, vocab
