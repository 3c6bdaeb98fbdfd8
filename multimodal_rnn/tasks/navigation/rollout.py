"""Running a navigation agent: many BabyAI environments stepped in lockstep, greedy actions.

:class:`NavigationAgent` bundles a :class:`~multimodal_rnn.tasks.navigation.models.NavigationModel` with
its instruction vocabulary and what its checkpoint says about training (level, observation mode,
training and validation seeds). :func:`run_episodes` plays one episode per seed, ``batch_size``
environments at a time: the instructions are encoded once, then each step encodes the frames of
the still-running episodes in one batch, advances their memory and takes the argmax action.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from multimodal_rnn.checkpoint import Checkpoint
from multimodal_rnn.tasks.loading import load_with_vocabulary
from multimodal_rnn.errors import CheckpointError, InputError
from multimodal_rnn.tasks.navigation import env as nav_env
from multimodal_rnn.tasks.navigation.demos import bot_path_length
from multimodal_rnn.tasks.navigation.models import MODELS, NavigationModel
from multimodal_rnn.tasks.protocol import Predictor
from multimodal_rnn.text.vocab import Vocabulary, pad_sequences

TASK = "navigation"
MAX_INSTRUCTION_LENGTH = 64


def encode_missions(vocab: Vocabulary, missions: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Missions -> (token ids (B, L) right-padded, lengths (B,)); words only, no <bos>/<eos>."""
    ids = [vocab.encode(m, max_length=MAX_INSTRUCTION_LENGTH, add_bos=False, add_eos=False) or [vocab.unk_id]
           for m in missions]
    return pad_sequences(ids, vocab.pad_id)


@dataclass
class EpisodeResult:
    """One played episode: seed, mission, success, actions taken, reward, and frames if recorded."""

    seed: int
    mission: str
    success: bool
    length: int
    reward: float
    actions: list[int] = field(default_factory=list)
    frames: list[np.ndarray] = field(default_factory=list)
    views: list[np.ndarray] = field(default_factory=list)
    directions: list[int] = field(default_factory=list)
    expert_actions: list[int] = field(default_factory=list)


class NavigationAgent(Predictor):
    """A navigation model ready to act; ``info`` is the checkpoint's ``extra`` (level, seeds, ...).

    Its device is the model's (:attr:`Predictor.device`): move the model and the agent follows.
    """

    model: NavigationModel

    def __init__(self, model: NavigationModel, vocab: Vocabulary, info: Mapping[str, Any] | None = None, *,
                 checkpoint: Checkpoint | None = None, device: str | torch.device | None = None) -> None:
        super().__init__(model, checkpoint=checkpoint, device=device)
        self.vocab = vocab
        self.info: dict[str, Any] = dict(info or {})

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> NavigationAgent:
        """Load a ``navigation`` checkpoint (model, vocabulary, training facts) onto ``device``."""
        model, ckpt, vocab = load_with_vocabulary(path, registry=MODELS, task=TASK, model_class=NavigationModel,
                                                  size_field="num_words")
        return cls(model, vocab, ckpt.extra, checkpoint=ckpt, device=device)

    @property
    def obs_mode(self) -> str:
        return self.model.config.obs_mode

    @property
    def tile_size(self) -> int:
        return int(self.info.get("tile_size", nav_env.DEFAULT_TILE_SIZE))

    def training_seed_ranges(self) -> list[tuple[int, int]]:
        """``[start, end)`` ranges of the demonstration seeds it was trained on, as recorded."""
        seeds = self.info.get("train_seeds") or []
        if len(seeds) == 2 and all(isinstance(s, int) for s in seeds):
            seeds = [seeds]  # one [start, end) pair
        try:
            return [(int(a), int(b)) for a, b in seeds]
        except (TypeError, ValueError):
            raise CheckpointError(f"train_seeds must be [start, end) pairs, got {seeds!r}") from None

    def check_held_out(self, seeds: Sequence[int]) -> None:
        """InputError if any of ``seeds`` was a training seed of this agent."""
        for start, end in self.training_seed_ranges():
            overlap = [s for s in seeds if start <= s < end]
            if overlap:
                raise InputError(f"seeds overlap the agent's training seeds [{start}, {end}) (e.g. {overlap[0]}); "
                                 "choose other seeds")


