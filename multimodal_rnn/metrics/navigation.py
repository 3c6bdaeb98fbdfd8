"""Navigation metrics as pure functions over plain Python data (docs/formats.md, Navigation).

* success rate: fraction of episodes that reach the goal;
* mean episode length: actions taken per episode (successful or not);
* SPL (success weighted by path length, Anderson et al. 2018):
  ``mean_i S_i * L_i / max(P_i, L_i)`` with S_i in {0, 1}, L_i the expert's (the BabyAI bot's)
  path length on the same seed and P_i the agent's, both counted in actions.
"""

from __future__ import annotations

from collections.abc import Sequence

from multimodal_rnn.errors import InputError


def _check(name: str, values: Sequence[object], count: int) -> None:
    if len(values) != count:
        raise InputError(f"{name} has {len(values)} values for {count} episodes")


def success_rate(successes: Sequence[bool]) -> float:
    """Fraction of successful episodes in [0, 1]; InputError on an empty list."""
    if not successes:
        raise InputError("no episodes to score")
    return sum(1 for s in successes if s) / len(successes)


def mean_length(lengths: Sequence[int]) -> float:
    """Mean episode length in actions; InputError on an empty list."""
    if not lengths:
        raise InputError("no episodes to score")
    return sum(lengths) / len(lengths)


def spl_terms(successes: Sequence[bool], agent_lengths: Sequence[int], expert_lengths: Sequence[int]) -> list[float]:
    """Per-episode ``S_i * L_i / max(P_i, L_i)`` (0 for a failure).

    Raises:
        InputError: lists of different lengths, or a successful episode whose lengths are not positive.
    """
    _check("agent_lengths", agent_lengths, len(successes))
    _check("expert_lengths", expert_lengths, len(successes))
    terms = []
    for success, agent, expert in zip(successes, agent_lengths, expert_lengths):
        if not success:
            terms.append(0.0)
            continue
        if agent < 1 or expert < 1:
            raise InputError(f"path lengths of a successful episode must be >= 1, got agent {agent}, expert {expert}")
        terms.append(expert / max(agent, expert))
    return terms


def spl(successes: Sequence[bool], agent_lengths: Sequence[int], expert_lengths: Sequence[int]) -> float:
    """SPL = mean over episodes of ``S_i * L_i / max(P_i, L_i)``; see :func:`spl_terms`."""
    if not successes:
        raise InputError("no episodes to score")
    terms = spl_terms(successes, agent_lengths, expert_lengths)
    return sum(terms) / len(terms)


def navigation_summary(successes: Sequence[bool], agent_lengths: Sequence[int], expert_lengths: Sequence[int],
                       rewards: Sequence[float]) -> dict[str, float]:
    """``episodes``, ``success_rate``, ``mean_length``, ``spl`` and ``mean_reward`` of a set of episodes."""
    _check("rewards", rewards, len(successes))
    _check("agent_lengths", agent_lengths, len(successes))
    return {
        "episodes": float(len(successes)),
        "success_rate": success_rate(successes),
        "mean_length": mean_length(agent_lengths),
        "spl": spl(successes, agent_lengths, expert_lengths),
        "mean_reward": sum(rewards) / len(rewards),
    }
