"""Expert demonstrations from the BabyAI bot, stored compactly in one ``.npz`` file.

File layout (``numpy.savez_compressed``; loaded with ``allow_pickle=False``, nothing is unpickled):

* ``images``: uint8 (F, H, W, 3), every episode's observations concatenated (F frames in all);
  H = W = 7 for ``symbolic`` observations, 7 * tile_size for ``pixels``;
* ``directions``: uint8 (F,) the agent's direction 0..3 at each frame;
* ``actions``: uint8 (F,) the bot's action at each frame;
* ``offsets``: int64 (E + 1,), episode i is frames ``offsets[i]:offsets[i + 1]``;
* ``missions``: unicode (E,), ``seeds``: int64 (E,), ``rewards``: float32 (E,);
* ``meta``: a JSON string (0-d array): format, version, level, obs_mode, tile_size, the seed range
  tried ``[seed_start, seed_start + episodes_tried)``, the failed seeds, the minigrid version.

Seeds the bot fails on (no positive reward, or the bot raising) are counted and dropped.
Generation splits the seed range into contiguous chunks run by worker processes; the result is
identical for any number of workers.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from multimodal_rnn.errors import DataFormatError, InputError
from multimodal_rnn.files import atomic_write, check_input_file
from multimodal_rnn.tasks.navigation import env as nav_env

FORMAT_NAME = "multimodal_rnn.babyai_demos"
FORMAT_VERSION = 1
_ARRAYS = ("images", "directions", "actions", "offsets", "missions", "seeds", "rewards", "meta")


@dataclass
class Episode:
    """One bot episode: images (T, H, W, 3) uint8, directions (T,), actions (T,), its mission, seed, reward."""

    images: np.ndarray
    directions: np.ndarray
    actions: np.ndarray
    mission: str
    seed: int
    reward: float

    def __len__(self) -> int:
        return int(self.actions.shape[0])


@dataclass
class Demonstrations:
    """A set of episodes, frames concatenated; see the module docstring for the arrays."""

    images: np.ndarray
    directions: np.ndarray
    actions: np.ndarray
    offsets: np.ndarray
    missions: list[str]
    seeds: np.ndarray
    rewards: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.missions)

    @property
    def lengths(self) -> np.ndarray:
        """(E,) frames per episode."""
        return np.diff(self.offsets)

    @property
    def num_frames(self) -> int:
        return int(self.offsets[-1])

    def episode(self, index: int) -> Episode:
        """Episode ``index`` (views into the concatenated arrays)."""
        start, end = int(self.offsets[index]), int(self.offsets[index + 1])
        return Episode(self.images[start:end], self.directions[start:end], self.actions[start:end],
                       self.missions[index], int(self.seeds[index]), float(self.rewards[index]))

    def subset(self, indices: Sequence[int]) -> Demonstrations:
        """The episodes ``indices`` (in that order) as a new set with the same meta."""
        return from_episodes([self.episode(i) for i in indices], dict(self.meta))


def from_episodes(episodes: Sequence[Episode], meta: dict[str, Any]) -> Demonstrations:
    """Concatenate episodes into a :class:`Demonstrations` (an empty list gives empty arrays)."""
    shape = tuple(meta.get("image_shape", (nav_env.VIEW_SIZE, nav_env.VIEW_SIZE, 3)))
    lengths = [len(e) for e in episodes]
    offsets = np.zeros(len(episodes) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(lengths)
    cat = (lambda parts, empty: np.concatenate(parts) if parts else empty)
    return Demonstrations(
        images=cat([e.images for e in episodes], np.zeros((0, *shape), np.uint8)).astype(np.uint8, copy=False),
        directions=cat([e.directions for e in episodes], np.zeros(0, np.uint8)).astype(np.uint8, copy=False),
        actions=cat([e.actions for e in episodes], np.zeros(0, np.uint8)).astype(np.uint8, copy=False),
        offsets=offsets,
        missions=[e.mission for e in episodes],
        seeds=np.array([e.seed for e in episodes], dtype=np.int64),
        rewards=np.array([e.reward for e in episodes], dtype=np.float32),
        meta=meta,
    )


def seed_ranges(demos: Demonstrations) -> list[list[int]]:
    """The ``[start, end)`` seed ranges a set was made from (several after :func:`concatenate`)."""
    if "seed_ranges" in demos.meta:
        return [[int(a), int(b)] for a, b in demos.meta["seed_ranges"]]
    if not len(demos):
        return []
    start = int(demos.meta.get("seed_start", int(demos.seeds.min())))
    return [[start, start + int(demos.meta.get("episodes_tried", int(demos.seeds.max()) + 1 - start))]]


def union_ranges(ranges: Sequence[Sequence[int]]) -> list[list[int]]:
    """Sorted union of ``[start, end)`` ranges, overlapping or touching ones merged."""
    merged: list[list[int]] = []
    for start, end in sorted((int(a), int(b)) for a, b in ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def concatenate(sets: Sequence[Demonstrations]) -> Demonstrations:
    """One set of the episodes of ``sets`` (same level and observations); meta lists every seed range.

    Raises:
        InputError: sets of different levels, observation modes or view sizes, or repeated seeds.
    """
    if not sets:
        raise InputError("no demonstrations to concatenate")
    first = sets[0].meta
    for other in sets[1:]:
        for key in ("level", "obs_mode", "image_shape"):
            if other.meta.get(key) != first.get(key):
                raise InputError(f"demonstrations differ in {key}: {first.get(key)!r} vs {other.meta.get(key)!r}")
    if len(sets) == 1:
        return sets[0]
    ranges = [r for demos in sets for r in seed_ranges(demos)]
    ordered = sorted(ranges)
    if any(a[1] > b[0] for a, b in zip(ordered, ordered[1:])):
        raise InputError(f"demonstration seed ranges overlap: {ordered}")
    meta = {**first, "seed_ranges": ranges, "episodes_tried": sum(b - a for a, b in ranges),
            "failed_seeds": [s for demos in sets for s in demos.meta.get("failed_seeds", [])],
            "parts": [{k: v for k, v in demos.meta.items() if k != "failed_seeds"} for demos in sets]}
    meta.pop("seed_start", None)
    return from_episodes([demos.episode(i) for demos in sets for i in range(len(demos))], meta)


def bot_episode(env: Any, seed: int) -> Episode | None:
    """Run the BabyAI bot on ``env`` reset with ``seed``; None when it fails (no success, or the bot errs).

    Each frame is the observation the bot acted on; the episode ends on the environment's
    termination or truncation (the level's step limit).
    """
    from minigrid.utils.baby_ai_bot import BabyAIBot

    obs = nav_env.reset(env, seed)
    images, directions, actions = [], [], []
    reward, last_action, done = 0.0, None, False
    try:
        with nav_env.quiet():
            bot = BabyAIBot(env)
        while not done:
            with nav_env.quiet():
                action = int(bot.replan(last_action))
            images.append(nav_env.image_of(obs))
            directions.append(int(obs["direction"]))
            actions.append(action)
            obs, reward, done = nav_env.step(env, action)
            last_action = action
    except Exception:  # noqa: BLE001 - the bot gives up by raising on levels it cannot solve
        return None
    if reward <= 0:
        return None
    return Episode(np.stack(images), np.array(directions, np.uint8), np.array(actions, np.uint8),
                   str(obs["mission"]), int(seed), float(reward))


def bot_path_length(env: Any, seed: int) -> int | None:
    """Actions the bot needs on ``seed`` (the expert path length L of SPL); None when it fails."""
    episode = bot_episode(env, seed)
    return None if episode is None else len(episode)


def _run_chunk(job: tuple[str, str, int, int, int]) -> tuple[list[Episode], list[int]]:
    level, obs_mode, tile_size, start, count = job
    env = nav_env.make_env(level, obs_mode=obs_mode, tile_size=tile_size)
    episodes, failed = [], []
    for seed in range(start, start + count):
        episode = bot_episode(env, seed)
        if episode is None:
            failed.append(seed)
        else:
            episodes.append(episode)
    env.close()
    return episodes, failed


def generate_demonstrations(
    level: str,
    episodes: int,
    *,
    seed: int = 0,
    workers: int = 1,
    obs_mode: str = "symbolic",
    tile_size: int = nav_env.DEFAULT_TILE_SIZE,
    chunk_size: int = 100,
    progress: Callable[[int, int], None] | None = None,
) -> Demonstrations:
    """Bot demonstrations of ``level`` on seeds ``[seed, seed + episodes)``.

    Args:
        episodes: seeds tried; the failures are dropped (``meta["failed_seeds"]``).
        workers: processes (1 = in this process); chunks of ``chunk_size`` seeds are shared out.
        progress: called as ``progress(seeds_done, episodes)`` after each chunk.

    Raises:
        InputError: a bad level, observation mode or count.
    """
    if episodes < 1 or workers < 1 or chunk_size < 1:
        raise InputError(f"need episodes, workers and chunk size >= 1, got {episodes}, {workers}, {chunk_size}")
    if seed < 0 or seed + episodes > nav_env.VALIDATION_SEED_OFFSET:
        raise InputError(f"training seeds must lie in [0, {nav_env.VALIDATION_SEED_OFFSET}) (the held-out ranges start "
                         f"there), got [{seed}, {seed + episodes})")
    nav_env.make_env(level, obs_mode=obs_mode, tile_size=tile_size).close()  # validates level and mode
    jobs = [(level, obs_mode, tile_size, start, min(chunk_size, seed + episodes - start))
            for start in range(seed, seed + episodes, chunk_size)]
    results: list[tuple[list[Episode], list[int]]] = []
    done = 0
    if workers == 1 or len(jobs) == 1:
        mapped: Any = map(_run_chunk, jobs)
        pool = None
    else:
        pool = multiprocessing.get_context("fork").Pool(min(workers, len(jobs)))
        mapped = pool.imap(_run_chunk, jobs)
    try:
        for job, result in zip(jobs, mapped):
            results.append(result)
            done += job[4]
            if progress is not None:
                progress(done, episodes)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    import minigrid

    meta = {
        "format": FORMAT_NAME, "version": FORMAT_VERSION, "level": level, "obs_mode": obs_mode,
        "tile_size": tile_size, "image_shape": list(nav_env.observation_shape(obs_mode, tile_size)),
        "seed_start": seed, "episodes_tried": episodes,
        "failed_seeds": [s for _, failed in results for s in failed],
        "minigrid_version": getattr(minigrid, "__version__", "unknown"),
    }
    return from_episodes([e for chunk, _ in results for e in chunk], meta)


def save_demonstrations(path: str | os.PathLike[str], demos: Demonstrations) -> None:
    """Write ``demos`` to ``path`` (.npz, compressed, atomic)."""
    arrays = {
        "images": demos.images, "directions": demos.directions, "actions": demos.actions,
        "offsets": demos.offsets, "missions": np.array(demos.missions, dtype=np.str_),
        "seeds": demos.seeds, "rewards": demos.rewards, "meta": np.array(json.dumps(demos.meta)),
    }

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:  # a file object: savez would append ".npz" to a name
            np.savez_compressed(handle, **arrays)

    atomic_write(Path(path), write)


def load_demonstrations(path: str | os.PathLike[str]) -> Demonstrations:
    """Read a file written by :func:`save_demonstrations`.

    Raises:
        DataFormatError: missing file, not an npz of this format, or inconsistent arrays.
    """
    path = Path(path)
    if not path.exists():
        raise DataFormatError(f"{path}: demonstrations file not found")
    check_input_file(path, what="demonstrations file", error=DataFormatError)
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [name for name in _ARRAYS if name not in data.files]
            if missing:
                raise DataFormatError(f"{path}: not a BabyAI demonstrations file (missing {', '.join(missing)})")
            arrays = {name: data[name] for name in _ARRAYS}
    except DataFormatError:
        raise
    except Exception as exc:  # noqa: BLE001 - zip/npy errors of a corrupt file
        raise DataFormatError(f"{path}: not a readable .npz demonstrations file ({type(exc).__name__}: {exc})") from None
    try:
        meta = json.loads(str(arrays["meta"]))
    except json.JSONDecodeError:
        raise DataFormatError(f"{path}: corrupt metadata") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise DataFormatError(f"{path}: not a {FORMAT_NAME} file")
    demos = Demonstrations(arrays["images"], arrays["directions"], arrays["actions"], arrays["offsets"].astype(np.int64),
                           [str(m) for m in arrays["missions"]], arrays["seeds"].astype(np.int64),
                           arrays["rewards"].astype(np.float32), meta)
    frames = demos.images.shape[0]
    if (demos.offsets.ndim != 1 or len(demos.offsets) != len(demos.missions) + 1 or demos.offsets[0] != 0
            or demos.offsets[-1] != frames or np.any(np.diff(demos.offsets) < 1)
            or demos.directions.shape != (frames,) or demos.actions.shape != (frames,)
            or len(demos.seeds) != len(demos.missions) or demos.images.ndim != 4 or demos.images.shape[-1] != 3):
        raise DataFormatError(f"{path}: inconsistent arrays (offsets, frames and episodes do not agree)")
    if frames and int(demos.actions.max()) >= nav_env.NUM_ACTIONS:
        raise DataFormatError(f"{path}: action ids must be < {nav_env.NUM_ACTIONS}")
    return demos