@torch.no_grad()
def run_episodes(
    agent: NavigationAgent,
    level: str,
    seeds: Sequence[int],
    *,
    batch_size: int = 100,
    record: bool = False,
    expert_labels: bool = False,
    progress: Callable[[int], None] | None = None,
) -> list[EpisodeResult]:
    """Play one greedy episode per seed on ``level``; results in the order of ``seeds``.

    Args:
        batch_size: environments stepped in lockstep.
        record: keep each episode's full-grid RGB frames (``env.render()``) for rendering.
        expert_labels: keep each step's view and direction, and ask a BabyAI bot following the
            episode what it would do there (``expert_actions``; DAgger). The bot is told the
            agent's actual actions; where it gives up (raises) the labels stop, so
            ``len(expert_actions) <= length``.
        progress: called with the number of episodes finished after each batch.
    """
    if batch_size < 1:
        raise InputError(f"batch size must be >= 1, got {batch_size}")
    model = agent.model
    was_training = model.training
    model.eval()
    envs = [nav_env.make_env(level, obs_mode=agent.obs_mode, tile_size=agent.tile_size,
                             render_mode="rgb_array" if record else None)
            for _ in range(min(batch_size, max(1, len(seeds))))]
    results: list[EpisodeResult] = []
    try:
        for start in range(0, len(seeds), batch_size):
            batch_seeds = list(seeds[start:start + batch_size])
            results.extend(_run_batch(agent, envs[: len(batch_seeds)], batch_seeds, record, expert_labels))
            if progress is not None:
                progress(len(results))
    finally:
        for env in envs:
            env.close()
        model.train(was_training)
    return results


def _run_batch(agent: NavigationAgent, envs: list[Any], seeds: list[int], record: bool,
               expert_labels: bool = False) -> list[EpisodeResult]:
    model, device = agent.model, agent.device
    observations = [nav_env.reset(env, seed) for env, seed in zip(envs, seeds)]
    missions = [str(obs["mission"]) for obs in observations]
    results = [EpisodeResult(seed, mission, False, 0, 0.0) for seed, mission in zip(seeds, missions)]
    if record:
        for env, result in zip(envs, results):
            with nav_env.quiet():
                result.frames.append(env.render())
    bots: list[Any] = [None] * len(envs)
    last_actions: list[int | None] = [None] * len(envs)
    if expert_labels:
        from minigrid.utils.baby_ai_bot import BabyAIBot

        with nav_env.quiet():
            bots = [BabyAIBot(env) for env in envs]
    tokens, lengths = encode_missions(agent.vocab, missions)
    instruction = model.encode_instruction(tokens.to(device), lengths)
    memory = model.initial_memory(len(envs))
    memory = tuple(s.to(device) for s in memory)
    active = list(range(len(envs)))
    limit = max(nav_env.max_steps(env) for env in envs)
    for _ in range(limit + 1):
        if not active:
            break
        index = torch.tensor(active, device=device)
        images = torch.from_numpy(np.stack([nav_env.image_of(observations[i]) for i in active])).to(device)
        directions = torch.tensor([int(observations[i]["direction"]) for i in active], device=device)
        logits, new_memory = model.act(images, directions, instruction.index_select(0, index),
                                       tuple(s.index_select(0, index) for s in memory))
        memory = tuple(s.index_copy(0, index, n) for s, n in zip(memory, new_memory))
        actions = logits.argmax(dim=1).tolist()
        still = []
        for i, action in zip(active, actions):
            if bots[i] is not None:
                results[i].views.append(nav_env.image_of(observations[i]))
                results[i].directions.append(int(observations[i]["direction"]))
                try:
                    with nav_env.quiet():
                        results[i].expert_actions.append(int(bots[i].replan(last_actions[i])))
                except Exception:  # noqa: BLE001 - the bot gives up on states it cannot plan from
                    results[i].views.pop()
                    results[i].directions.pop()
                    bots[i] = None
                last_actions[i] = int(action)
            obs, reward, done = nav_env.step(envs[i], action)
            observations[i] = obs
            result = results[i]
            result.length += 1
            result.actions.append(int(action))
            if record:
                with nav_env.quiet():
                    result.frames.append(envs[i].render())
            if done:
                result.reward, result.success = reward, reward > 0
            else:
                still.append(i)
        active = still
    return results


def expert_lengths(level: str, seeds: Sequence[int], *, progress: Callable[[int], None] | None = None) -> list[int | None]:
    """The bot's path length on each seed (None where it fails): the L_i of SPL."""
    env = nav_env.make_env(level)
    lengths = []
    try:
        for done, seed in enumerate(seeds, 1):
            lengths.append(bot_path_length(env, seed))
            if progress is not None and done % 100 == 0:
                progress(done)
    finally:
        env.close()
    return lengths


def evaluate_agent(agent: NavigationAgent, level: str, seeds: Sequence[int], *, batch_size: int = 100,
                   progress: Callable[[int], None] | None = None) -> tuple[dict[str, float], list[EpisodeResult]]:
    """Success rate, mean length, SPL (bot path as reference) and mean reward over ``seeds``.

    A seed the bot cannot solve keeps its agent result; for SPL its expert length is the
    agent's own (such seeds are rare: the bot solves the GoTo*, PickupLoc and PutNextLocal levels).
    The summary adds ``bot_failures``.
    """
    from multimodal_rnn.metrics.navigation import navigation_summary

    results = run_episodes(agent, level, seeds, batch_size=batch_size, progress=progress)
    experts = expert_lengths(level, seeds)
    reference = [e if e is not None else r.length for e, r in zip(experts, results)]
    summary = navigation_summary([r.success for r in results], [r.length for r in results], reference,
                                 [r.reward for r in results])
    summary["bot_failures"] = float(sum(e is None for e in experts))
    return summary, results
