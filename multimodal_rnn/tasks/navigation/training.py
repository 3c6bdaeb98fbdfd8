"""Imitation learning of a navigation agent on BabyAI bot demonstrations.

``train_navigation`` hands demonstrations (see :mod:`multimodal_rnn.tasks.navigation.demos`) to the
generic :class:`~multimodal_rnn.training.trainer.Trainer` as a
:class:`~multimodal_rnn.tasks.common.TrainingSetup`: a training item is one whole episode
(``batch_size`` counts episodes), padded and masked in :func:`collate_episodes`; the model's loss
is the cross-entropy of the bot's actions, with optional truncated backpropagation through time
(``tbptt_steps``) and an entropy bonus (``entropy_coef``). Validation plays greedy episodes on
held-out seeds (``VALIDATION_SEED_OFFSET + i``, disjoint from the training seeds and from the
``mmrnn navigate`` range) and reports the success rate, which picks ``best.safetensors``.
Every checkpoint records the level, the observation mode, the training and validation seeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from multimodal_rnn.config import config_to_dict
from multimodal_rnn.errors import ConfigError, InputError
from multimodal_rnn.tasks.common import TrainingLog, TrainingSetup, run_training
from multimodal_rnn.tasks.navigation import env as nav_env
from multimodal_rnn.tasks.navigation.demos import (
    Demonstrations,
    seed_ranges,
    union_ranges,
)
from multimodal_rnn.tasks.navigation.models import MODE_FIELDS, MODELS, NavigationModel
from multimodal_rnn.tasks.navigation.rollout import (
    TASK,
    NavigationAgent,
    encode_missions,
    evaluate_agent,
)
from multimodal_rnn.text.vocab import Vocabulary, pad_sequences, tokenize
from multimodal_rnn.training.state import seed_everything
from multimodal_rnn.training.trainer import TrainerConfig, TrainResult

VALIDATION_METRIC = "success_rate"
DATA_FIELDS = ("num_words", "pad_id", "obs_mode")
"""Model config fields the demonstrations decide (vocabulary size and padding id, observation mode)."""


@dataclass(frozen=True, kw_only=True)
class NavigationTrainingConfig:
    """What navigation adds to the trainer's options.

    Attributes:
        model_name: a registered navigation model.
        model: overrides of :class:`NavigationModelConfig`; the vocabulary size, pad id and obs mode come from
            the demonstrations (:data:`DATA_FIELDS`), and a key the model does not use is an error.
        tbptt_steps: backpropagate through at most this many frames (0 = whole episodes).
        entropy_coef: weight of the entropy bonus subtracted from the loss.
        val_episodes: held-out episodes played at each evaluation (seeds ``VALIDATION_SEED_OFFSET + i``).
        eval_batch_size: environments stepped in lockstep during validation.
        init_from: a navigation checkpoint whose weights and vocabulary start the run (its model
            config stands: overrides must agree with it).
    """

    model_name: str = "babyai_film"
    model: dict[str, Any] = field(default_factory=dict)
    tbptt_steps: int = 0
    entropy_coef: float = 0.0
    val_episodes: int = 200
    eval_batch_size: int = 100
    init_from: str | None = None

    def __post_init__(self) -> None:
        if self.tbptt_steps < 0 or self.entropy_coef < 0 or self.val_episodes < 1 or self.eval_batch_size < 1:
            raise ConfigError("NavigationTrainingConfig: tbptt_steps, entropy_coef >= 0; val_episodes, "
                              "eval_batch_size >= 1")


class EpisodeDataset(Dataset):
    """Item i = episode i of a :class:`Demonstrations` as tensors (instruction ids encoded once)."""

    def __init__(self, demos: Demonstrations, vocab: Vocabulary) -> None:
        self.demos = demos
        tokens, lengths = encode_missions(vocab, demos.missions)
        self.tokens, self.token_lengths = tokens, lengths

    def __len__(self) -> int:
        return len(self.demos)

    def __getitem__(self, index: int) -> dict[str, Any]:
        start, end = int(self.demos.offsets[index]), int(self.demos.offsets[index + 1])
        length = int(self.token_lengths[index])
        return {
            "instruction": self.tokens[index, :length],
            "images": torch.from_numpy(self.demos.images[start:end]),
            "directions": torch.from_numpy(self.demos.directions[start:end].astype(np.int64)),
            "actions": torch.from_numpy(self.demos.actions[start:end].astype(np.int64)),
        }


def collate_episodes(items: Sequence[dict[str, Any]], *, pad_id: int = 0, tbptt_steps: int = 0,
                     entropy_coef: float = 0.0) -> dict[str, Any]:
    """Pad episodes to the longest: images (B, T, H, W, 3) uint8, directions/actions (B, T),
    lengths (B,), instructions (B, L) + instruction_lengths (B,), and the two loss options."""
    lengths = torch.tensor([item["actions"].shape[0] for item in items])
    steps = int(lengths.max())
    batch = len(items)
    frame_shape = items[0]["images"].shape[1:]
    images = torch.zeros((batch, steps, *frame_shape), dtype=torch.uint8)
    directions = torch.zeros((batch, steps), dtype=torch.long)
    actions = torch.zeros((batch, steps), dtype=torch.long)
    for i, item in enumerate(items):
        n = int(lengths[i])
        images[i, :n], directions[i, :n], actions[i, :n] = item["images"], item["directions"], item["actions"]
    instructions, word_lengths = pad_sequences([item["instruction"] for item in items], pad_id)  # (B, L), (B,)
    return {"images": images, "directions": directions, "actions": actions, "lengths": lengths,
            "instructions": instructions, "instruction_lengths": word_lengths, "tbptt_steps": tbptt_steps,
            "entropy_coef": entropy_coef}


def build_mission_vocabulary(missions: Sequence[str]) -> Vocabulary:
    """Every word of the training missions (they come from a small grammar)."""
    return Vocabulary.build(tokenize(m) for m in missions)


def validation_seeds(count: int) -> list[int]:
    """The held-out seeds validation plays: ``VALIDATION_SEED_OFFSET + i`` for i < count."""
    return [nav_env.VALIDATION_SEED_OFFSET + i for i in range(count)]


def train_navigation(
    demos: Demonstrations,
    config: NavigationTrainingConfig,
    trainer_config: TrainerConfig,
    out_dir: str | Path,
    *,
    progress: Any = None,
    log: TrainingLog | None = None,
    resume_from: str | Path | None = None,
) -> TrainResult:
    """Train on ``demos`` (one level); checkpoints (best on validation success) go to ``out_dir``;
    ``log`` gets the progress lines."""
    if len(demos) == 0:
        raise InputError("no demonstrations to train on")
    if config.model_name not in MODELS.names(task=TASK):
        raise ConfigError(f"unknown navigation model {config.model_name!r} (known: {', '.join(MODELS.names(task=TASK))})")
    level, obs_mode = str(demos.meta.get("level")), str(demos.meta.get("obs_mode", "symbolic"))
    nav_env.check_level(level)
    seed_everything(trainer_config.seed)
    model, vocab, earlier_seeds = _initial_model(demos, config, obs_mode)
    val_seeds = validation_seeds(config.val_episodes)
    extra = {
        "level": level, "obs_mode": obs_mode, "tile_size": int(demos.meta.get("tile_size", nav_env.DEFAULT_TILE_SIZE)),
        "train_seeds": union_ranges(earlier_seeds + seed_ranges(demos)), "validation_seeds": [val_seeds[0], val_seeds[-1] + 1],
        "demonstrations": len(demos), "frames": demos.num_frames, "training": config_to_dict(config),
    }

    def evaluate(module: torch.nn.Module) -> dict[str, float]:
        if not isinstance(module, NavigationModel):
            raise TypeError(f"navigation validation needs a NavigationModel, got {type(module).__name__}")
        agent = NavigationAgent(module, vocab, extra)  # on the module's device, wherever the trainer put it
        summary, _ = evaluate_agent(agent, level, val_seeds, batch_size=config.eval_batch_size)
        return {key: summary[key] for key in ("success_rate", "spl", "mean_length", "mean_reward")}

    def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
        return collate_episodes(items, pad_id=vocab.pad_id, tbptt_steps=config.tbptt_steps,
                                entropy_coef=config.entropy_coef)

    setup = TrainingSetup(task=TASK, model_name=config.model_name, model=model, train_set=EpisodeDataset(demos, vocab),
                          collate=collate, evaluate=evaluate, vocab=vocab.to_dict(), extra=extra)
    return run_training(setup, trainer_config, out_dir, progress=progress, log=log, resume_from=resume_from)


def _initial_model(demos: Demonstrations, config: NavigationTrainingConfig,
                   obs_mode: str) -> tuple[NavigationModel, Vocabulary, list[list[int]]]:
    """The model to train, its vocabulary, and the seed ranges it has already been trained on."""
    if config.init_from is not None:
        start = NavigationAgent.from_checkpoint(config.init_from)
        assert start.checkpoint is not None
        if start.checkpoint.model_name != config.model_name or start.obs_mode != obs_mode:
            raise ConfigError(f"{config.init_from}: holds a {start.checkpoint.model_name!r} model on {start.obs_mode} "
                              f"observations, not {config.model_name!r} on {obs_mode}")
        held = start.model.config
        wanted = MODELS.config(config.model_name, {**config_to_dict(held), **_checked_overrides(config, obs_mode)},
                               where=f"{config.model_name} model")
        changed = [key for key in config.model if getattr(wanted, key) != getattr(held, key)]
        if changed:
            raise ConfigError(f"{config.init_from}: its {config.model_name} model differs in {', '.join(changed)} "
                              "from the overrides; drop them to fine-tune it")
        missing = sorted({w for m in demos.missions for w in tokenize(m)} - set(start.vocab.tokens))
        if missing:
            raise ConfigError(f"{config.init_from}: its vocabulary lacks mission words {missing[:5]}")
        return start.model.train(), start.vocab, [list(r) for r in start.training_seed_ranges()]
    vocab = build_mission_vocabulary(demos.missions)
    model_config = MODELS.config(config.model_name, {
        **_checked_overrides(config, obs_mode), "num_words": len(vocab), "pad_id": vocab.pad_id, "obs_mode": obs_mode,
    }, where=f"{config.model_name} model")
    model = MODELS.build(config.model_name, model_config)
    assert isinstance(model, NavigationModel)
    return model, vocab, []


def _checked_overrides(config: NavigationTrainingConfig, obs_mode: str) -> dict[str, Any]:
    """``config.model`` once no key is one the demonstrations set or the observation mode leaves unused.

    Unknown keys are refused next, by the model's config class.
    """
    name = config.model_name
    for key in config.model:
        if key in DATA_FIELDS:
            raise ConfigError(f"{name} model: {key} is set from the demonstrations, not by an override")
        for mode, fields in MODE_FIELDS.items():
            if key in fields and mode != obs_mode:
                raise ConfigError(f"{name} model: {key} is used with {mode} observations only; "
                                  f"these demonstrations are {obs_mode}")
    return dict(config.model)
