"""On-policy demonstrations (DAgger, Ross et al. 2011): the agent acts, the BabyAI bot labels.

Imitation alone trains on the states the bot visits; once the agent strays it meets states it
never saw and errors compound (it wanders until the step limit). Here the agent plays greedy
episodes and, at every state it reaches, the bot (told the agent's actual actions, so it
replans from there) says what it would do. Training on these labels together with the bot's own
demonstrations teaches the agent to recover. The result is an ordinary
:class:`~multimodal_rnn.tasks.navigation.demos.Demonstrations` whose ``actions`` are the bot's labels.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from multimodal_rnn.errors import InputError
from multimodal_rnn.tasks.navigation import env as nav_env
from multimodal_rnn.tasks.navigation.demos import Demonstrations, Episode, from_episodes
from multimodal_rnn.tasks.navigation.rollout import NavigationAgent, run_episodes


def agent_demonstrations(
    agent: NavigationAgent,
    level: str,
    episodes: int,
    *,
    seed: int,
    batch_size: int = 100,
    progress: Callable[[int, int], None] | None = None,
) -> Demonstrations:
    """Agent episodes on seeds ``[seed, seed + episodes)`` labeled by the bot.

    Seeds must be training seeds (below ``VALIDATION_SEED_OFFSET``) and not ones the agent was
    trained on. Episodes with no labeled step are dropped (``meta["failed_seeds"]``);
    ``meta["agent_success_rate"]`` is how often the agent itself succeeded.
    """
    if episodes < 1:
        raise InputError(f"need episodes >= 1, got {episodes}")
    if seed < 0 or seed + episodes > nav_env.VALIDATION_SEED_OFFSET:
        raise InputError(f"training seeds must lie in [0, {nav_env.VALIDATION_SEED_OFFSET}), got [{seed}, {seed + episodes})")
    seeds = list(range(seed, seed + episodes))
    agent.check_held_out(seeds)
    results = run_episodes(agent, level, seeds, batch_size=batch_size, expert_labels=True,
                           progress=None if progress is None else (lambda done: progress(done, episodes)))
    kept, failed = [], []
    for result in results:
        if not result.expert_actions:
            failed.append(result.seed)
            continue
        kept.append(Episode(np.stack(result.views), np.array(result.directions, np.uint8),
                            np.array(result.expert_actions, np.uint8), result.mission, result.seed, result.reward))
    import minigrid

    meta = {
        "format": "multimodal_rnn.babyai_demos", "version": 1, "level": level, "obs_mode": agent.obs_mode,
        "tile_size": agent.tile_size, "image_shape": list(nav_env.observation_shape(agent.obs_mode, agent.tile_size)),
        "seed_start": seed, "episodes_tried": episodes, "failed_seeds": failed, "policy": "agent",
        "agent_success_rate": sum(r.success for r in results) / len(results),
        "minigrid_version": getattr(minigrid, "__version__", "unknown"),
    }
    return from_episodes(kept, meta)
